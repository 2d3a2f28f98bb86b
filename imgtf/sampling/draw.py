"""Drawing one generation unit from its distribution's parameters, reproducibly.

Every random number is a stateless function of (seed, step, sample), so the cached and the naive sampler,
given the same parameters, draw the same values — that is what makes them comparable bit for bit.
"""
import tensorflow as tf


def _mix(x):
    """murmur3's 32-bit finaliser: a bijective avalanche of every bit (uint32 arithmetic wraps)."""
    def shift(v, n):
        return tf.bitwise.right_shift(v, tf.constant(n, tf.uint32))

    x = tf.bitwise.bitwise_xor(x, shift(x, 16)) * tf.constant(0x85EBCA6B, tf.uint32)
    x = tf.bitwise.bitwise_xor(x, shift(x, 13)) * tf.constant(0xC2B2AE35, tf.uint32)
    return tf.bitwise.bitwise_xor(x, shift(x, 16))


def _uniform(shape, seed, step, salt):
    """Uniforms in (0, 1) that are a pure function of (seed, step, salt, element index).

    A counter-based hash rather than tf.random.stateless_uniform: XLA's stateless Philox gives different
    numbers from TensorFlow's kernel when the seed is a runtime tensor, which would make compiled and
    eager samplers disagree. Integer hashing is bit-identical in eager, graph and XLA execution."""
    key = _mix(_mix(tf.cast(seed, tf.uint32) + tf.constant(0x9E3779B9, tf.uint32))
               + tf.cast(step * 4 + salt, tf.uint32) * tf.constant(0x85EBCA77, tf.uint32))
    index = tf.cast(tf.range(tf.reduce_prod(shape)), tf.uint32)
    bits = _mix(_mix(index * tf.constant(0x9E3779B1, tf.uint32) + key))
    values = (tf.cast(tf.bitwise.right_shift(bits, tf.constant(8, tf.uint32)), tf.float32) + 0.5) * (2.0 ** -24)
    return tf.reshape(values, shape)


def draw_categorical(logits, step, seed, temperature):
    """logits [B, 256] -> int32 [B]: Gumbel-max on logits / temperature (the paper's tempered softmax)."""
    gumbel = -tf.math.log(-tf.math.log(_uniform(tf.shape(logits), seed, step, 0)))
    return tf.argmax(logits / temperature + gumbel, axis=-1, output_type=tf.int32)


def draw_dmol(likelihood, params, step, seed, temperature):
    """params [B, 10K] -> int32 [B, 3]: pick a mixture component (logits / temperature), then R, G, B in
    turn from its discretised logistics (scales x temperature), each later channel's mean shifted by the
    *quantised* earlier channels, as in the model's likelihood: an exact draw from the discrete joint."""
    logits, means, log_scales, coeffs = likelihood.split(params)
    k = likelihood.num_mixtures
    gumbel = -tf.math.log(-tf.math.log(_uniform(tf.shape(logits), seed, step, 1)))
    pick = tf.one_hot(tf.argmax(logits / temperature + gumbel, axis=-1), k, dtype=tf.float32)[:, None, :]
    means, log_scales, coeffs = (tf.reduce_sum(t * pick, axis=-1) for t in (means, log_scales, coeffs))  # [B, 3]
    u = _uniform(tf.shape(means), seed, step, 2)
    noise = tf.exp(log_scales) * temperature * (tf.math.log(u) - tf.math.log(1.0 - u))

    def quantise(x):
        return tf.clip_by_value(tf.round((x + 1.0) * 127.5), 0.0, 255.0)

    r = quantise(means[:, 0] + noise[:, 0])
    g = quantise(means[:, 1] + coeffs[:, 0] * (r / 127.5 - 1.0) + noise[:, 1])
    b = quantise(means[:, 2] + coeffs[:, 1] * (r / 127.5 - 1.0) + coeffs[:, 2] * (g / 127.5 - 1.0) + noise[:, 2])
    return tf.cast(tf.stack([r, g, b], axis=-1), tf.int32)


def draw(likelihood, params, step, seed, temperature):
    """Values of one unit: int32 [B] (sub-pixel) or [B, 3] (pixel)."""
    params = tf.cast(params, tf.float32)
    if likelihood.unit == "subpixel":
        return draw_categorical(params, step, seed, temperature)
    return draw_dmol(likelihood, params, step, seed, temperature)
