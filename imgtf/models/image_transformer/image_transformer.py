"""Image Transformer (Parmar et al., ICML 2018): p(x) = prod_t p(x_t | x_<t, conditioning).

Generation units: sub-pixels on an [H, W*3] grid (categorical likelihood) or pixels on [H, W] (DMOL).
Their order is the attention Geometry's (raster for 1D local and global; block-raster for 2D local), so the
factorisation the model is trained on is the order its sampler uses.
  bottom: unit embeddings (channel-specific intensity embeddings, or a 1x3 stride-3 convolution of ordinal
          values for DMOL), right-shifted by one unit in generation order; coordinate encodings of the unit
          being predicted (d/2 rows, d/2 columns) and, for class-conditional models, a class embedding.
  body:   post-LN decoder blocks: masked local/global self-attention [+ encoder-decoder attention].
  top:    the likelihood's parameters per unit; categorical weights are shared across channels.
`img2img_transformer` adds an encoder of unmasked self-attention over the low-resolution `inputs`.

Every learned input vector (unit embeddings, learned coordinates, the encoder's embeddings) starts at unit variance
(std d**-0.5 times sqrt(d), Tensor2Tensor's "sqrt_depth"), the size of the sinusoidal coordinates, so that content
is not swamped by position (imgtf.layers.embeddings). The class embedding starts at zero and is added unscaled: a
class-conditional model starts as the unconditional one and learns the label's effect from its gradient.

hparam `initializer_gain`: the variance multiplier of the Glorot-uniform kernels of every attention, feed-forward
and output layer (Tensor2Tensor's, 0.2 in its image models; the reference PyTorch port's xavier gain sqrt(0.2);
1.0 is Keras's default glorot_uniform). Only initial values depend on it.
"""
import keras
import numpy as np
from keras import ops

from imgtf.layers.attention import kernel_initializer
from imgtf.layers.attention_spec import AttentionSpec
from imgtf.layers.embeddings import ChannelEmbedding, CoordinateEncoding, OrdinalPixelEmbedding
from imgtf.layers.slicing import leading_part
from imgtf.layers.transformer import DecoderBlock
from imgtf.models.base import AutoregressiveImageModel
from imgtf.registry import register_model


def class_embedding_layer(num_classes, hidden_size):
    """The class embedding added at every position: it starts at zero (and draws no random numbers, so every other
    weight is initialised as in the unconditional model from the same seed)."""
    return keras.layers.Embedding(num_classes, hidden_size, embeddings_initializer="zeros", name="class_embedding")


