"""Shifted (causal) convolutions of Gated PixelCNN, PixelCNN++ and PixelSNAIL, each runnable on one image row.

A "down" convolution with kernel [kh, kw] sees the kh rows up to and including its own and (kw-1)/2 columns either
side; a "down_right" one sees kh rows up to its own and the kw-1 columns to its left, i.e. a pixel and everything
above-left of it. Shifting a map down (`DownShift`) or right (`right_shift`) by one then makes a stream that sees
only strictly earlier pixels, without masks (Salimans et al. 2017, section 2.3). Strided versions halve the
resolution and the transposed versions double it, keeping the same dependence.

Every layer here also has `row(x_row, cache, row_in, row_out)`: its output row `row_out` from its input's row
`row_in` ([B, 1, W, C]) and the earlier input rows it keeps in `cache` (its zero-padded input map). A network
written as calls of these layers through `imgtf.layers.row_pass` therefore runs either on whole images (training)
or on one row per sampling step, reading every earlier row from the caches (cached sampling).

`mask` ("A" | "B", Gated PixelCNN's horizontal stack): the kernel position of the pixel itself connects colour
groups as PixelCNN's masks do (imgtf.layers.masked_conv), so sub-pixels R, G, B of a pixel come in order.
"""
import keras
import numpy as np
from keras import ops

from imgtf.layers.masked_conv import feature_groups
from imgtf.layers.slicing import leading_part, part
from imgtf.layers.weight_norm import WeightNormalized


def right_shift(x):
    """Every column moved one to the right (a zero column enters on the left); works on whole maps and rows."""
    return leading_part(ops.pad(x, [[0, 0], [0, 0], [1, 0], [0, 0]]), ops.shape(x))


