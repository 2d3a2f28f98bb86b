"""What every imgtf model shares: construction from (hparams, problem_info), the features -> parameters
contract, log_prob in nats per sub-pixel, access to one generation unit's parameters, and its config.

Samplers (imgtf.sampling) need, besides these, `geometry` (generation order), `empty_cache(features, batch)`
and `step(cache, previous, t, features)`; trainer, evaluator and exporter need only `call` and `log_prob`.
"""
import keras
from keras import ops

from imgtf.hparams.hparams import HParams


class AutoregressiveImageModel(keras.Model):
    uses_encoder = False
    class_embedding = None

    def __init__(self, hparams, problem_info, **kwargs):
        super().__init__(**kwargs)
        self.hparams = hparams.values() if isinstance(hparams, HParams) else dict(hparams)
        self.problem_info = dict(problem_info)
        self.image_shape = tuple(self.problem_info["image_shape"])

    @property
    def num_units(self):
        return self.geometry.length

    def log_prob(self, features, training=False):
        """Log-likelihood in nats of every sub-pixel of features["targets"]: [B, H, W, 3]."""
        return self.likelihood.log_prob(self(features, training=training), features["targets"])

    def unit_params(self, params, t):
        """From full-image parameters ([B, H, W, 3, P] or [B, H, W, P]), those of the unit generated at step t."""
        flat = ops.reshape(params, (ops.shape(params)[0], self.geometry.length, self.likelihood.params_per_unit))
        return ops.take(flat, ops.take(self.geometry.order.astype("int32"), t), axis=1)

    def get_config(self):
        return {**super().get_config(), "hparams": self.hparams, "problem_info": self.problem_info}


class MaskedConvImageModel(AutoregressiveImageModel):
    """Shared stem and head of the PixelRNN paper's models: a 7x7 mask-A convolution to 2h features, and
    ReLU + 1x1 mask-B output layers ending in 256 logits per channel; sub-pixels in raster order.
    Subclasses build their body in `build_body(hidden)` and apply it in `body(x)`."""

    def __init__(self, hparams, problem_info, **kwargs):
        super().__init__(hparams, problem_info, **kwargs)
        from imgtf.layers import geometry as geometry_lib
        from imgtf.layers.masked_conv import MaskedConv2D
        from imgtf.likelihoods import Categorical

        hp = self.hparams
        h, w, c = self.image_shape
        self.likelihood = Categorical()
        self.geometry = geometry_lib.global_causal(h, w * c)  # raster order of sub-pixels
        self.first = MaskedConv2D(2 * hp["hidden_size"], hp["first_kernel_size"], "A", name="conv_7x7_mask_a")
        self.build_body(hp["hidden_size"])
        self.output_hidden = MaskedConv2D(hp["output_size"], 1, "B", name="output_1x1")
        self.output_logits = MaskedConv2D(c * 256, 1, "B", name="logits_1x1")  # groups of 256: R, G, B

    def build_body(self, hidden):
        raise NotImplementedError

    def body(self, x):
        raise NotImplementedError

    def scaled(self, images):
        """uint8 images -> [-1, 1] inputs of the first convolution."""
        return ops.cast(ops.reshape(images, (-1, *self.image_shape)), self.compute_dtype) / 127.5 - 1.0

    def head(self, x):
        return self.output_logits(ops.relu(self.output_hidden(ops.relu(x))))

    def call(self, features, training=False):
        """features["targets"] uint8 [B, H, W, 3] -> logits [B, H, W, 3, 256] (float32)."""
        images = features["targets"] if isinstance(features, dict) else features
        logits = self.head(self.body(self.first(self.scaled(images))))
        return ops.reshape(ops.cast(logits, "float32"), (-1, *self.image_shape, 256))
