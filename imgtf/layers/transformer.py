"""Post-layer-norm transformer blocks of the Image Transformer (paper eq. 1 and 2).

Every sub-layer is x -> LayerNorm(x + dropout(sublayer(x))). A decoder block is masked self-attention
[+ encoder-decoder attention] + feed-forward; an encoder block is unmasked self-attention + feed-forward.
"""
import keras

from imgtf.layers.attention import MaskedSelfAttention, UnmaskedAttention, kernel_initializer
from imgtf.layers.attention_spec import AttentionSpec


class _PostNormBlock(keras.layers.Layer):
    """Shared pieces: the ReLU feed-forward network and the post-LN residual wrapper."""

    def __init__(self, hidden_size, filter_size, dropout=0.0, relu_dropout=0.0, initializer_gain=1.0, **kwargs):
        super().__init__(**kwargs)
        self.hidden_size, self.filter_size = hidden_size, filter_size
        self.dropout_rate, self.relu_dropout = dropout, relu_dropout
        self.initializer_gain = float(initializer_gain)  # see imgtf.layers.attention.kernel_initializer
        self.ffn_in = keras.layers.Dense(filter_size, activation="relu", name="ffn_in",
                                         kernel_initializer=kernel_initializer(self.initializer_gain))
        self.ffn_relu_dropout = keras.layers.Dropout(relu_dropout)
        self.ffn_out = keras.layers.Dense(hidden_size, name="ffn_out",
                                          kernel_initializer=kernel_initializer(self.initializer_gain))
        self.residual_dropout = keras.layers.Dropout(dropout)
        self.self_attention_norm = keras.layers.LayerNormalization(epsilon=1e-6, name="self_attention_norm")
        self.ffn_norm = keras.layers.LayerNormalization(epsilon=1e-6, name="ffn_norm")

    def build_ffn(self, input_shape):
        self.ffn_in.build((None, self.hidden_size))
        self.ffn_out.build((None, self.filter_size))
        self.ffn_norm.build(input_shape)

    def residual(self, norm, x, y, training):
        return norm(x + self.residual_dropout(y, training=training))

    def feed_forward(self, x, training):
        y = self.ffn_out(self.ffn_relu_dropout(self.ffn_in(x), training=training))
        return self.residual(self.ffn_norm, x, y, training)

    def get_config(self):
        return {**super().get_config(), "hidden_size": self.hidden_size, "filter_size": self.filter_size,
                "dropout": self.dropout_rate, "relu_dropout": self.relu_dropout,
                "initializer_gain": self.initializer_gain}


@keras.saving.register_keras_serializable("imgtf")
class DecoderBlock(_PostNormBlock):
    """Masked self-attention over the decoder's geometry [+ attention to an encoder's output] + FFN; `attention` is
    the AttentionSpec of both attentions, `grid` the (rows, columns) of generation units."""

    def __init__(self, hidden_size, filter_size, attention=None, grid=(32, 96), dropout=0.0, relu_dropout=0.0,
                 cross_attention=False, initializer_gain=1.0, **kwargs):
        super().__init__(hidden_size, filter_size, dropout, relu_dropout, initializer_gain, **kwargs)
        self.attention = AttentionSpec.coerce(attention or AttentionSpec())
        self.grid, self.cross_attention = tuple(grid), cross_attention
        self.self_attention = MaskedSelfAttention(hidden_size, self.attention, self.grid, self.initializer_gain,
                                                  name="self_attention")
        self.encdec_attention = self.encdec_norm = None
        if cross_attention:
            self.encdec_attention = UnmaskedAttention(hidden_size, self.attention.num_heads,
                                                      self.attention.key_channels, self.attention.dropout,
                                                      self.initializer_gain, name="encdec_attention")
            self.encdec_norm = keras.layers.LayerNormalization(epsilon=1e-6, name="encdec_attention_norm")

    def build(self, input_shape):
        self.self_attention.build(input_shape)
        self.self_attention_norm.build(input_shape)
        if self.encdec_attention is not None:
            self.encdec_attention.build(input_shape)
            self.encdec_norm.build(input_shape)
        self.build_ffn(input_shape)

    def call(self, x, encoder_output=None, encoder_allowed=None, training=False):
        """x [B, S, d] in slot layout; encoder_allowed [S, N] (optional): the encoder positions each slot may see."""
        x = self.residual(self.self_attention_norm, x, self.self_attention(x, training=training), training)
        if self.encdec_attention is not None:
            if encoder_output is None:
                raise ValueError("this decoder block attends to an encoder: pass encoder_output.")
            y = self.encdec_attention(x, encoder_output, encoder_allowed, training=training)
            x = self.residual(self.encdec_norm, x, y, training)
        return self.feed_forward(x, training)

    def empty_cache(self, batch, encoder_output=None):
        cache = {"self": self.self_attention.empty_cache(batch)}
        if self.encdec_attention is not None:
            cache["encoder"] = self.encdec_attention.memory_cache(encoder_output)
        return cache

    def step(self, x, cache, slot, block, offset, encoder_allowed=None):
        """The block applied to one unit, x [B, d], with cached keys/values -> ([B, d], cache); encoder_allowed [N]:
        the encoder positions this unit may see (the row of the full form's mask for its slot)."""
        y, self_cache = self.self_attention.step(x, cache["self"], slot, block, offset)
        x = self.self_attention_norm(x + y)
        if self.encdec_attention is not None:
            x = self.encdec_norm(x + self.encdec_attention.step(x, cache["encoder"], encoder_allowed))
        x = self.ffn_norm(x + self.ffn_out(self.ffn_in(x)))
        return x, {**cache, "self": self_cache}

    def get_config(self):
        return {**super().get_config(), "attention": self.attention.get_config(), "grid": list(self.grid),
                "cross_attention": self.cross_attention}


@keras.saving.register_keras_serializable("imgtf")
class EncoderBlock(_PostNormBlock):
    """Unmasked self-attention over all positions + FFN (super-resolution encoders)."""

    def __init__(self, hidden_size, filter_size, attention=None, dropout=0.0, relu_dropout=0.0, initializer_gain=1.0,
                 **kwargs):
        super().__init__(hidden_size, filter_size, dropout, relu_dropout, initializer_gain, **kwargs)
        self.attention = AttentionSpec.coerce(attention or AttentionSpec())  # num_heads, key_channels, dropout
        self.self_attention = UnmaskedAttention(hidden_size, self.attention.num_heads, self.attention.key_channels,
                                                self.attention.dropout, self.initializer_gain, name="self_attention")

    def build(self, input_shape):
        self.self_attention.build(input_shape)
        self.self_attention_norm.build(input_shape)
        self.build_ffn(input_shape)

    def call(self, x, training=False):
        x = self.residual(self.self_attention_norm, x, self.self_attention(x, training=training), training)
        return self.feed_forward(x, training)

    def get_config(self):
        return {**super().get_config(), "attention": self.attention.get_config()}
