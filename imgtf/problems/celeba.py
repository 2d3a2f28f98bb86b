"""CelebA aligned faces (Liu et al. 2015) for super-resolution (8 -> 32) and unconditional 32x32 generation.

Read from `img_align_celeba.zip` or the extracted `img_align_celeba/`, with the official split file
`list_eval_partition.txt` (0 train, 1 validation, 2 test). Faces are cropped as the paper's code did
(40 pixels off top and bottom, 20 off left and right: 178x218 -> 138x138) and area-resized.
A partial copy is used with a notice of how many listed images are missing, never silently.
"""
import functools
import os

from imgtf.data import archives, images, sources
from imgtf.data.indexed import IndexedExamples
from imgtf.errors import CorruptDataError, DataNotFoundError
from imgtf.problems.problem import Problem
from imgtf.registry import register_problem

PARTITION_FILE = "list_eval_partition.txt"
SPLIT_IDS = {"train": 0, "validation": 1, "test": 2}
CROP = (40, 20, 138, 138)  # top, left, height, width
DOWNLOAD_HINT = ("Download img_align_celeba.zip and list_eval_partition.txt (CelebA, 'Align&Cropped Images' and "
                 "'Eval') from https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html into --data_dir.")


@functools.lru_cache(maxsize=8)
def read_partition(path, _mtime):
    """{split: [file names]} from list_eval_partition.txt (CRLF or LF)."""
    splits = {name: [] for name in SPLIT_IDS}
    by_id = {v: k for k, v in SPLIT_IDS.items()}
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2 or not parts[1].isdigit() or int(parts[1]) not in by_id:
                raise CorruptDataError(f"{path}, line {number}: expected '<file>.jpg <0|1|2>', got {line.strip()!r}.")
            splits[by_id[int(parts[1])]].append(parts[0])
    return splits


@functools.lru_cache(maxsize=8)
def _available(source, kind, _mtime):
    if kind == "folder":
        return frozenset(os.listdir(source))
    with archives.open_zip(source) as z:
        return frozenset(os.path.basename(n) for n in z.namelist() if n.lower().endswith(".jpg"))


class CelebaProblem(Problem):
    """Base of the CelebA problems: official split, crop, area resize."""

    splits = ("train", "validation", "test")
    eval_split = "validation"
    target_size = 32
    low_res_size = None

    @property
    def image_shape(self):
        return (self.target_size, self.target_size, 3)

    @property
    def input_shape(self):
        return (self.low_res_size, self.low_res_size, 3) if self.low_res_size else None

    def _locate(self, data_dir):
        for kind, name in (("folder", "img_align_celeba"), ("zip", "img_align_celeba.zip")):
            path = os.path.join(data_dir or "", name)
            if data_dir and (os.path.isdir(path) if kind == "folder" else os.path.isfile(path)):
                return kind, path
        return None

    def _source(self, split, data_dir):
        """The split's official files (an Official holding the present file names), else its prepared tfds copy."""
        return sources.find_split("CelebA", split, data_dir, self._official(split, data_dir), tfds_name="celeb_a",
                                  looked_for=("img_align_celeba/", "img_align_celeba.zip"), hint=DOWNLOAD_HINT)

    def _official(self, split, data_dir):
        """Official("folder" | "zip", path, names listed for `split` and present, partial notice), or None; errors
        when the images are there but the split file is missing or lists none of them."""
        self.check_split(split)
        where = self._locate(data_dir)
        if where is None:
            return None
        kind, source = where
        partition = os.path.join(data_dir, PARTITION_FILE)
        if not os.path.isfile(partition):
            raise DataNotFoundError(f"{partition} is missing: it defines CelebA's train/validation/test split. "
                                    f"{DOWNLOAD_HINT}")
        listed = read_partition(partition, os.path.getmtime(partition))[split]
        available = _available(source, kind, os.path.getmtime(source))
        present = [n for n in listed if n in available]
        if not present:
            raise DataNotFoundError(
                f"CelebA {split} split: none of the {len(listed)} images listed for it in {partition} is in {source}. "
                f"{DOWNLOAD_HINT}")
        notice = "" if len(present) == len(listed) else sources.partial_notice(
            "CelebA", split, source, len(present), len(listed), listed_in=PARTITION_FILE)
        return sources.Official(kind, source, present, notice)

    def indexed_examples(self, split, data_dir):
        found = self._source(split, data_dir)
        if not isinstance(found, sources.Official) or found.kind != "folder":
            return None  # the zip or tfds: streamed
        return IndexedExamples.from_columns({"name": [os.path.join(found.path, n) for n in found.content]})

    def examples(self, split, data_dir):
        import tensorflow as tf

        found = self._source(split, data_dir)
        if not isinstance(found, sources.Official):
            return found.map(lambda ex: {"encoded": tf.io.encode_jpeg(ex["image"], quality=100),
                                         "name": tf.constant("tfds celeb_a")})
        kind, source, names = found.kind, found.path, found.content
        if kind == "folder":
            return super().examples(split, data_dir)

        def from_zip():
            with archives.open_zip(source) as z:
                members = {os.path.basename(n): n for n in z.namelist()}
                for n in names:
                    yield {"encoded": archives.read_member(z, z.getinfo(members[n]), source),
                           "name": f"{source}:{members[n]}"}

        return tf.data.Dataset.from_generator(
            from_zip, output_signature={"encoded": tf.TensorSpec((), tf.string), "name": tf.TensorSpec((), tf.string)})

    def preprocess(self, example):
        image, _ = images.tf_decode(images.encoded_bytes(example), example["name"])
        top, left, height, width = CROP
        face = image[top:top + height, left:left + width]
        return images.image_features(face, self.target_size, self.low_res_size)

    def num_examples(self, split, data_dir):
        found = self._official(split, data_dir)
        return len(found.content) if found else None


@register_problem
class Img2imgCeleba(CelebaProblem):
    """CelebA super-resolution: `inputs` 8x8 -> `targets` 32x32 of the 138x138 face crop (paper: 2.68 1D / 2.61 2D dev)."""

    low_res_size = 8


@register_problem
class ImageCeleba32(CelebaProblem):
    """CelebA 32x32 faces (138x138 crop, area-resized), unconditional."""
