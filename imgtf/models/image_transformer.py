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

hparam `multiply_embedding_mode` ("none" | "sqrt_depth"): with "sqrt_depth" (the registered sets) every learned
input vector -- unit embeddings, learned coordinates, class embedding, and the encoder's embeddings and
coordinates -- starts at unit variance (std d**-0.5 times sqrt(d)), the size of the sinusoidal coordinates, so
content and conditioning are not swamped by position (imgtf.layers.embeddings). "none", the value when the key is
absent (runs saved before it existed), keeps their earlier, unscaled computation.

hparam `initializer_gain`: the variance multiplier of the Glorot-uniform kernels of every attention, feed-forward
and output layer (Tensor2Tensor's, 0.2 in its image models; the reference PyTorch port's xavier gain sqrt(0.2)).
1.0, the value when the key is absent, is Keras's default glorot_uniform. Only initial values depend on it.

hparam `encoder_coordinates` (img2img_transformer; "index" | "aligned"): "index", the value when the key is absent,
encodes each low-resolution sub-pixel by its own indices in the [h, w*3] input grid, so the same encoding denotes
different places of the image in encoder and decoder (input row 2 is target rows 8-11, not target row 2).
"aligned" (the registered super-resolution sets) gives it the decoder's coordinates of the centre of the target
pixels it summarises (row 4i+1.5 and column 4j+1.5 at 8->32, same channel), so a decoder position finds its
input by matching coordinates, which attention does from the start instead of having to learn a rescaling.
"""
import keras
import numpy as np
from keras import ops

from imgtf.layers.attention import kernel_initializer
from imgtf.layers.embeddings import ChannelEmbedding, CoordinateEncoding, OrdinalPixelEmbedding
from imgtf.layers.geometry import ATTENTION_TYPES, make_geometry
from imgtf.layers.transformer import DecoderBlock, EncoderBlock
from imgtf.likelihoods import get_likelihood
from imgtf.models.base import AutoregressiveImageModel
from imgtf.registry import register_model


def embedding_scale(hp):
    """Multiplier of the learned input vectors: sqrt(hidden_size) for multiply_embedding_mode="sqrt_depth", 1.0
    for "none" or an absent key (runs saved before the key existed computed this)."""
    mode = hp.get("multiply_embedding_mode", "none")
    if mode == "sqrt_depth":
        return float(hp["hidden_size"]) ** 0.5
    if mode == "none":
        return 1.0
    raise ValueError(f"hparam multiply_embedding_mode={mode!r}: use 'sqrt_depth' or 'none'.")


CLASS_EMBEDDINGS = ("zeros", "unit")


def class_embedding_layer(num_classes, hidden_size, kind, scaled):
    """The class embedding: a keras Embedding added at every position (see ImageTransformer.class_vector).

    kind "zeros" (hparam class_embedding, the registered sets): starts at zero and is added as it is, unscaled. The
    conditional model then starts as exactly the unconditional one (zeros draw no random numbers, so every other
    weight is initialised as in the unconditional model from the same seed), and the label's vector grows from its
    gradient at Adam's pace (~ the learning rate per step). Measured on imagetransformer_cifar10_cond_tiny (bits/dim
    on 256 real CIFAR-10 test images at steps 50 / 100 / 200 / 300; unconditional set: 7.080 / 6.631 / 6.054 /
    5.707): unit-variance start, multiplied by sqrt(d), 7.366 / 6.691 / 6.208 / -- (the label acts at first as a
    random per-image offset of every input); zero start multiplied by sqrt(d), 7.086 / 6.630 / 6.075 / 5.750 (Adam's
    steps, times 8, make the vector noisy); zero start unscaled, 7.080 / 6.624 / 6.040 / 5.694.
    kind "unit" (the value when the key is absent, runs saved before it existed): std d**-0.5, times the embedding
    scale where added -- or Keras's default uniform(-0.05, 0.05) in unscaled runs (multiply_embedding_mode=none)."""
    if kind not in CLASS_EMBEDDINGS:
        raise ValueError(f"hparam class_embedding={kind!r}: use one of {', '.join(CLASS_EMBEDDINGS)}.")
    if kind == "zeros":
        init = "zeros"
    else:
        init = keras.initializers.RandomNormal(stddev=hidden_size ** -0.5) if scaled else "uniform"
    return keras.layers.Embedding(num_classes, hidden_size, embeddings_initializer=init, name="class_embedding")


