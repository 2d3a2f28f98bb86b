"""The order in which training reads a split: a pure function of (seed, position), so any position is reached in O(1).

Position g of the training stream (g = step x global batch + place in the batch) reads example
index_shuffle(g mod size) of the permutation drawn for epoch g div size. Every epoch is a full, fresh permutation
of the split (not the window of a shuffle buffer), and a run resumed at step s starts reading at position
s x global batch directly: it reads none of the examples before it, yet sees exactly the batches an uninterrupted run
would have seen.
"""
import sys


def shuffled_indices(size, seed, start=0, block=1, pipeline=0, num_pipelines=1, with_epoch=False):
    """An endless tf.data.Dataset of int64 example indices in [0, size): the training order as read by input pipeline
    `pipeline` of `num_pipelines`. The pipelines take turns, `block` positions each (their per-replica batch), so
    together they read the global stream; `start` is the number of elements this pipeline has already read.
    with_epoch: (index, epoch) pairs, for problems that draw per epoch (Problem.draw)."""
    import tensorflow as tf

    if size < 1:
        raise ValueError(f"cannot shuffle an empty split (size={size}).")
    seed = tf.constant(int(seed), tf.int64)
    stride = block * num_pipelines

    def index(k):
        g = (k // block) * stride + pipeline * block + k % block
        i = tf.random.experimental.index_shuffle(g % size, seed=epoch_key(seed, g // size),
                                                 max_index=tf.constant(size - 1, tf.int64))
        return (i, g // size) if with_epoch else i

    return tf.data.Dataset.range(int(start), sys.maxsize).map(index)


def epoch_key(seed, epoch):
    """The permutation key of one epoch: (seed, epoch) hashed into two random 64-bit words. index_shuffle reads only
    the low bits of its key's words (8 per word for splits under ~10^6 examples), so passing (seed, epoch) as they
    are would repeat the epoch-0 order at epoch 256 and give seeds 3 and 259 the same order."""
    import tensorflow as tf

    return tf.random.stateless_uniform([2], seed=tf.stack([seed, epoch]), minval=None, maxval=None, dtype=tf.int64)


def draw_key(seed, epoch, index):
    """int32 [2]: the stateless seed of the random draws of example `index` in `epoch` (Problem.draw), a pure
    function of the three, so a resumed run draws what an uninterrupted one would have. Reads outside the training
    stream (evaluation) use epoch -1 with seed 0: one fixed draw per example, the same in every run."""
    import tensorflow as tf

    key = tf.stack([tf.cast(seed, tf.int32), tf.constant(0x5EED, tf.int32)])
    key = tf.random.experimental.stateless_fold_in(key, tf.cast(epoch, tf.int32))
    return tf.random.experimental.stateless_fold_in(key, tf.cast(index, tf.int32))
