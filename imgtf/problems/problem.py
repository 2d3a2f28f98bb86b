"""The Problem base class: a dataset's splits, the features it yields, and its tf.data pipeline.

Features (per example, before batching):
  targets  uint8 [H, W, C]   the image the model generates, values 0 .. num_levels - 1
  label    int32 []          class id, for problems with labels (`num_classes` set)
  inputs   uint8 [h, w, C]   low-resolution image, for image-to-image problems (`input_shape` set)

C is 3 (RGB) or 1 (grayscale); `num_levels` is 256 (8-bit intensities) or fewer: 2 for binary images, whose values
are 0 and 1 (the PixelRNN paper's binarized MNIST). `pixel_format` turns a resized RGB image into these values.

A subclass implements `indexed_examples(split, data_dir)` (an IndexedExamples: raw examples readable by index,
e.g. arrays or file names) or `examples(split, data_dir)` (a tf.data.Dataset of raw examples, for sources that can
only be streamed, e.g. archives) or both, and, if decoding or resizing is needed, `preprocess(example)`. The base
class adds the training order (imgtf.data.order: a fresh permutation per epoch, a pure function of seed and
position), distribution over input pipelines, resumption, parallel preprocessing, batching and prefetching, and
reads a split prepared by `imgtf-datagen` (DATA_DIR/<problem>/<split>.json) instead of the raw files when there is
one. A resumed run reads an indexed split from its position at once; a streamed one must read (and discard) the
examples before it. `preprocess` may return an "_ok" boolean: examples with False (skipped corrupt files) are
dropped. A problem that sets `draws = True` also implements `draw(features, key)`: random changes drawn afresh for
every example in every epoch of the training stream (dynamic binarisation), from a key that is a pure function of
(seed, epoch, example index), and once, alike in every run, for every other read (evaluation).

Problems with settings (image size, labels, ...) list them in `configurable`; users set them with
`--problem_options=key=value,...` (typed like hparams). `bind(data_dir)` lets a problem look at its data
before models are built (e.g. to find its class names).
"""
import functools
import json
import logging
import numbers

from imgtf.data import prepared as prepared_lib

log = logging.getLogger("imgtf")


