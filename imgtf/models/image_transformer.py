"""Image Transformer (Parmar et al., ICML 2018), decoder-only: p(x) = prod_t p(x_t | x_<t) over sub-pixels.

Generation order: raster over rows, then columns, then the 3 channels of a pixel (sequence length H*W*3).
  bottom: channel-specific intensity embeddings -> [H, W*3, d]; right shift by one sub-pixel;
          coordinate encodings (d/2 rows, d/2 column-and-channel) added once.
  body:   post-LN decoder blocks with causally masked self-attention (imgtf.layers.attention).
  top:    one 256-way softmax over intensities per sub-pixel, its weights shared across channels.
"""
import keras
from keras import ops

from imgtf.hparams.hparams import HParams
from imgtf.layers.attention import ATTENTION_TYPES
from imgtf.layers.embeddings import ChannelEmbedding, CoordinateEncoding
from imgtf.layers.transformer import DecoderBlock
from imgtf.likelihoods import get_likelihood
from imgtf.registry import register_model


@register_model
@keras.saving.register_keras_serializable("imgtf")
class ImageTransformer(keras.Model):
    """Decoder-only Image Transformer: 1D local or global masked self-attention, categorical likelihood."""

    def __init__(self, hparams, problem_info, **kwargs):
        super().__init__(**kwargs)
        hp = hparams.values() if isinstance(hparams, HParams) else dict(hparams)
        self.hparams, self.problem_info = hp, dict(problem_info)
        if hp["attention_type"] not in ATTENTION_TYPES:
            raise ValueError(
                f"hparam attention_type={hp['attention_type']!r} is not supported by image_transformer; "
                f"choose one of {', '.join(ATTENTION_TYPES)}.")
        self.image_shape = tuple(self.problem_info["image_shape"])
        self.likelihood = get_likelihood(hp["likelihood"])
        d = hp["hidden_size"]
        self.embed = ChannelEmbedding(d, channels=self.image_shape[-1], name="channel_embedding")
        self.positions = CoordinateEncoding(hp["position_encoding"], name="coordinates")
        self.blocks = [
            DecoderBlock(d, hp["filter_size"], hp["num_heads"], hp["attention_type"], hp["query_block_length"],
                         hp["memory_length"], hp["attention_key_channels"], hp["dropout"],
                         hp["attention_dropout"], hp["relu_dropout"], name=f"decoder_{i}")
            for i in range(hp["num_decoder_layers"])
        ]
        self.input_dropout = keras.layers.Dropout(hp["dropout"])
        self.logits_layer = keras.layers.Dense(self.likelihood.params_per_subpixel, name="logits")

    def decoder_inputs(self, targets):
        """Embedded, right-shifted sub-pixels plus coordinates: [B, L, d], L = H*W*3."""
        x = self.embed(targets)  # [B, H, W*3, d]
        shape = ops.shape(x)
        seq = ops.reshape(x, (shape[0], -1, x.shape[-1]))
        seq = ops.pad(seq[:, :-1], [[0, 0], [1, 0], [0, 0]])  # position t sees sub-pixel t-1
        grid = ops.reshape(seq, (shape[0], x.shape[1], x.shape[2], x.shape[3]))
        return ops.reshape(self.positions(grid), (shape[0], -1, x.shape[-1]))

    def call(self, features, training=False):
        """features["targets"] uint8 [B, H, W, 3] -> logits [B, H, W, 3, 256] (float32)."""
        targets = features["targets"] if isinstance(features, dict) else features
        h, w, c = self.image_shape
        targets = ops.reshape(targets, (-1, h, w, c))  # static spatial shape, whatever the caller traced
        x = self.input_dropout(self.decoder_inputs(targets), training=training)
        for block in self.blocks:
            x = block(x, training=training)
        logits = ops.cast(self.logits_layer(x), "float32")
        return ops.reshape(logits, (-1, h, w, c, self.likelihood.params_per_subpixel))

    def log_prob(self, features, training=False):
        """Log-likelihood in nats of every sub-pixel of features["targets"]: [B, H, W, 3]."""
        return self.likelihood.log_prob(self(features, training=training), features["targets"])

    def get_config(self):
        return {**super().get_config(), "hparams": self.hparams, "problem_info": self.problem_info}
