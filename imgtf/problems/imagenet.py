"""Downsampled ImageNet (van den Oord et al. 2016): 32x32 and 64x64 PNGs, no labels.

Read from the official archives `train_32x32.tar` / `valid_32x32.tar` (streamed, never extracted), their
extracted folders `train_32x32/` / `valid_32x32/`, or tensorflow-datasets' `downsampled_imagenet/32x32`
when prepared locally. Likewise for 64x64.
"""
import functools
import os

from imgtf.data import archives, images, sources
from imgtf.data.indexed import IndexedExamples
from imgtf.problems.problem import Problem
from imgtf.registry import register_problem

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
        """The split's official files (an Official counting its images), else its prepared tfds dataset."""
        self.check_split(split)
        stem = f"{_FILE_SPLIT[split]}_{self.size}x{self.size}"
        hint = (f"Download {stem}.tar from https://image-net.org/download-images (Downsampled ImageNet, "
                f"{self.size}x{self.size}) into --data_dir; it is read without extracting.")
        return sources.find_split(self._title, split, data_dir, self._official(split, data_dir),
                                  tfds_name=f"downsampled_imagenet/{self.size}x{self.size}",
                                  looked_for=(f"{stem}.tar", f"{stem}/"), hint=hint)

    @property
    def _title(self):
        return f"Downsampled ImageNet {self.size}x{self.size}"

    def _official(self, split, data_dir):
        """Official("folder" | "tar", path, image count, partial notice) for `split`, or None."""
        where = self.locate(split, data_dir)
        if where is None:
            return None
        kind, path = where
        count = _count(path, os.path.getmtime(path))
        notice = "" if count >= OFFICIAL_COUNTS[split] else sources.partial_notice(
            self._title, split, path, count, OFFICIAL_COUNTS[split])
        return sources.Official(kind, path, count, notice)

    def indexed_examples(self, split, data_dir):
        found = self._source(split, data_dir)
        if not isinstance(found, sources.Official) or found.kind != "folder":
            return None  # an archive or tfds: streamed
        return IndexedExamples.from_columns({"name": archives.list_images(found.path)})

    def examples(self, split, data_dir):
        import tensorflow as tf

        found = self._source(split, data_dir)
        if not isinstance(found, sources.Official):
            return found.map(lambda ex: {"encoded": tf.io.encode_png(ex["image"]), "name": tf.constant("tfds")})
        kind, source = found.kind, found.path
        if kind == "folder":
            return super().examples(split, data_dir)
        return tf.data.Dataset.from_generator(
            lambda: ({"encoded": data, "name": f"{source}:{name}"} for name, data in archives.iter_tar_images(source)),
            output_signature={"encoded": tf.TensorSpec((), tf.string), "name": tf.TensorSpec((), tf.string)})

    def preprocess(self, example):
        image, _ = images.tf_decode(images.encoded_bytes(example), example["name"])
        return images.image_features(image, self.size)  # identity for official files; resizes odd ones

    def num_examples(self, split, data_dir):
        found = self._source(split, data_dir)
        return found.content if isinstance(found, sources.Official) else OFFICIAL_COUNTS[split]


@register_problem
class ImageImagenet32(DownsampledImagenet):
    """Downsampled ImageNet 32x32 (train_32x32.tar / valid_32x32.tar or tfds); paper: 3.77 bits/dim validation."""

    size = 32


@register_problem
class ImageImagenet64(DownsampledImagenet):
    """Downsampled ImageNet 64x64 (train_64x64.tar / valid_64x64.tar or tfds); PixelRNN: 3.63 bits/dim."""

    size = 64