def pixel_mask(kernel_shape, in_channels, out_channels, mask_type, out_group_repeat=1, groups=3):
    """0/1 mask [kh, kw, in, out] of a down-right kernel whose last position is the pixel itself: there, output
    group g sees input groups < g (A) or <= g (B); every other position is an earlier pixel and fully connected."""
    mask = np.ones((*kernel_shape, in_channels, out_channels), np.float32)
    g_in = feature_groups(in_channels, groups)[:, None]
    g_out = np.tile(feature_groups(out_channels // out_group_repeat, groups), out_group_repeat)[None, :]
    mask[-1, -1] = (g_in < g_out) if mask_type == "A" else (g_in <= g_out)
    return mask


class _ShiftedBase(WeightNormalized):
    def __init__(self, filters, kernel_size, shift="down", strides=1, mask=None, groups=3, out_group_repeat=1,
                 kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if shift not in ("down", "down_right"):
            raise ValueError(f"shift must be 'down' or 'down_right', not {shift!r}.")
        if mask is not None and shift != "down_right":
            raise ValueError("a colour mask needs shift='down_right' (its last kernel position is the pixel itself).")
        self.filters, self.shift, self.strides = int(filters), shift, int(strides)
        self.kernel_size = tuple(int(k) for k in kernel_size)
        self.mask_type, self.groups, self.out_group_repeat = mask, int(groups), int(out_group_repeat)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "shift": self.shift, "strides": self.strides, "mask": self.mask_type, "groups": self.groups,
                "out_group_repeat": self.out_group_repeat,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}


@keras.saving.register_keras_serializable("imgtf")
class ShiftedConv2D(_ShiftedBase):
    """A causal convolution (see the module docstring); `strides` 2 halves height and width."""

    def build(self, input_shape):
        channels = input_shape[-1]
        self.add_kernel((*self.kernel_size, channels, self.filters), out_axis=3, initializer=self.kernel_initializer)
        self._mask = (None if self.mask_type is None else
                      pixel_mask(self.kernel_size, channels, self.filters, self.mask_type, self.out_group_repeat,
                                 self.groups))

    @property
    def padding(self):
        """[top, left, right] zero padding that makes the convolution causal."""
        kh, kw = self.kernel_size
        if self.shift == "down":
            return kh - 1, (kw - 1) // 2, (kw - 1) // 2
        return kh - 1, kw - 1, 0

    @property
    def needs_cache(self):
        return self.kernel_size[0] > 1 or self.strides > 1

    @property
    def level_change(self):
        """How many halvings of resolution this layer adds (imgtf.layers.row_pass): 1 when strided."""
        return 1 if self.strides > 1 else 0

    def _kernel(self, dtype):
        kernel = self.kernel if self._mask is None else self.kernel * ops.cast(self._mask, self.kernel.dtype)
        return ops.cast(self.normalized(kernel), dtype)

    def _conv(self, padded):
        y = ops.conv(padded, self._kernel(padded.dtype), strides=self.strides, padding="valid")
        return y + ops.cast(self.bias, y.dtype)

    def call(self, x):
        top, left, right = self.padding
        return self.initialized(lambda: self._conv(ops.pad(x, [[0, 0], [top, 0], [left, right], [0, 0]])))

    def empty_row_cache(self, batch, height, width, channels, dtype):
        top, left, right = self.padding
        return ops.zeros((batch, height + top, width + left + right, channels), dtype)

    def row(self, x_row, cache, row_in, row_out):
        """Output row `row_out` [B, 1, W_out, F] after storing input row `row_in` [B, 1, W, C] in `cache`."""
        top, left, right = self.padding
        if not self.needs_cache:
            return self._conv(ops.pad(x_row, [[0, 0], [0, 0], [left, right], [0, 0]])), cache
        cache = ops.slice_update(cache, (0, row_in + top, left, 0), ops.cast(x_row, cache.dtype))
        kh = self.kernel_size[0]
        window = ops.slice(cache, (0, row_out * self.strides, 0, 0), (ops.shape(cache)[0], kh, *cache.shape[2:]))
        return self._conv(window), cache


@keras.saving.register_keras_serializable("imgtf")
class ShiftedConvTranspose2D(_ShiftedBase):
    """Causal 2x upsampling: kernel [2, kw], stride 2; output row y reads input row y // 2 only, so a row of the
    output needs no cache. "down" (kw odd) reads the columns around x / 2, "down_right" (kw = 2) column x // 2."""

    needs_cache = False
    level_change = -1

    def __init__(self, filters, kernel_size, shift="down", **kwargs):
        kwargs.pop("strides", None)
        super().__init__(filters, kernel_size, shift, strides=2, **kwargs)
        if self.kernel_size[0] != 2:
            raise ValueError("causal upsampling uses kernels of height 2 (each output row from one input row).")

    def build(self, input_shape):
        channels = input_shape[-1]
        # a transposed kernel is [kh, kw, out, in]
        self.add_kernel((*self.kernel_size, self.filters, channels), out_axis=2, initializer=self.kernel_initializer)

    def call(self, x):
        def compute():
            y = ops.conv_transpose(x, ops.cast(self.normalized(self.kernel), x.dtype), strides=2, padding="valid")
            width = 2 * x.shape[2]
            left = (self.kernel_size[1] - 1) // 2 if self.shift == "down" else 0
            y = part(y, (0, 0, left, 0), (ops.shape(y)[0], ops.shape(y)[1], width, ops.shape(y)[3]))
            return y + ops.cast(self.bias, y.dtype)

        return self.initialized(compute)

    def row(self, x_row, cache, row_in, row_out):
        return ops.take(self.call(x_row), row_out - 2 * row_in, axis=1)[:, None], cache


@keras.saving.register_keras_serializable("imgtf")
class DownShift(keras.layers.Layer):
    """Every row moved one down (a zero row enters at the top): a stream that saw rows <= r now sees rows < r."""

    needs_cache = True
    level_change = 0

    def call(self, x):
        return leading_part(ops.pad(x, [[0, 0], [1, 0], [0, 0], [0, 0]]), ops.shape(x))

    def empty_row_cache(self, batch, height, width, channels, dtype):
        return ops.zeros((batch, height + 1, width, channels), dtype)

    def row(self, x_row, cache, row_in, row_out):
        cache = ops.slice_update(cache, (0, row_in + 1, 0, 0), ops.cast(x_row, cache.dtype))
        return ops.slice(cache, (0, row_out, 0, 0), (ops.shape(cache)[0], 1, *cache.shape[2:])), cache