class Problem:
    """Base class of all problems; subclasses are registered with @register_problem."""

    image_shape = (32, 32, 3)
    input_shape = None  # (h, w, C) for image-to-image problems
    num_levels = 256  # intensity levels per sub-pixel: 256 (8 bits), 2 (binary images), ...
    num_classes = None  # int for problems with a `label` feature
    splits = ("train", "test")
    train_split = "train"
    eval_split = "test"
    configurable = ()  # attribute names settable with --problem_options
    draws = False  # True: `draw` changes the features with random numbers (see the module docstring)

    @property
    def name(self):
        return getattr(type(self), "registered_name", type(self).__name__)

    @property
    def info(self):
        """What a model needs to know about this problem's features (saved in model configs and hparams.json).
        `num_levels` appears only when it is not 256 (models read a missing `num_levels` as 256)."""
        info = {
            "image_shape": list(self.image_shape),
            "input_shape": list(self.input_shape) if self.input_shape else None,
            "num_classes": self.num_classes,
        }
        if self.num_levels != 256:
            info["num_levels"] = int(self.num_levels)
        return info

    def configure(self, options):
        """Apply `--problem_options` ("key=value,..."), typed by the current values; returns what changed."""
        from imgtf.hparams.hparams import HParams, HParamsError

        class ProblemOptions(HParams):
            _kind = "problem option"

        if options and not self.configurable:
            raise HParamsError(f"problem {self.name!r} takes no --problem_options (got {options!r}).")
        values = ProblemOptions(**{k: getattr(self, k) for k in self.configurable})
        changed = values.parse(options or "", source="--problem_options")
        for key, value in changed.items():
            setattr(self, key, value)
        return changed

    def options(self):
        """The current values of the `configurable` settings (recorded with prepared data, which they shape)."""
        return {k: getattr(self, k) for k in self.configurable}

    def bind(self, data_dir):
        """Look at the data before a model is built (default: nothing to do)."""

    def check_split(self, split):
        if split not in self.splits:
            raise ValueError(f"problem {self.name!r} has splits {list(self.splits)}, not {split!r}.")

    # -- to implement -------------------------------------------------------------------------------
    def indexed_examples(self, split, data_dir):
        """Raw examples of `split` readable by index (an imgtf.data.indexed.IndexedExamples), or None when its
        source can only be streamed (then `examples` reads it)."""
        return None

    def examples(self, split, data_dir):
        """Raw examples of `split` as an (unbatched) tf.data.Dataset, in order (default: the indexed examples)."""
        table = self.indexed_examples(split, data_dir)
        if table is None:
            raise NotImplementedError(f"problem {self.name!r} implements neither indexed_examples nor examples.")
        return table.dataset()

    def preprocess(self, example):
        """Raw example -> features dict (see module docstring). Runs in parallel inside tf.data."""
        return example

    def draw(self, features, key):
        """Features after `preprocess` -> features with this epoch's random draws; `key` is an int32 [2] stateless
        seed (imgtf.data.order.draw_key). Used when `draws` is True."""
        return features

    @property
    def reported_metric(self):
        """What this problem's results are read in: "nats_per_image" for binary images (the convention of binarized
        MNIST results), "bits_per_dim" otherwise; the other is always shown beside it."""
        return "nats_per_image" if self.num_levels == 2 else "bits_per_dim"

    @property
    def result_fields(self):
        """What every evaluation record of this problem must say to be read right (e.g. which binarization), added
        to metrics.jsonl entries. Default: nothing."""
        return {}

    def pixel_format(self, image, seed=None):
        """A resized RGB image (float32 [h, w, 3] on the 0-255 scale, unrounded) -> uint8 [h, w, C] of this
        problem's channels and levels (default: RGB, rounded to 8 bits). `seed`: a per-image int32 [2] for formats
        that draw random numbers (stochastic binarisation). Used for the training data and for a user's own input
        images (imgtf-decoder --input_images), so both reach the model in the same form."""
        from imgtf.data import images

        return images.to_uint8(image)

    def num_examples(self, split, data_dir):
        """Number of examples in `split` as present under `data_dir` (None if unknown)."""
        return None

    # -- the pipeline ------------------------------------------------------------------------------
    def prepared(self, split, data_dir):
        """Metadata of this split prepared by imgtf-datagen under data_dir, or None. A preparation made with other
        --problem_options (another size, channel count, levels...) is refused rather than read as if it fit."""
        meta = prepared_lib.find(data_dir, self.name, split)
        now = json.loads(json.dumps(self.options()))  # as it reads back from the metadata
        if meta is not None and "options" in meta and meta["options"] != now:
            from imgtf.errors import CorruptDataError

            was = meta["options"]
            differ = sorted(k for k in set(was) | set(now) if was.get(k) != now.get(k))
            detail = ", ".join(f"{k}={was.get(k)!r} there, {now.get(k)!r} now" for k in differ)
            raise CorruptDataError(
                f"{meta['directory']}: {split} was prepared by imgtf-datagen with other problem options ({detail}). "
                f"Run imgtf-datagen again with these --problem_options, or remove {meta['directory']} to read the raw "
                "files.")
        if meta is not None:
            self._check_prepared_shapes(meta, split)
        return meta

    def _check_prepared_shapes(self, meta, split):
        """A preparation whose feature shapes are not this problem's (the same bytes per example in another layout,
        e.g. edited metadata) is refused before a model meets it."""
        from imgtf.errors import CorruptDataError

        expected = {"targets": self.image_shape, "inputs": self.input_shape}
        for key, shape in expected.items():
            got = meta.get("features", {}).get(key, {}).get("shape")
            if shape is not None and got is not None and list(got) != list(shape):
                raise CorruptDataError(
                    f"{meta['directory']}/{split}.json: prepared {key} have shape {list(got)}, but problem "
                    f"{self.name!r} has {key} of shape {list(shape)}. Run imgtf-datagen again, or remove "
                    f"{meta['directory']} to read the raw files.")

    def split_size(self, split, data_dir):
        """Examples in `split` as `dataset` reads it: the prepared arrays' count if imgtf-datagen prepared it
        under data_dir (the raw files need not be there), else num_examples of the raw files."""
        meta = self.prepared(split, data_dir)
        return meta["count"] if meta else self.num_examples(split, data_dir)

    def dataset(self, split, data_dir, batch_size, *, shuffle=False, repeat=False, seed=0, skip_batches=0,
                drop_remainder=False, input_context=None, prepared=True, draw=True):
        """Batched features of `split`.

        shuffle + repeat (training): the order of imgtf.data.order, a pure function of (seed, position), so a run
        resumed with `skip_batches` (the batches this pipeline has already read) sees exactly the batches an
        uninterrupted run would have seen. An indexed split starts there at once; a streamed one (an archive, tfds)
        reads and discards the examples before it, and shuffles in a buffer instead of by index.
        input_context: a tf.distribute.InputContext; the input pipelines take turns, a batch each.
        draw=False: the features before a drawing problem's random draws (what imgtf-datagen stores).
        """
        import tensorflow as tf

        self.check_split(split)
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise ValueError(f"batch_size must be a whole number >= 1 (images per batch); got {batch_size!r}.")
        meta = self.prepared(split, data_dir) if prepared else None
        table = (prepared_lib.indexed(meta) if meta else self.indexed_examples(split, data_dir))
        pipelines = input_context.num_input_pipelines if input_context is not None else 1
        pipeline = input_context.input_pipeline_id if input_context is not None else 0
        draws = self.draws and draw
        if shuffle and repeat and table is not None:
            from imgtf.data.order import shuffled_indices

            ds = shuffled_indices(table.size, seed, start=skip_batches * batch_size, block=batch_size,
                                  pipeline=pipeline, num_pipelines=pipelines, with_epoch=draws)
            gather = (lambda i, e: {**table.gather(i), _INDEX: i, _EPOCH: e}) if draws else table.gather
            ds = ds.batch(batch_size).map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).unbatch()
        else:
            ds = table.dataset() if table is not None else self.examples(split, data_dir)
            if draws:
                ds = ds.enumerate().map(lambda i, example: {**example, _INDEX: i, _EPOCH: tf.constant(-1, tf.int64)})
            ds = self._streamed_order(ds, split, data_dir, batch_size, shuffle, repeat, seed, skip_batches,
                                      pipeline, pipelines, draws)
        if not meta or draws:
            features = functools.partial(self._features, prepared=bool(meta), draws=draws, seed=seed if repeat else 0)
            ds = ds.map(features, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        if "_ok" in ds.element_spec:
            ds = ds.filter(_is_ok).map(_drop_ok)
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
        return ds.prefetch(tf.data.AUTOTUNE)

    def _features(self, example, prepared, draws, seed):
        """A raw example (or a prepared one) -> its features, with this epoch's draws when the problem draws."""
        extras = {k: example[k] for k in (_INDEX, _EPOCH) if k in example}
        example = {k: v for k, v in example.items() if k not in extras}
        features = example if prepared else self.preprocess(example)
        if draws:
            from imgtf.data.order import draw_key

            features = self.draw(features, draw_key(seed, extras[_EPOCH], extras[_INDEX]))
        return features

    def _streamed_order(self, ds, split, data_dir, batch_size, shuffle, repeat, seed, skip_batches, pipeline,
                        pipelines, draws=False):
        """Sharding, buffered shuffling, repetition and resumption of a split that can only be read in order (the
        epoch of a drawing problem's example is its position in the stream over the pipeline's share of the split)."""
        if pipelines > 1:
            ds = ds.shard(pipelines, pipeline)
        if shuffle:
            n = self.split_size(split, data_dir) or 10000
            ds = ds.shuffle(min(n, 100000), seed=seed, reshuffle_each_iteration=True)
        if repeat:
            ds = ds.repeat()
            if draws:
                share = max(-(-(self.split_size(split, data_dir) or 10000) // pipelines), 1)
                ds = ds.enumerate().map(lambda k, example: {**example, _EPOCH: k // share})
        if skip_batches:
            log.warning("Resuming: reading and discarding %d examples of %s %s first (its source can only be read in "
                        "order). Prepare it with imgtf-datagen to resume at once.", skip_batches * batch_size,
                        self.name, split)
            ds = ds.skip(skip_batches * batch_size)
        return ds


_INDEX, _EPOCH = "_index", "_epoch"  # carried to `draw` beside a drawing problem's raw examples


def _is_ok(features):
    return features["_ok"]


def _drop_ok(features):
    return {k: v for k, v in features.items() if k != "_ok"}
