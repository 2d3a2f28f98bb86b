"""256-way categorical distribution per sub-pixel (van den Oord et al. 2016; the Image Transformer's 'cat')."""
import tensorflow as tf
from keras import ops

from imgtf.likelihoods.likelihood import Likelihood
from imgtf.registry import register_likelihood
from imgtf.sampling import random_numbers


@register_likelihood("categorical")
class Categorical(Likelihood):
    """256-way softmax per sub-pixel; params: logits [..., H, W, C, 256]."""

    unit = "subpixel"
    params_per_unit = 256

    def log_prob(self, logits, values):
        logp = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
        onehot = ops.one_hot(ops.cast(values, "int32"), 256, dtype="float32")
        return ops.sum(logp * onehot, axis=-1)

    def channel_distributions(self, logits, values=None):
        return ops.log_softmax(ops.cast(logits, "float32"), axis=-1)

    def sample(self, logits, step, seed, temperature):
        """Gumbel-max on logits / temperature (the paper's tempered softmax): int32 [B]."""
        logits = tf.cast(logits, tf.float32)
        noise = random_numbers.gumbel(tf.shape(logits), seed, step, 0)
        return tf.argmax(logits / temperature + noise, axis=-1, output_type=tf.int32)
