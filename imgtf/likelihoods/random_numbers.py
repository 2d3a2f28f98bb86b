"""Reproducible random numbers for sampling: every uniform is a pure function of (seed, step, salt, element).

So the cached and the naive sampler, given the same parameters, draw the same values, which makes them comparable
bit for bit; likelihoods' `sample` methods take their randomness from here. The samplers give each image a seed of
its own (`image_seeds`: a hash of the call's seed and the image's index), so an image depends on its index and the
seed only, not on how many images are drawn with it (the decoder's images are the same at any batch size), and the
images of seed 0 and seed 1 share nothing.
"""
import tensorflow as tf


def _mix(x):
    """murmur3's 32-bit finaliser: a bijective avalanche of every bit (uint32 arithmetic wraps)."""
    def shift(v, n):
        return tf.bitwise.right_shift(v, tf.constant(n, tf.uint32))

    x = tf.bitwise.bitwise_xor(x, shift(x, 16)) * tf.constant(0x85EBCA6B, tf.uint32)
    x = tf.bitwise.bitwise_xor(x, shift(x, 13)) * tf.constant(0xC2B2AE35, tf.uint32)
    return tf.bitwise.bitwise_xor(x, shift(x, 16))


def image_seeds(seed, num_images, first=0):
    """The seeds (uint32 [num_images]) of images first .. first + num_images - 1 of a draw with `seed`: a hash of the
    two, so neighbouring seeds do not give shifted copies of one another's images."""
    index = tf.cast(tf.cast(first, tf.int32) + tf.range(num_images), tf.uint32)
    return _mix(_mix(tf.bitcast(tf.cast(seed, tf.int32), tf.uint32) + tf.constant(0x2545F491, tf.uint32))
                + index * tf.constant(0x9E3779B9, tf.uint32))


def uniform(shape, seed, step, salt):
    """Uniforms in (0, 1) that are a pure function of (seed, step, salt, element index). `seed` is a scalar, or one
    seed per image ([shape[0]], from `image_seeds`), the index then counting within each image.

    A counter-based hash rather than tf.random.stateless_uniform: XLA's stateless Philox gives different
    numbers from TensorFlow's kernel when the seed is a runtime tensor, which would make compiled and
    eager samplers disagree. Integer hashing is bit-identical in eager, graph and XLA execution."""
    seed = tf.convert_to_tensor(seed)
    if seed.shape.rank == 1:  # one seed per image: a key per image [B, 1], the index within the image [1, P]
        index = tf.range(tf.reduce_prod(shape[1:]))[None, :]
        seed = seed[:, None]
    else:
        index = tf.range(tf.reduce_prod(shape))
    key = _mix(_mix(tf.cast(seed, tf.uint32) + tf.constant(0x9E3779B9, tf.uint32))
               + tf.cast(step * 4 + salt, tf.uint32) * tf.constant(0x85EBCA77, tf.uint32))
    bits = _mix(_mix(tf.cast(index, tf.uint32) * tf.constant(0x9E3779B1, tf.uint32) + key))
    values = (tf.cast(tf.bitwise.right_shift(bits, tf.constant(8, tf.uint32)), tf.float32) + 0.5) * (2.0 ** -24)
    return tf.reshape(values, shape)


def gumbel(shape, seed, step, salt):
    """Standard Gumbel noise: argmax(logits + gumbel) is a draw from softmax(logits)."""
    return -tf.math.log(-tf.math.log(uniform(shape, seed, step, salt)))
