"""Multi-Scale PixelRNN (van den Oord et al., ICML 2016, section 3.5): an unconditional PixelRNN generates a
subsampled s x s image; a conditional PixelRNN then generates the n x n image, every one of its layers
biased by an upsampled map of the small image (a convolution and stride-2 deconvolutions to c features,
then per layer a 1x1 unmasked projection to the 4h input-to-state gates). Both networks are Row LSTMs.

The small image is the strided subsample x[::s, ::s], so it is part of the large image and the model is one
autoregressive model over the n x n image with an exact likelihood: its generation order is the small
image's sub-pixels first (raster order), then every other sub-pixel in raster order;
    log p(x) = log p_small(x[::s, ::s]) + sum over the other sub-pixels of log p_cond(x_i | x_<i, x[::s, ::s]).
`call` returns one num_levels-way distribution per sub-pixel: the unconditional network's at subsampled pixels,
the conditional network's elsewhere. Training, bits/dim, samplers and export need nothing special.

Sampling runs the small network pixel by pixel, computes the upsampled map once, then runs the conditional
network pixel by pixel on the image whose subsampled pixels are already in place.
"""
import keras
import numpy as np
from keras import ops

from imgtf.layers.geometry import GenerationOrder
from imgtf.models.base import AutoregressiveImageModel
from imgtf.models.pixel_rnn.row_lstm import RowLSTM
from imgtf.registry import register_model


def multiscale_order(rows, cols, factor, channels=3):
    """Raster sub-pixel indices: those of pixels (s*a, s*b) in raster order, then all others in raster order."""
    r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    small = ((r % factor == 0) & (c % factor == 0)).reshape(-1)
    subpixels = np.arange(rows * cols * channels).reshape(-1, channels)
    return np.concatenate([subpixels[small].reshape(-1), subpixels[~small].reshape(-1)])


@register_model("multiscale_pixelrnn")
@keras.saving.register_keras_serializable("imgtf")
class MultiScalePixelRNN(AutoregressiveImageModel):
    """Unconditional Row LSTM on x[::s, ::s] + conditional Row LSTM on x biased by the upsampled small image."""

    def __init__(self, hparams, problem_info, **kwargs):
        super().__init__(hparams, problem_info, **kwargs)
        hp = self.hparams
        h, w, c = self.image_shape
        s = self.factor = hp.subsample_factor
        if s < 2 or s & (s - 1) or h % s or w % s:
            raise ValueError(f"subsample_factor must be a power of two >= 2 dividing the image size {h}x{w}; got {s}.")
        self.likelihood = self.build_likelihood(allowed_units=("subpixel",))  # that of its two Row LSTMs
        self.geometry = GenerationOrder(multiscale_order(h, w, s, c))
        self.small_units = (h // s) * (w // s) * c
        self.unconditional = RowLSTM(hp, {**self.problem_info, "image_shape": [h // s, w // s, c]},
                                     name="unconditional")
        features = hp.upsample_features
        self.upsample_layers = [keras.layers.Conv2D(features, 3, padding="same", activation="relu", name="upsample_conv")]
        self.upsample_layers += [keras.layers.Conv2DTranspose(features, 4, strides=2, padding="same", activation="relu",
                                                              name=f"upsample_deconv_{i}")
                                 for i in range(int(np.log2(s)))]
        self.conditional = RowLSTM(hp, self.problem_info, conditioning_channels=features, name="conditional")
        self.is_small = np.zeros((h, w), bool)
        self.is_small[::s, ::s] = True

    def subsample(self, images):
        return ops.reshape(images, (-1, *self.image_shape))[:, :: self.factor, :: self.factor]

    def upsampled(self, small_images):
        """The conditioning map [B, H, W, c] from the small uint8 image."""
        x = self.unconditional.scaled(small_images)
        for layer in self.upsample_layers:
            x = layer(x)
        return x

    def call(self, features, training=False):
        """features["targets"] uint8 [B, H, W, C] -> logits [B, H, W, C, num_levels]."""
        images = features["targets"] if isinstance(features, dict) else features
        small = self.subsample(images)
        small_logits = self.unconditional({"targets": small}, training=training)
        large_logits = self.conditional({"targets": images, "conditioning": self.upsampled(small)}, training=training)
        placed = ops.repeat(ops.repeat(small_logits, self.factor, axis=1), self.factor, axis=2)
        return ops.where(self.is_small[None, :, :, None, None], placed, large_logits)

    # -- sampling: the small image pixel by pixel, then the large one pixel by pixel -------------------
    def empty_cache(self, features, batch):
        h, w, _ = self.image_shape
        return {"canvas": ops.zeros((batch, self.num_units), "int32"),
                "small": self.unconditional.empty_cache(features, batch),
                "conditioning": ops.zeros((batch, h, w, self.hparams.upsample_features), self.compute_dtype),
                "states": self.conditional.initial_states(batch)}

    def step(self, cache, previous, t, features):
        order = self.geometry.order.astype("int32")
        raster = ops.take(order, t)
        canvas = ops.slice_update(cache["canvas"], (0, ops.take(order, ops.maximum(t - 1, 0))),
                                  ops.cast(previous, "int32")[:, None])
        cache = {**cache, "canvas": canvas}
        return ops.cond(t < self.small_units, lambda: self._small_step(cache, previous, t),
                        lambda: self._large_step(cache, t, raster))

    def _small_step(self, cache, previous, t):
        logits, small = self.unconditional.step(cache["small"], previous, t, None)
        return logits, {**cache, "small": small}

    def _large_step(self, cache, t, raster):
        """The conditional network at pixel raster // C. The subsampled pixel on its left (every subsampled
        pixel has a non-subsampled right neighbour) was drawn by the small network and is never a step here, so
        its states in the large network are computed, from its known values, at this pixel's first step."""
        channels = self.image_shape[-1]
        canvas, net, pixel = cache["canvas"], self.conditional, raster // channels
        conditioning = ops.cond(t == self.small_units,
                                lambda: self.upsampled(self.subsample(canvas)),
                                lambda: cache["conditioning"])

        def commit(pixel, states):
            return net.commit_pixel(pixel, states, net.pixel_forward(canvas, pixel, states, conditioning)[1])

        left_is_small = ops.take(self.is_small.reshape(-1), ops.maximum(pixel - 1, 0))
        states = ops.cond(ops.logical_and(raster % channels == 0, left_is_small),
                          lambda: commit(pixel - 1, cache["states"]),
                          lambda: cache["states"])
        logits, values = net.pixel_forward(canvas, pixel, states, conditioning)
        states = ops.cond(raster % channels == channels - 1, lambda: net.commit_pixel(pixel, states, values),
                          lambda: states)
        return ops.take(logits, raster % channels, axis=1), {**cache, "conditioning": conditioning, "states": states}
