"""CIFAR-10 (Krizhevsky 2009): 32x32 colour images of 10 classes; 50,000 train / 10,000 test."""
import functools
import logging
import os

from imgtf.data import cifar
from imgtf.data.errors import DataNotFoundError
from imgtf.data.tfds_source import load_prepared
from imgtf.problems.problem import Problem
from imgtf.registry import register_problem

log = logging.getLogger("imgtf")


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

    def _read(self, split, data_dir):
        """(CifarSplit or None, tfds dataset or None); raises a DataNotFoundError that says what to do."""
        if cifar.locate(data_dir) is not None:
            data = _read_cached(data_dir, split, _mtime(data_dir))
            if data.notice and (data_dir, split) not in _NOTICED:
                _NOTICED.add((data_dir, split))
                log.warning(data.notice)
            return data, None
        try:
            return None, load_prepared("cifar10", split, data_dir)
        except DataNotFoundError as e:
            raise DataNotFoundError(
                f"No CIFAR-10 found under --data_dir={data_dir!r}: no {cifar.FOLDER}/, no {cifar.ARCHIVE}, "
                f"and {e} {cifar.DOWNLOAD_HINT}"
            ) from None

    def examples(self, split, data_dir):
        import tensorflow as tf

        self.check_split(split)
        data, tfds_ds = self._read(split, data_dir)
        if data is not None:
            return tf.data.Dataset.from_tensor_slices({"targets": data.images, "label": data.labels})
        return tfds_ds.map(lambda ex: {"targets": ex["image"], "label": ex["label"]})

    def preprocess(self, example):
        import tensorflow as tf

        return {"targets": tf.ensure_shape(tf.cast(example["targets"], tf.uint8), self.image_shape),
                "label": tf.cast(example["label"], tf.int32)}

    def num_examples(self, split, data_dir):
        data, _ = self._read(split, data_dir)
        return len(data.images) if data is not None else {"train": 50000, "test": 10000}[split]


_NOTICED = set()


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
