"""Downsampled ImageNet (van den Oord et al. 2016): 32x32 and 64x64 PNGs, no labels.

Read from the official archives `train_32x32.tar` / `valid_32x32.tar` (streamed, never extracted), their
extracted folders `train_32x32/` / `valid_32x32/`, or tensorflow-datasets' `downsampled_imagenet/32x32`
when prepared locally. Likewise for 64x64.
"""
import functools
import logging
import os

from imgtf.data import archives, images
from imgtf.data.errors import DataNotFoundError
from imgtf.data.tfds_source import load_prepared
from imgtf.problems.problem import Problem
from imgtf.registry import register_problem

log = logging.getLogger("imgtf")
OFFICIAL_COUNTS = {"train": 1281149, "validation": 49999}
_FILE_SPLIT = {"train": "train", "validation": "valid"}


@functools.lru_cache(maxsize=16)
def _count(path, _mtime):
    if os.path.isdir(path):
        return len(archives.list_images(path))
    return archives.count_tar_images(path)


class DownsampledImagenet(Problem):
    """Base of the downsampled-ImageNet problems (size set by subclasses)."""

    size = 32
    splits = ("train", "validation")
    eval_split = "validation"

    @property
    def image_shape(self):
        return (self.size, self.size, 3)

    def locate(self, split, data_dir):
        """("folder" | "tar", path) of the official files for `split`, or None."""
        stem = f"{_FILE_SPLIT[split]}_{self.size}x{self.size}"
        for path, kind in ((os.path.join(data_dir or "", stem), "folder"),
                           (os.path.join(data_dir or "", stem + ".tar"), "tar")):
            if data_dir and (os.path.isdir(path) if kind == "folder" else os.path.isfile(path)):
                return kind, path
        return None

    def _source(self, split, data_dir):
        self.check_split(split)
        where = self.locate(split, data_dir)
        if where is not None:
            return where
        stem = f"{_FILE_SPLIT[split]}_{self.size}x{self.size}"
        try:
            return "tfds", load_prepared(f"downsampled_imagenet/{self.size}x{self.size}", split, data_dir)
        except DataNotFoundError as e:
            raise DataNotFoundError(
                f"No downsampled ImageNet {self.size}x{self.size} {split} split under --data_dir={data_dir!r}: "
                f"no {stem}.tar, no {stem}/, and {e} Download {stem}.tar from https://image-net.org/download-images "
                f"(Downsampled ImageNet, {self.size}x{self.size}) into --data_dir; it is read without extracting.") from None

    def examples(self, split, data_dir):
        import tensorflow as tf

        kind, source = self._source(split, data_dir)
        self._announce(split, kind, source)
        if kind == "tfds":
            return source.map(lambda ex: {"encoded": tf.io.encode_png(ex["image"]), "name": tf.constant("tfds")})
        if kind == "folder":
            files = archives.list_images(source)
            return tf.data.Dataset.from_tensor_slices(files).map(
                lambda f: {"encoded": tf.io.read_file(f), "name": f}, num_parallel_calls=tf.data.AUTOTUNE)
        return tf.data.Dataset.from_generator(
            lambda: ({"encoded": data, "name": f"{source}:{name}"} for name, data in archives.iter_tar_images(source)),
            output_signature={"encoded": tf.TensorSpec((), tf.string), "name": tf.TensorSpec((), tf.string)})

    def _announce(self, split, kind, source):
        if kind == "tfds":
            return
        n = _count(source, os.path.getmtime(source))
        if n < OFFICIAL_COUNTS[split]:
            log.warning("Downsampled ImageNet %dx%d %s at %s is a PARTIAL copy: %d of %d images. Using only these; "
                        "bits/dim are not comparable with full-split results.", self.size, self.size, split, source,
                        n, OFFICIAL_COUNTS[split])

    def preprocess(self, example):
        image, _ = images.tf_decode(example["encoded"], example["name"])
        return images.image_features(image, self.size)  # identity for official files; resizes odd ones

    def num_examples(self, split, data_dir):
        kind, source = self._source(split, data_dir)
        return OFFICIAL_COUNTS[split] if kind == "tfds" else _count(source, os.path.getmtime(source))


@register_problem
class ImageImagenet32(DownsampledImagenet):
    """Downsampled ImageNet 32x32 (train_32x32.tar / valid_32x32.tar or tfds); paper: 3.77 bits/dim validation."""

    size = 32


@register_problem
class ImageImagenet64(DownsampledImagenet):
    """Downsampled ImageNet 64x64 (train_64x64.tar / valid_64x64.tar or tfds); PixelRNN: 3.63 bits/dim."""

    size = 64
