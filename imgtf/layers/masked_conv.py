"""Masked convolutions of PixelCNN / PixelRNN (van den Oord et al. 2016), with colour groups.

Feature maps are split into C contiguous groups, one per image channel (`groups`; R, G, B for colour images;
sizes as equal as possible; the C image channels are one group each). A mask zeroes every kernel position after the centre in raster order; at the centre,
output group g sees input groups g' < g (mask A: the first layer, so a channel never sees itself) or
g' <= g (mask B: every later layer). So R features of a pixel see only earlier pixels, G also the pixel's R,
B also its R and G: the channel order inside a pixel is R, G, B.
"""
import keras
import numpy as np
from keras import ops

from imgtf.layers.weight_norm import WeightNormalized


def feature_groups(n, groups=3):
    """Group index of each of n features: contiguous, as equal as possible."""
    return (np.arange(n) * groups) // n


def conv_mask(kernel_shape, in_channels, out_channels, mask_type, out_group_repeat=1, groups=3):
    """0/1 float32 mask [kh, kw, in, out] for a masked convolution over images of `groups` channels. With
    out_group_repeat=n the outputs are n consecutive blocks (e.g. the 4 LSTM gates), each split into the groups."""
    if mask_type not in ("A", "B"):
        raise ValueError(f"mask_type must be 'A' or 'B', not {mask_type!r}.")
    kh, kw = kernel_shape
    mask = np.ones((kh, kw, in_channels, out_channels), np.float32)
    ch, cw = kh // 2, kw // 2
    mask[ch, cw + 1:] = 0.0  # right of the centre in its row
    mask[ch + 1:] = 0.0  # rows below
    g_in = feature_groups(in_channels, groups)[:, None]
    g_out = np.tile(feature_groups(out_channels // out_group_repeat, groups), out_group_repeat)[None, :]
    mask[ch, cw] = (g_in < g_out) if mask_type == "A" else (g_in <= g_out)
    return mask


@keras.saving.register_keras_serializable("imgtf")
class MaskedConv2D(WeightNormalized):
    """A 'same'-padded 2D convolution whose kernel is multiplied by a PixelCNN mask (A or B) at every call; `groups`:
    the image's channel count (1 for grayscale: with three groups a grayscale pixel's value would reach its own
    prediction through the second and third groups). `weight_norm`: the masked kernel as g * v / ||v||
(imgtf.layers.weight_norm)."""

    def __init__(self, filters, kernel_size, mask_type="B", use_bias=True, out_group_repeat=1, groups=3, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.mask_type, self.use_bias = filters, mask_type, use_bias
        self.out_group_repeat, self.groups = out_group_repeat, groups
        self.kernel_size = tuple(kernel_size) if isinstance(kernel_size, (list, tuple)) else (kernel_size, kernel_size)
        if any(k % 2 == 0 for k in self.kernel_size):
            raise ValueError(f"masked convolutions need odd kernel sizes (a centre); got {self.kernel_size}.")

    def build(self, input_shape):
        channels = input_shape[-1]
        self.add_kernel((*self.kernel_size, channels, self.filters), out_axis=3, initializer="glorot_uniform",
                        use_bias=self.use_bias)
        # kept as numpy (a tf constant held on a layer breaks graph reuse) and converted in call
        self._mask = conv_mask(self.kernel_size, channels, self.filters, self.mask_type, self.out_group_repeat,
                               self.groups)

    def call(self, x):
        def compute():
            kernel = self.normalized(self.kernel * ops.cast(self._mask, self.kernel.dtype))
            y = ops.conv(x, ops.cast(kernel, x.dtype), strides=1, padding="same")
            return y + ops.cast(self.bias, y.dtype) if self.bias is not None else y

        return self.initialized(compute)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "mask_type": self.mask_type, "use_bias": self.use_bias, "out_group_repeat": self.out_group_repeat,
                "groups": self.groups}
