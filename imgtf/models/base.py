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