@register_model
@keras.saving.register_keras_serializable("imgtf")
class ImageTransformer(AutoregressiveImageModel):
    """Decoder-only Image Transformer: 1D local, 2D local or global attention; categorical or DMOL; optional class."""

    def __init__(self, hparams, problem_info, **kwargs):
        super().__init__(hparams, problem_info, **kwargs)
        hp = self.hparams
        if hp["attention_type"] not in ATTENTION_TYPES:
            raise ValueError(f"hparam attention_type={hp['attention_type']!r} is not supported; choose one of "
                             f"{', '.join(ATTENTION_TYPES)}.")
        h, w, c = self.image_shape
        self.likelihood = get_likelihood(hp["likelihood"], hp.get("num_mixtures", 10))
        self.grid = (h, w * c) if self.likelihood.unit == "subpixel" else (h, w)
        self.geometry = make_geometry(hp["attention_type"], *self.grid, hp["query_block_length"],
                                      hp["memory_length"], tuple(hp["query_shape"]), tuple(hp["memory_flange"]))
        d = hp["hidden_size"]
        self.embedding_scale = embedding_scale(hp)
        if self.likelihood.unit == "subpixel":
            self.embed = ChannelEmbedding(d, channels=c, scale=self.embedding_scale, name="channel_embedding")
        else:
            self.embed = OrdinalPixelEmbedding(d, scale=self.embedding_scale, name="ordinal_embedding")
        self.positions = CoordinateEncoding(hp["position_encoding"], scale=self.embedding_scale, name="coordinates")
        self.class_embedding = None
        if hp.get("class_conditional"):
            if not self.problem_info.get("num_classes"):
                raise ValueError("hparam class_conditional=True needs a problem with labels (num_classes); "
                                 "this problem has none.")
            self.class_embedding_kind = hp.get("class_embedding", "unit")
            self.class_embedding = class_embedding_layer(self.problem_info["num_classes"], d,
                                                         self.class_embedding_kind, self.embedding_scale != 1.0)
        self.input_dropout = keras.layers.Dropout(hp["dropout"])
        self.initializer_gain = float(hp.get("initializer_gain", 1.0))
        self.decoder = [
            DecoderBlock(d, hp["filter_size"], hp["num_heads"], hp["attention_type"], self.grid,
                         hp["query_block_length"], hp["memory_length"], hp["query_shape"], hp["memory_flange"],
                         hp["attention_key_channels"], hp["dropout"], hp["attention_dropout"], hp["relu_dropout"],
                         cross_attention=self.uses_encoder, initializer_gain=self.initializer_gain,
                         name=f"decoder_{i}")
            for i in range(hp["num_decoder_layers"])
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
            return y if g.num_slots == g.length else y[:, : g.length]
        return ops.take(y, index, axis=1)

    def decoder_inputs(self, features):
        """Right-shifted unit embeddings + coordinates (+ class) in slot layout: [B, S, d]."""
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
        seq = ops.pad(seq[:, :-1], [[0, 0], [1, 0], [0, 0]])  # step t sees unit t-1 (in generation order)
        positions = ops.reshape(self.positions.encoding(), (g.length, d))
        seq = seq + ops.cast(positions if raster else ops.take(positions, order, axis=0), seq.dtype)[None]
        if self.class_embedding is not None:
            seq = seq + self.class_vector(features)[:, None, :]
        return self._to_slots(seq)

    def class_vector(self, features):
        """[B, d]: the embedding of features["label"] (times the embedding scale for kind "unit")."""
        x = self.class_embedding(ops.cast(features["label"], "int32"))
        if self.class_embedding_kind == "unit" and self.embedding_scale != 1.0:
            return x * ops.cast(self.embedding_scale, x.dtype)
        return x

    # -- forward -----------------------------------------------------------------------------------
    def encode(self, features, training=False):
        return None

    encoder_allowed = None  # [S, N] numpy: which encoder positions each decoder slot sees (None: all)

    def call(self, features, training=False):
        """features dict -> likelihood parameters: [B, H, W, 3, 256] (categorical) or [B, H, W, 10K] (DMOL)."""
        if not isinstance(features, dict):
            features = {"targets": features}
        encoder_output = self.encode(features, training=training)
        x = self.input_dropout(self.decoder_inputs(features), training=training)
        for block in self.decoder:
            if self.uses_encoder:
                x = block(x, encoder_output, self.encoder_allowed, training=training)
            else:
                x = block(x, training=training)
        params = ops.cast(self.output_layer(self._from_slots(x)), "float32")
        h, w, c = self.image_shape
        if self.likelihood.unit == "subpixel":
            return ops.reshape(params, (-1, h, w, c, self.likelihood.params_per_unit))
        return ops.reshape(params, (-1, h, w, self.likelihood.params_per_unit))

    # -- incremental decoding (used by imgtf.sampling) -------------------------------------------------
    def empty_cache(self, features, batch):
        """Per-layer key/value caches, with encoder keys/values computed once for conditional models."""
        encoder_output = self.encode(features) if self.uses_encoder else None
        return [block.empty_cache(batch, encoder_output) for block in self.decoder]

    def unit_embedding(self, values, raster_index):
        """Embedding of one generated unit: a sub-pixel value [B] at grid index `raster_index` (its channel is
        raster_index % 3), or a pixel's 3 values [B, 3] for DMOL. -> [B, d]"""
        if self.likelihood.unit == "subpixel":
            ids = ops.cast(values, "int32") + (raster_index % self.image_shape[-1]) * 256
            return self.embed.lookup(ids)
        return self.embed(values)

    def step(self, cache, previous, t, features):
        """Parameters of the unit generated at step t ([B, params_per_unit]) given the values of the unit
        generated at step t-1 (`previous`, ignored at t=0), and the updated cache."""
        g = self.geometry
        order = g.order.astype("int32")
        d = self.hparams["hidden_size"]
        if not self.positions.built:
            self.positions.build((None, *self.grid, d))
        previous_index = ops.take(order, ops.maximum(t - 1, 0))
        content = self.unit_embedding(previous, previous_index) * ops.cast(t > 0, self.compute_dtype)
        positions = ops.reshape(self.positions.encoding(), (g.length, d))
        x = content + ops.cast(ops.take(positions, ops.take(order, t), axis=0), content.dtype)[None]
        if self.class_embedding is not None:
            x = x + self.class_vector(features)
        slot = ops.take(g.real_slots.astype("int32"), t)
        block, offset = slot // g.query_length, slot % g.query_length
        encoder_allowed = None if self.encoder_allowed is None else ops.take(self.encoder_allowed, slot, axis=0)
        new_cache = []
        for layer, layer_cache in zip(self.decoder, cache):
            if self.uses_encoder:
                x, layer_cache = layer.step(x, layer_cache, slot, block, offset, encoder_allowed)
            else:
                x, layer_cache = layer.step(x, layer_cache, slot, block, offset)
            new_cache.append(layer_cache)
        return ops.cast(self.output_layer(x), "float32"), new_cache


@register_model
@keras.saving.register_keras_serializable("imgtf")
class Img2imgTransformer(ImageTransformer):
    """Super-resolution encoder-decoder: unmasked encoder over the low-res `inputs`, local decoder (paper 5.3)."""

    uses_encoder = True

    def __init__(self, hparams, problem_info, **kwargs):
        super().__init__(hparams, problem_info, **kwargs)
        hp = self.hparams
        if not self.problem_info.get("input_shape"):
            raise ValueError("img2img_transformer needs an image-to-image problem (one with low-resolution "
                             "`inputs`, e.g. img2img_cifar10).")
        if hp["num_encoder_layers"] < 1:
            raise ValueError("img2img_transformer needs hparam num_encoder_layers >= 1.")
        d = hp["hidden_size"]
        self.input_shape_ = tuple(self.problem_info["input_shape"])
        self.encoder_embed = ChannelEmbedding(d, channels=self.input_shape_[-1], scale=self.embedding_scale,
                                              name="encoder_channel_embedding")
        self.encoder_coordinates = hp.get("encoder_coordinates", "index")
        if self.encoder_coordinates not in ("index", "aligned"):
            raise ValueError(f"hparam encoder_coordinates={self.encoder_coordinates!r}: use 'aligned' or 'index'.")
        self.encoder_positions = None
        if self.encoder_coordinates == "index":
            self.encoder_positions = CoordinateEncoding(hp["position_encoding"], scale=self.embedding_scale,
                                                        name="encoder_coordinates")
        self.encoder_window = int(hp.get("encoder_decoder_window", -1))
        self.encoder_allowed = self.local_encoder_allowed(self.encoder_window) if self.encoder_window >= 0 else None
        self.encoder_dropout = keras.layers.Dropout(hp["dropout"])
        self.encoder = [
            EncoderBlock(d, hp["filter_size"], hp["num_heads"], hp["attention_key_channels"], hp["dropout"],
                         hp["attention_dropout"], hp["relu_dropout"], self.initializer_gain, name=f"encoder_{i}")
            for i in range(hp["num_encoder_layers"])
        ]

    def aligned_positions(self):
        """Where each low-resolution unit of the [h, w*c] input grid lies in the decoder's grid (numpy): rows and
        columns of the centres of the target pixels it summarises (columns of the [H, W*3] sub-pixel grid keep the
        channel; DMOL's [H, W] pixel grid has one column per pixel)."""
        (h, w, c), (big_h, big_w, _) = self.input_shape_, self.image_shape
        rows = (np.arange(h) + 0.5) * big_h / h - 0.5
        centres = (np.arange(w) + 0.5) * big_w / w - 0.5
        if self.likelihood.unit == "subpixel":
            cols = (centres[:, None] * c + np.arange(c)[None, :]).reshape(-1)
        else:
            cols = np.repeat(centres, c)
        return rows, cols

    def local_encoder_allowed(self, window):
        """[S, N] numpy bool: decoder slot s may attend to the input units of the low-resolution pixels within
        `window` pixels (rows and columns) of the one its unit lies in; padding slots see everything (their outputs
        are never read). Every real slot sees at least its own input pixel's channels."""
        g = self.geometry
        (h, w, c), (big_h, big_w, _) = self.input_shape_, self.image_shape
        cols_per_pixel = self.grid[1] // big_w  # 3 on the sub-pixel grid, 1 on DMOL's pixel grid
        raster = g.order[np.maximum(g.slots, 0)]  # the unit held by each slot (any, for padding)
        row_lo = (raster // self.grid[1]) * h // big_h
        col_lo = (raster % self.grid[1]) // cols_per_pixel * w // big_w
        key_row = np.repeat(np.arange(h), w * c)
        key_col = np.tile(np.repeat(np.arange(w), c), h)
        mask = ((np.abs(row_lo[:, None] - key_row[None, :]) <= window)
                & (np.abs(col_lo[:, None] - key_col[None, :]) <= window))
        return mask | (g.slots < 0)[:, None]

    def encode(self, features, training=False):
        """Low-resolution inputs [B, h, w, 3] -> [B, h*w*3, d]: channel embeddings + 2D coordinates."""
        x = self.encoder_embed(ops.reshape(features["inputs"], (-1, *self.input_shape_)))
        if self.encoder_positions is not None:
            x = self.encoder_positions(x)
        else:
            if not self.positions.built:
                self.positions.build((None, *self.grid, self.hparams["hidden_size"]))
            x = x + ops.cast(self.positions.encoding_at(*self.aligned_positions()), x.dtype)[None]
        x = self.encoder_dropout(ops.reshape(x, (-1, x.shape[1] * x.shape[2], x.shape[3])), training=training)
        for block in self.encoder:
            x = block(x, training=training)
        return x
