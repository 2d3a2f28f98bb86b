"""Weight normalisation with data-dependent initialisation (Salimans & Kingma 2016), as PixelCNN++ and PixelSNAIL
train every convolution and 1x1 of their networks.

A layer with `weight_norm=True` keeps a direction `v` (its `kernel`) and a per-output scale `g` (`scale`), and
computes with w = g * v / ||v||, the norm over every axis but the output's (of the kernel as it is used: a masked
kernel is masked first). Data-dependent initialisation: one forward pass on a batch of real images in which every
such layer, in network order, first computes its pre-activations t with g = 1 and b = 0, then sets
g = init_scale / sqrt(var(t) + 1e-10) and b = -mean(t) * g per output channel, so its output starts with mean 0
and standard deviation init_scale on that batch (1; the gated ResNets' second convolution 0.1, the authors'
init_scale). The model drives the pass (`AutoregressiveImageModel.initialize_from_data`).
"""
import keras
from keras import ops

NORM_EPSILON = 1e-12  # under the square root of ||v||^2: a kernel that is all zeros stays zeros
VARIANCE_EPSILON = 1e-10  # the authors'


class WeightNormalized(keras.layers.Layer):
    """Base of the layers whose kernel may be weight-normalised. A subclass makes its weights with `add_kernel`,
    computes with `normalized(kernel)` and wraps its output computation in `initialized(compute)`."""

    def __init__(self, weight_norm=False, init_scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.weight_norm, self.init_scale = bool(weight_norm), float(init_scale)
        if self.init_scale <= 0:
            raise ValueError(f"init_scale={init_scale}: the initial standard deviation must be positive.")
        self.initializing = False  # set by the model around its data-dependent initialisation pass

    def add_kernel(self, shape, out_axis, initializer, use_bias=True):
        """Create `kernel` (v) and `bias`, and with weight_norm `scale` (g, one per output of axis `out_axis`)."""
        if self.weight_norm and not use_bias:
            raise ValueError("weight_norm's data-dependent initialisation sets a bias: use_bias must be True.")
        self._out_axis = out_axis % len(shape)
        self.kernel = self.add_weight(name="kernel", shape=shape, initializer=initializer)
        self.scale = (self.add_weight(name="scale", shape=(shape[self._out_axis],),
                                      initializer=keras.initializers.Constant(self.init_scale))
                      if self.weight_norm else None)
        self.bias = self.add_weight(name="bias", shape=(shape[self._out_axis],), initializer="zeros") if use_bias else None

    def normalized(self, kernel):
        """w = g * v / ||v|| (per output); the kernel itself without weight_norm."""
        if not self.weight_norm:
            return kernel
        ndim = len(kernel.shape)
        axes = [a for a in range(ndim) if a != self._out_axis]
        norm = ops.sqrt(ops.sum(ops.square(kernel), axis=axes, keepdims=True) + NORM_EPSILON)
        shape = [1] * ndim
        shape[self._out_axis] = -1
        return kernel / norm * ops.reshape(self.scale, shape)

    def initialized(self, compute):
        """`compute()`: the layer's output with its current weights. While the model initialises from data (eager),
        first sets g and b from the moments of compute() at g = 1, b = 0, once per layer."""
        if self.weight_norm and self.initializing:
            self.initializing = False
            self.scale.assign(ops.ones_like(self.scale))
            self.bias.assign(ops.zeros_like(self.bias))
            t = ops.cast(compute(), "float32")
            mean, variance = ops.moments(t, axes=list(range(len(t.shape) - 1)))
            g = self.init_scale / ops.sqrt(variance + VARIANCE_EPSILON)
            self.scale.assign(g)
            self.bias.assign(-mean * g)
        return compute()

    def get_config(self):
        return {**super().get_config(), "weight_norm": self.weight_norm, "init_scale": self.init_scale}
