"""Post-layer-norm transformer decoder block of the Image Transformer (paper eq. 1 and 2)."""
import keras

from imgtf.layers.attention import MaskedSelfAttention


@keras.saving.register_keras_serializable("imgtf")
class DecoderBlock(keras.layers.Layer):
    """x -> LN(x + dropout(attention(x))) -> LN(. + dropout(W2 relu(W1 .)))."""

    def __init__(self, hidden_size, filter_size, num_heads, attention_type="local_1d", query_block_length=256,
                 memory_length=512, key_channels=0, dropout=0.0, attention_dropout=0.0, relu_dropout=0.0,
                 **kwargs):
        super().__init__(**kwargs)
        self.config_ = dict(hidden_size=hidden_size, filter_size=filter_size, num_heads=num_heads,
                            attention_type=attention_type, query_block_length=query_block_length,
                            memory_length=memory_length, key_channels=key_channels, dropout=dropout,
                            attention_dropout=attention_dropout, relu_dropout=relu_dropout)
        self.attention = MaskedSelfAttention(
            hidden_size, num_heads, attention_type, query_block_length, memory_length, key_channels,
            attention_dropout, name="self_attention")
        self.attention_dropout_layer = keras.layers.Dropout(dropout)
        self.attention_norm = keras.layers.LayerNormalization(epsilon=1e-6, name="attention_norm")
        self.ffn_in = keras.layers.Dense(filter_size, activation="relu", name="ffn_in")
        self.ffn_dropout = keras.layers.Dropout(relu_dropout)
        self.ffn_out = keras.layers.Dense(hidden_size, name="ffn_out")
        self.ffn_residual_dropout = keras.layers.Dropout(dropout)
        self.ffn_norm = keras.layers.LayerNormalization(epsilon=1e-6, name="ffn_norm")

    def build(self, input_shape):
        d = input_shape[-1]
        self.attention.build(input_shape)
        self.attention_norm.build(input_shape)
        self.ffn_in.build((None, d))
        self.ffn_out.build((None, self.config_["filter_size"]))
        self.ffn_norm.build(input_shape)

    def call(self, x, training=False):
        y = self.attention(x, training=training)
        x = self.attention_norm(x + self.attention_dropout_layer(y, training=training))
        y = self.ffn_out(self.ffn_dropout(self.ffn_in(x), training=training))
        return self.ffn_norm(x + self.ffn_residual_dropout(y, training=training))

    def get_config(self):
        return {**super().get_config(), **self.config_}
