"""The 1x1 ("network in network") layer of the gated family: a dense map of the last axis, optionally
weight-normalised (imgtf.layers.weight_norm), as the authors' `nin` of PixelCNN++ and PixelSNAIL."""
import keras
from keras import ops

from imgtf.layers.weight_norm import WeightNormalized


@keras.saving.register_keras_serializable("imgtf")
class NiN(WeightNormalized):
    def __init__(self, units, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        self.add_kernel((input_shape[-1], self.units), out_axis=1, initializer=self.kernel_initializer)

    def call(self, x):
        def compute():
            y = ops.matmul(x, ops.cast(self.normalized(self.kernel), x.dtype))
            return y + ops.cast(self.bias, y.dtype)

        return self.initialized(compute)

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}
