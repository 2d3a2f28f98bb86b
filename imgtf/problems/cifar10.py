"""CIFAR-10 (Krizhevsky 2009): 32x32 colour images of 10 classes; 50,000 train / 10,000 test."""
import functools
import os

from imgtf.data import cifar, sources
from imgtf.data.indexed import IndexedExamples
from imgtf.problems.problem import Problem
from imgtf.registry import register_problem

OFFICIAL_COUNTS = {"train": 50000, "test": 10000}


@functools.lru_cache(maxsize=8)
def _read_cached(data_dir, split, _mtime):
    return cifar.read_split(data_dir, split)


def _mtime(data_dir):
    where = cifar.locate(data_dir)
    return os.path.getmtime(where[1]) if where else None


@register_problem
class ImageCifar10(Problem):
    """CIFAR-10 32x32 images with labels, from cifar-10-python.tar.gz, cifar-10-batches-py/ or tfds cifar10."""

    image_shape = (32, 32, 3)
    num_classes = 10
    splits = ("train", "test")

    def _source(self, split, data_dir):
        """The split's official files (an Official holding a CifarSplit), else its prepared tfds dataset."""
        return sources.find_split("CIFAR-10", split, data_dir, self._official(split, data_dir), tfds_name="cifar10",
                                  looked_for=(f"{cifar.FOLDER}/", cifar.ARCHIVE), hint=cifar.DOWNLOAD_HINT)

    def _official(self, split, data_dir):
        """Official("folder" | "tar", path, CifarSplit read, its partial notice), or None: no CIFAR-10 files."""
        where = cifar.locate(data_dir)
        if where is None:
            return None
        data = _read_cached(data_dir, split, _mtime(data_dir))
        return sources.Official(*where, data, data.notice)

    def indexed_examples(self, split, data_dir):
        self.check_split(split)
        found = self._source(split, data_dir)
        if not isinstance(found, sources.Official):
            return None
        return IndexedExamples.from_columns({"targets": found.content.images, "label": found.content.labels})

    def examples(self, split, data_dir):
        found = self._source(split, data_dir)
        if isinstance(found, sources.Official):
            return super().examples(split, data_dir)
        return found.map(lambda ex: {"targets": ex["image"], "label": ex["label"]})

    def preprocess(self, example):
        import tensorflow as tf

        return {"targets": tf.ensure_shape(tf.cast(example["targets"], tf.uint8), self.image_shape),
                "label": tf.cast(example["label"], tf.int32)}

    def num_examples(self, split, data_dir):
        found = self._source(split, data_dir)
        return len(found.content.images) if isinstance(found, sources.Official) else OFFICIAL_COUNTS[split]


def area_downsample(images, size):
    """uint8 [..., H, W, 3] -> uint8 [..., h, w, 3]: area interpolation (block means), rounded to nearest."""
    import tensorflow as tf

    resized = tf.image.resize(tf.cast(images, tf.float32), size, method="area")
    return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)


@register_problem
class Img2imgCifar10(ImageCifar10):
    """CIFAR-10 super-resolution: `inputs` 8x8 (area interpolation) -> `targets` 32x32 (paper 5.3: 2.76 / 2.78)."""

    input_shape = (8, 8, 3)

    def preprocess(self, example):
        features = super().preprocess(example)
        features["inputs"] = area_downsample(features["targets"], self.input_shape[:2])
        return features
