"""The Image Transformer's super-resolution model (Parmar et al. 2018, section 5.3): an unmasked encoder over the
low-resolution `inputs`, attended to by every decoder block of the local-attention decoder.

Each low-resolution input sub-pixel is encoded with the decoder's coordinates of the centre of the target pixels it
summarises (row 4i+1.5 and column 4j+1.5 at 8->32, same channel), so a decoder position finds its input by matching
coordinates, which attention does from the start instead of having to learn a rescaling.

hparam `decoder_input_conditioning` ("none" | "nearest" | "bilinear"): also add to every decoder input the encoder's
output upsampled to the target's place (same channel; DMOL: the mean of the pixel's three): from the low-resolution
pixel it lies in ("nearest") or interpolated between the 2x2 around it ("bilinear"). Every decoder layer then starts
with its input's summary instead of having to find it through encoder-decoder attention first. "none" reads the
encoder through attention only.
"""
import keras
import numpy as np
from keras import ops

from imgtf.layers.embeddings import ChannelEmbedding
from imgtf.layers.transformer import EncoderBlock
from imgtf.models.image_transformer.image_transformer import ImageTransformer
from imgtf.registry import register_model


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
        if hp.num_encoder_layers < 1:
            raise ValueError("img2img_transformer needs hparam num_encoder_layers >= 1.")
        d = hp.hidden_size
        self.input_shape_ = tuple(self.problem_info["input_shape"])
        self.encoder_embed = ChannelEmbedding(d, channels=self.input_shape_[-1], scale=self.embedding_scale,
                                              levels=self.num_levels, name="encoder_channel_embedding")
        self.encoder_window = int(hp.encoder_decoder_window)
        self.encoder_allowed = self.local_encoder_allowed(self.encoder_window) if self.encoder_window >= 0 else None
        self.input_conditioning = hp.decoder_input_conditioning
        if self.input_conditioning not in ("none", "nearest", "bilinear"):
            raise ValueError(f"hparam decoder_input_conditioning={self.input_conditioning!r}: use 'bilinear', "
                             "'nearest' or 'none'.")
        self.encoder_dropout = keras.layers.Dropout(hp.dropout)
        self.encoder = [
            EncoderBlock(d, hp.filter_size, self.attention, hp.dropout, hp.relu_dropout, self.initializer_gain,
                         name=f"encoder_{i}")
            for i in range(hp.num_encoder_layers)
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

    def upsampling_matrices(self):
        """([H, h], [W, w]) numpy: how each target row (column) of pixels mixes the low-resolution rows (columns).
        "nearest": the one it lies in; "bilinear": the two around its centre, linearly weighted (edges clamped)."""
        def matrix(big, small):
            out = np.zeros((big, small), "float32")
            if self.input_conditioning == "nearest":
                out[np.arange(big), np.arange(big) * small // big] = 1.0
                return out
            x = np.clip((np.arange(big) + 0.5) * small / big - 0.5, 0, small - 1)
            lo = np.floor(x).astype(int)
            hi = np.minimum(lo + 1, small - 1)
            np.add.at(out, (np.arange(big), lo), 1 - (x - lo))
            np.add.at(out, (np.arange(big), hi), x - lo)
            return out

        (h, w, _), (big_h, big_w, _) = self.input_shape_, self.image_shape
        return matrix(big_h, h), matrix(big_w, w)

    def conditioning_inputs(self, encoder_output):
        """The encoder's output upsampled to the target grid, each sub-pixel from its own channel (DMOL's pixels:
        the mean of the three), in generation order: [B, L, d]."""
        if self.input_conditioning == "none" or encoder_output is None:
            return None
        (h, w, c), d = self.input_shape_, encoder_output.shape[-1]
        rows, cols = (ops.cast(m, encoder_output.dtype) for m in self.upsampling_matrices())
        x = ops.reshape(encoder_output, (-1, h, w, c, d))
        x = ops.einsum("Hh,bhwcd->bHwcd", rows, x)
        x = ops.einsum("Ww,bHwcd->bHWcd", cols, x)
        if self.likelihood.unit != "subpixel":
            x = ops.mean(x, axis=3)
        x = ops.reshape(x, (-1, self.geometry.length, d))  # raster order of the unit grid
        if np.array_equal(self.geometry.order, np.arange(self.geometry.length)):
            return x
        return ops.take(x, self.geometry.order.astype("int32"), axis=1)

    def encode(self, features, training=False):
        """Low-resolution inputs [B, h, w, 3] -> [B, h*w*3, d]: channel embeddings + 2D coordinates."""
        x = self.encoder_embed(ops.reshape(features["inputs"], (-1, *self.input_shape_)))
        if not self.positions.built:
            self.positions.build((None, *self.grid, self.hparams.hidden_size))
        x = x + ops.cast(self.positions.encoding_at(*self.aligned_positions()), x.dtype)[None]
        x = self.encoder_dropout(ops.reshape(x, (-1, x.shape[1] * x.shape[2], x.shape[3])), training=training)
        for block in self.encoder:
            x = self.checkpointed(lambda x, block=block: block(x, training=training), x, training=training,
                                  dropout_in=block)
        return x
