"""The Problem base class: a dataset's splits, the features it yields, and its tf.data pipeline.

Features (per example, before batching):
  targets  uint8 [H, W, 3]   the image the model generates
  label    int32 []          class id, for problems with labels (`num_classes` set)
  inputs   uint8 [h, w, 3]   low-resolution image, for image-to-image problems (`input_shape` set)

A subclass implements `examples(split, data_dir)` (a tf.data.Dataset of raw examples, cheap to skip: no
decoding yet) and, if decoding or resizing is needed, `preprocess(example)`. The base class adds
sharding, shuffling, repetition, resumption (skip), parallel preprocessing, batching and prefetching.
"""
import logging

log = logging.getLogger("imgtf")


class Problem:
    """Base class of all problems; subclasses are registered with @register_problem."""

    image_shape = (32, 32, 3)
    input_shape = None  # (h, w, 3) for image-to-image problems
    num_classes = None  # int for problems with a `label` feature
    splits = ("train", "test")
    train_split = "train"
    eval_split = "test"

    @property
    def name(self):
        return getattr(type(self), "registered_name", type(self).__name__)

    @property
    def info(self):
        """What a model needs to know about this problem's features (saved in model configs)."""
        return {
            "image_shape": list(self.image_shape),
            "input_shape": list(self.input_shape) if self.input_shape else None,
            "num_classes": self.num_classes,
        }

    def check_split(self, split):
        if split not in self.splits:
            raise ValueError(f"problem {self.name!r} has splits {list(self.splits)}, not {split!r}.")

    # -- to implement -------------------------------------------------------------------------------
    def examples(self, split, data_dir):
        """Raw examples of `split` as an (unbatched) tf.data.Dataset."""
        raise NotImplementedError

    def preprocess(self, example):
        """Raw example -> features dict (see module docstring). Runs in parallel inside tf.data."""
        return example

    def num_examples(self, split, data_dir):
        """Number of examples in `split` as present under `data_dir` (None if unknown)."""
        return None

    # -- the pipeline ------------------------------------------------------------------------------
    def dataset(self, split, data_dir, batch_size, *, shuffle=False, repeat=False, seed=None, skip_batches=0,
                drop_remainder=False, input_context=None):
        """Batched features of `split`.

        shuffle/repeat: for training. With a seed, the order is a pure function of (seed, position), so a
        run resumed with `skip_batches=step` sees exactly the batches an uninterrupted run would have seen.
        input_context: a tf.distribute.InputContext; each input pipeline then reads its own shard.
        """
        import tensorflow as tf

        self.check_split(split)
        ds = self.examples(split, data_dir)
        if input_context is not None and input_context.num_input_pipelines > 1:
            ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
        if shuffle:
            n = self.num_examples(split, data_dir) or 10000
            ds = ds.shuffle(min(n, 100000), seed=seed, reshuffle_each_iteration=True)
        if repeat:
            ds = ds.repeat()
        if skip_batches:
            ds = ds.skip(skip_batches * batch_size)
        ds = ds.map(self.preprocess, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
        return ds.prefetch(tf.data.AUTOTUNE)