@register_model
@keras.saving.register_keras_serializable("imgtf")
class ImageTransformer(AutoregressiveImageModel):
    """Decoder-only Image Transformer: 1D local, 2D local or global attention; categorical or DMOL; optional class."""


    def __init__(self, hparams, problem_info, **kwargs):
        super().__init__(hparams, problem_info, **kwargs)
        hp = self.hparams
        c = self.image_shape[-1]
        self.attention = AttentionSpec.from_hparams(hp)
        self.likelihood = self.build_likelihood()  # either unit: a unit is one embedding per position
        self.likelihood.check_image_shape(self.image_shape)
        self.grid = self.likelihood.grid(self.image_shape)
        self.geometry = self.attention.geometry(*self.grid)
        d = hp.hidden_size
        self.embedding_scale = float(d) ** 0.5  # see the module docstring
        if self.likelihood.unit == "subpixel":  # a unit's value is one intensity of a known channel
            self.embed = ChannelEmbedding(d, channels=c, scale=self.embedding_scale, levels=self.num_levels,
                                          name="channel_embedding")
        else:  # a unit's value is a whole pixel
            self.embed = OrdinalPixelEmbedding(d, scale=self.embedding_scale, name="ordinal_embedding")
        self.positions = CoordinateEncoding(hp.position_encoding, scale=self.embedding_scale, name="coordinates")
        self.class_embedding = None
        if hp.class_conditional:
            if not self.problem_info.get("num_classes"):
                raise ValueError("hparam class_conditional=True needs a problem with labels (num_classes); "
                                 "this problem has none.")
            self.uses_label = True
            self.class_embedding = class_embedding_layer(self.problem_info["num_classes"], d)
        self.input_dropout = keras.layers.Dropout(hp.dropout)
        self.initializer_gain = float(hp.initializer_gain)
        self.decoder = [
            DecoderBlock(d, hp.filter_size, self.attention, self.grid, hp.dropout, hp.relu_dropout,
                         cross_attention=self.uses_encoder, initializer_gain=self.initializer_gain, name=f"decoder_{i}")
            for i in range(hp.num_decoder_layers)
        ]
        self.output_layer = keras.layers.Dense(self.likelihood.params_per_unit, name="likelihood_params",
                                               kernel_initializer=kernel_initializer(self.initializer_gain))

    # -- generation order ---------------------------------------------------------------------------
    def _to_slots(self, seq):
        """[B, L, d] in generation order -> the geometry's slot layout [B, S, d] (padding slots zero)."""
        g = self.geometry
        if g.num_slots == g.length and np.array_equal(g.slots, np.arange(g.length)):
            return seq
        index = np.where(g.slots >= 0, g.slots, g.length).astype("int32")
        return ops.take(ops.pad(seq, [[0, 0], [0, 1], [0, 0]]), index, axis=1)

    def _from_slots(self, y):
        """Slot layout [B, S, d] -> raster order of the grid [B, L, d]."""
        g = self.geometry
        index = g.real_slots[g.inverse_order].astype("int32")  # raster position r lives in this slot
        if np.array_equal(index, np.arange(g.length)):
            return y if g.num_slots == g.length else leading_part(y, (ops.shape(y)[0], g.length, ops.shape(y)[2]))
        return ops.take(y, index, axis=1)

    def decoder_inputs(self, features, encoder_output=None):
        """Right-shifted unit embeddings + coordinates (+ class, + aligned encoder outputs) in slot layout: [B, S, d]."""
        g = self.geometry
        x = self.embed(ops.reshape(features["targets"], (-1, *self.image_shape)))  # [B, R, C, d]
        d = x.shape[-1]
        if not self.positions.built:
            self.positions.build((None, *self.grid, d))
        seq = ops.reshape(x, (-1, g.length, d))
        order = g.order.astype("int32")
        raster = np.array_equal(g.order, np.arange(g.length))
        if not raster:
            seq = ops.take(seq, order, axis=1)
        # step t sees unit t-1 (in generation order): the units but the last, one step later
        seq = ops.pad(leading_part(seq, (ops.shape(seq)[0], g.length - 1, d)), [[0, 0], [1, 0], [0, 0]])
        positions = ops.reshape(self.positions.encoding(), (g.length, d))
        seq = seq + ops.cast(positions if raster else ops.take(positions, order, axis=0), seq.dtype)[None]
        if self.uses_label:
            seq = seq + self.class_vector(features)[:, None, :]
        conditioning = self.conditioning_inputs(encoder_output)
        if conditioning is not None:
            seq = seq + conditioning
        return self._to_slots(seq)

    def conditioning_inputs(self, encoder_output):
        """[B, L, d] in generation order, added to the decoder's inputs (img2img_transformer), or None."""
        return None

    def class_vector(self, features):
        """[B, d]: the embedding of features["label"]."""
        return self.class_embedding(ops.cast(features["label"], "int32"))

    # -- forward -----------------------------------------------------------------------------------
    def encode(self, features, training=False):
        return None

    encoder_allowed = None  # [S, N] numpy: which encoder positions each decoder slot sees (None: all)

    def call(self, features, training=False):
        """features dict -> likelihood parameters: [B, H, W, C, num_levels] (categorical) or [B, H, W, 10K] (DMOL)."""
        if not isinstance(features, dict):
            features = {"targets": features}
        encoder_output = self.encode(features, training=training)
        x = self.input_dropout(self.decoder_inputs(features, encoder_output), training=training)
        for block in self.decoder:
            if self.uses_encoder:
                x = self.checkpointed(
                    lambda x, memory, block=block: block(x, memory, self.encoder_allowed, training=training),
                    x, encoder_output, training=training, dropout_in=block)
            else:
                x = self.checkpointed(lambda x, block=block: block(x, training=training), x, training=training,
                                      dropout_in=block)
        params = ops.cast(self.output_layer(self._from_slots(x)), "float32")
        return ops.reshape(params, (-1, *self.likelihood.params_shape(self.image_shape)))

    # -- incremental decoding (used by imgtf.sampling) -------------------------------------------------
    def empty_cache(self, features, batch):
        """Per-layer key/value caches, with encoder keys/values (and inputs added to the decoder's, in generation
        order) computed once for conditional models."""
        encoder_output = self.encode(features) if self.uses_encoder else None
        cache = {"layers": [block.empty_cache(batch, encoder_output) for block in self.decoder]}
        conditioning = self.conditioning_inputs(encoder_output)
        if conditioning is not None:
            cache["inputs"] = conditioning
        return cache

    def unit_embedding(self, values, raster_index):
        """Embedding of one generated unit: a sub-pixel value [B] at grid index `raster_index` (its channel is
        raster_index % C), or a pixel's 3 values [B, 3] for DMOL. -> [B, d]"""
        if self.likelihood.unit == "subpixel":
            ids = ops.cast(values, "int32") + (raster_index % self.image_shape[-1]) * self.num_levels
            return self.embed.lookup(ids)
        return self.embed(values)

    def step(self, cache, previous, t, features):
        """Parameters of the unit generated at step t ([B, params_per_unit]) given the values of the unit
        generated at step t-1 (`previous`, ignored at t=0), and the updated cache."""
        g = self.geometry
        order = g.order.astype("int32")
        d = self.hparams.hidden_size
        if not self.positions.built:
            self.positions.build((None, *self.grid, d))
        previous_index = ops.take(order, ops.maximum(t - 1, 0))
        content = self.unit_embedding(previous, previous_index) * ops.cast(t > 0, self.compute_dtype)
        positions = ops.reshape(self.positions.encoding(), (g.length, d))
        x = content + ops.cast(ops.take(positions, ops.take(order, t), axis=0), content.dtype)[None]
        if self.uses_label:
            x = x + self.class_vector(features)
        if "inputs" in cache:
            x = x + ops.take(cache["inputs"], t, axis=1)
        slot = ops.take(g.real_slots.astype("int32"), t)
        block, offset = slot // g.query_length, slot % g.query_length
        encoder_allowed = None if self.encoder_allowed is None else ops.take(self.encoder_allowed, slot, axis=0)
        new_cache = []
        for layer, layer_cache in zip(self.decoder, cache["layers"]):
            if self.uses_encoder:
                x, layer_cache = layer.step(x, layer_cache, slot, block, offset, encoder_allowed)
            else:
                x, layer_cache = layer.step(x, layer_cache, slot, block, offset)
            new_cache.append(layer_cache)
        return ops.cast(self.output_layer(x), "float32"), {**cache, "layers": new_cache}
