"""The gated ResNet block of PixelCNN++ (Salimans et al. 2017) and PixelSNAIL (Chen et al. 2018):

    c = conv1(nl(x)) [+ nin(nl(aux))];  [a, b] = conv2(dropout(nl(c))) [+ class bias];  return x + a * sigmoid(b)

`nl` is concat_elu (elu of [x, -x]: PixelCNN++) or elu (PixelSNAIL); conv1 and conv2 are shifted convolutions
(imgtf.layers.shifted_conv) of the block's kernel, or 1x1; `aux` is another stream (PixelCNN++'s u into ul, the
short-cuts from the first pass, PixelSNAIL's attention output). conv2 starts at a tenth of the usual scale, as the
authors' `init_scale=0.1`, so a deep stack starts near the identity: with `weight_norm` (imgtf.layers.weight_norm)
its outputs start with standard deviation 0.1 on the initialisation batch, the others' 1; without, its kernel is
drawn at a tenth of the usual scale. The convolutions are applied through a pass
object (imgtf.layers.row_pass), so the block runs on whole images or on one row with cached rows above.
"""
import keras
from keras import ops

from imgtf.layers.composite import BuiltAtFirstCall
from imgtf.layers.nin import NiN
from imgtf.layers.row_pass import FullPass
from imgtf.layers.shifted_conv import ShiftedConv2D


def concat_elu(x):
    return ops.elu(ops.concatenate([x, -x], axis=-1))


NONLINEARITIES = {"concat_elu": concat_elu, "elu": ops.elu}


@keras.saving.register_keras_serializable("imgtf")
class GatedResnet(BuiltAtFirstCall, keras.layers.Layer):
    def __init__(self, filters, kernel_size=(2, 2), shift="down_right", nonlinearity="concat_elu", dropout=0.0,
                 has_aux=False, num_classes=0, weight_norm=False, **kwargs):
        super().__init__(**kwargs)
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"nonlinearity={nonlinearity!r}: use one of {sorted(NONLINEARITIES)}.")
        self.filters, self.kernel_size, self.shift = int(filters), tuple(kernel_size), shift
        self.nonlinearity, self.dropout_rate, self.has_aux = nonlinearity, float(dropout), bool(has_aux)
        self.num_classes, self.weight_norm = int(num_classes), bool(weight_norm)
        self.nl = NONLINEARITIES[nonlinearity]
        wn = dict(weight_norm=self.weight_norm)
        self.conv1 = ShiftedConv2D(filters, kernel_size, shift, name="conv1", **wn)
        self.aux_nin = NiN(filters, name="aux_nin", **wn) if has_aux else None
        self.dropout = keras.layers.Dropout(self.dropout_rate) if self.dropout_rate > 0 else None
        small = keras.initializers.VarianceScaling(0.01, "fan_avg", "uniform")
        self.conv2 = ShiftedConv2D(2 * filters, kernel_size, shift, kernel_initializer=small, name="conv2",
                                   init_scale=0.1, **wn)
        # a class-dependent bias of both halves (paper: V^T h with h one-hot), starting at zero
        self.class_bias = (keras.layers.Dense(2 * filters, use_bias=False, kernel_initializer="zeros", name="class_bias")
                           if num_classes else None)

    def call(self, x, aux=None, label=None, run=None, level=0, training=False):
        """x: map or row [B, R, W, filters]; aux: another map of the same rows; label: one-hot [B, num_classes]."""
        run = run or FullPass()
        c = run(self.conv1, self.nl(x), level)
        if self.aux_nin is not None:
            c = c + self.aux_nin(self.nl(aux))
        c = self.nl(c)
        if self.dropout is not None:
            c = self.dropout(c, training=training)
        c = run(self.conv2, c, level)
        if self.class_bias is not None:
            c = c + ops.cast(self.class_bias(label), c.dtype)[:, None, None, :]
        a, b = ops.split(c, 2, axis=-1)
        return x + a * ops.sigmoid(b)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "shift": self.shift, "nonlinearity": self.nonlinearity, "dropout": self.dropout_rate,
                "has_aux": self.has_aux, "num_classes": self.num_classes, "weight_norm": self.weight_norm}
