"""Categorical distribution per sub-pixel over its intensity levels: 256-way for 8-bit images (van den Oord et al.
2016; the Image Transformer's 'cat'), 2-way for binary images (the PixelRNN paper's binarized MNIST)."""
import tensorflow as tf
from keras import ops

from imgtf.likelihoods.likelihood import Likelihood
from imgtf.registry import register_likelihood
from imgtf.likelihoods import random_numbers


@register_likelihood("categorical")
class Categorical(Likelihood):
    """num_levels-way softmax per sub-pixel; params: logits [..., H, W, C, num_levels]."""

    unit = "subpixel"

    def __init__(self, num_levels=256):
        if not 2 <= num_levels <= 256:
            raise ValueError(f"num_levels={num_levels}: a categorical likelihood takes 2 to 256 intensity levels.")
        self.num_levels = self.params_per_unit = int(num_levels)

    @classmethod
    def from_hparams(cls, hp, num_levels=256):
        return cls(num_levels)

    def log_prob(self, logits, values):
        logp = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
        onehot = ops.one_hot(ops.cast(values, "int32"), self.num_levels, dtype="float32")
        return ops.sum(logp * onehot, axis=-1)

    def channel_distributions(self, logits, values=None):
        return ops.log_softmax(ops.cast(logits, "float32"), axis=-1)

    def sample(self, logits, step, seed, temperature):
        """Gumbel-max on logits / temperature (the paper's tempered softmax): int32 [B]."""
        logits = tf.cast(logits, tf.float32)
        noise = random_numbers.gumbel(tf.shape(logits), seed, step, 0)
        return tf.argmax(logits / temperature + noise, axis=-1, output_type=tf.int32)
