"""MNIST (LeCun et al. 1998) and binarized MNIST (Larochelle & Murray 2011): 28x28 digits, results in nats per image.

image_mnist                 the official IDX files or tfds `mnist`: 256 levels and labels (60,000 / 10,000);
                            --problem_options=binarization=dynamic: binary images drawn afresh every epoch (1 with
                            probability intensity / 255), the evaluation split drawn once, alike in every run
image_binarized_mnist       the fixed binarization of the three .amat files or tfds `binarized_mnist` (50,000 /
                            10,000 / 10,000): the PixelRNN paper's 79.20 nats (Diagonal BiLSTM)

Results are comparable only under the same binarization: the fixed one and dynamic draws give different figures.
"""
import functools
import os

from imgtf.data import amat, idx, images, sources
from imgtf.data.indexed import IndexedExamples
from imgtf.problems.problem import Problem
from imgtf.registry import register_problem

BINARIZATIONS = ("none", "dynamic")


def _mtime(path):
    return os.path.getmtime(path) if path else None


@functools.lru_cache(maxsize=8)
def _read_idx(data_dir, split, _mtime):
    return idx.read_split(data_dir, split)


@functools.lru_cache(maxsize=8)
def _read_amat(data_dir, split, _mtime):
    return amat.read_split(data_dir, split)


class _Digits(Problem):
    """What both MNIST problems share: 28x28x1 digits held in memory, found as official files or in tfds."""

    image_shape = (28, 28, 1)
    dataset_name = tfds_name = ""

    def _official(self, split, data_dir):
        raise NotImplementedError

    def _source(self, split, data_dir):
        """The split's official files (an Official holding the arrays read), else its prepared tfds dataset."""
        return sources.find_split(self.dataset_name, split, data_dir, self._official(split, data_dir),
                                  tfds_name=self.tfds_name, looked_for=self.looked_for(split), hint=self.hint)

    def indexed_examples(self, split, data_dir):
        self.check_split(split)
        found = self._source(split, data_dir)
        if not isinstance(found, sources.Official):
            return None
        return IndexedExamples.from_columns(self.columns(found.content))

    def examples(self, split, data_dir):
        found = self._source(split, data_dir)
        if isinstance(found, sources.Official):
            return super().examples(split, data_dir)
        return found.map(self.from_tfds)

    def num_examples(self, split, data_dir):
        found = self._source(split, data_dir)
        if isinstance(found, sources.Official):
            return len(found.content.images)
        return self.official_counts[split]


@register_problem
class ImageMnist(_Digits):
    """MNIST digits with labels from the official IDX files (gzipped or not) or tfds mnist;
    --problem_options=binarization=dynamic for binary images drawn each epoch."""

    num_classes = 10
    splits = ("train", "test")
    dataset_name, tfds_name, hint = "MNIST", "mnist", idx.DOWNLOAD_HINT
    official_counts = idx.OFFICIAL_COUNTS
    binarization = "none"  # "none": 256 levels; "dynamic": binary, a fresh Bernoulli draw per epoch
    configurable = ("binarization",)

    def configure(self, options):
        changed = super().configure(options)
        if self.binarization not in BINARIZATIONS:
            from imgtf.hparams.hparams import HParamsError

            bad, self.binarization = self.binarization, "none"
            raise HParamsError(f"problem option binarization={bad!r}: use one of {', '.join(BINARIZATIONS)} "
                               "(the fixed binarization of the .amat files is problem image_binarized_mnist).")
        return changed

    @property
    def num_levels(self):
        return 2 if self.binarization == "dynamic" else 256

    @property
    def draws(self):
        return self.binarization == "dynamic"

    @property
    def result_fields(self):
        return {"binarization": self.binarization}

    def looked_for(self, split):
        return (idx.file_names(split, "images")[0], idx.file_names(split, "labels")[0])

    def _official(self, split, data_dir):
        path = idx.find_file(data_dir, split, "images")
        if path is None:
            return None
        data = _read_idx(data_dir, split, _mtime(path))
        return sources.Official("idx", path, data, data.notice)

    def columns(self, data):
        return {"targets": data.images, "label": data.labels}

    def from_tfds(self, example):
        return {"targets": example["image"], "label": example["label"]}

    def preprocess(self, example):
        import tensorflow as tf

        return {"targets": tf.ensure_shape(tf.cast(example["targets"], tf.uint8), self.image_shape),
                "label": tf.cast(example["label"], tf.int32)}

    def draw(self, features, key):
        """Dynamic binarisation: 1 with probability intensity / 255, drawn from `key` (this epoch's, or the
        evaluation's fixed one)."""
        return {**features, "targets": images.binarize_stochastic(features["targets"], key)}


@register_problem
class ImageBinarizedMnist(_Digits):
    """Binarized MNIST, the fixed binarization of Larochelle & Murray: binarized_mnist_{train,valid,test}.amat or
    tfds binarized_mnist; values 0/1, no labels."""

    num_levels = 2
    splits = ("train", "validation", "test")
    dataset_name, tfds_name, hint = "binarized MNIST", "binarized_mnist", amat.DOWNLOAD_HINT
    official_counts = amat.OFFICIAL_COUNTS

    result_fields = {"binarization": "fixed"}  # Larochelle & Murray's, as published

    def looked_for(self, split):
        return (amat.file_name(split),)

    def _official(self, split, data_dir):
        path = amat.find_file(data_dir, split)
        if path is None:
            return None
        data = _read_amat(data_dir, split, _mtime(path))
        return sources.Official("amat", path, data, data.notice)

    def columns(self, data):
        return {"targets": data.images}

    def from_tfds(self, example):
        return {"targets": example["image"]}

    def preprocess(self, example):
        import tensorflow as tf

        return {"targets": tf.ensure_shape(tf.cast(example["targets"], tf.uint8), self.image_shape)}
