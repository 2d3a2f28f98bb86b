"""CelebA aligned faces (Liu et al. 2015) for super-resolution (8 -> 32) and unconditional 32x32 generation.

Read from `img_align_celeba.zip` or the extracted `img_align_celeba/`, with the official split file
`list_eval_partition.txt` (0 train, 1 validation, 2 test). Faces are cropped as the paper's code did
(40 pixels off top and bottom, 20 off left and right: 178x218 -> 138x138) and area-resized.
A partial copy is used with a notice of how many listed images are missing, never silently.
"""
import functools
import logging
import os

from imgtf.data import archives, images
from imgtf.data.errors import CorruptDataError, DataNotFoundError
from imgtf.data.tfds_source import load_prepared
from imgtf.problems.problem import Problem
from imgtf.registry import register_problem

log = logging.getLogger("imgtf")
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

    def _files(self, split, data_dir):
        """(kind, source, names present) for `split`; notices / errors about partial or missing data."""
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
        if len(present) < len(listed):
            key = (source, split)
            if key not in _NOTICED:
                _NOTICED.add(key)
                log.warning("CelebA %s split at %s is a PARTIAL copy: %d of the %d images listed in %s are present "
                            "(%d missing). Using only these; bits/dim are not comparable with full-split results.",
                            split, source, len(present), len(listed), PARTITION_FILE, len(listed) - len(present))
        return kind, source, present

    def examples(self, split, data_dir):
        import tensorflow as tf

        found = self._files(split, data_dir)
        if found is None:
            try:
                ds = load_prepared("celeb_a", split, data_dir)
            except DataNotFoundError as e:
                raise DataNotFoundError(f"No CelebA under --data_dir={data_dir!r} (no img_align_celeba/ or "
                                        f"img_align_celeba.zip), and {e} {DOWNLOAD_HINT}") from None
            return ds.map(lambda ex: {"encoded": tf.io.encode_jpeg(ex["image"], quality=100),
                                      "name": tf.constant("tfds celeb_a")})
        kind, source, names = found
        if kind == "folder":
            files = [os.path.join(source, n) for n in names]
            return tf.data.Dataset.from_tensor_slices(files).map(
                lambda f: {"encoded": tf.io.read_file(f), "name": f}, num_parallel_calls=tf.data.AUTOTUNE)

        def from_zip():
            with archives.open_zip(source) as z:
                members = {os.path.basename(n): n for n in z.namelist()}
                for n in names:
                    yield {"encoded": z.read(members[n]), "name": f"{source}:{members[n]}"}

        return tf.data.Dataset.from_generator(
            from_zip, output_signature={"encoded": tf.TensorSpec((), tf.string), "name": tf.TensorSpec((), tf.string)})

    def preprocess(self, example):
        image, _ = images.tf_decode(example["encoded"], example["name"])
        top, left, height, width = CROP
        face = image[top:top + height, left:left + width]
        return images.image_features(face, self.target_size, self.low_res_size)

    def num_examples(self, split, data_dir):
        found = self._files(split, data_dir)
        return len(found[2]) if found else None


_NOTICED = set()


@register_problem
class Img2imgCeleba(CelebaProblem):
    """CelebA super-resolution: `inputs` 8x8 -> `targets` 32x32 of the 138x138 face crop (paper: 2.68 1D / 2.61 2D dev)."""

    low_res_size = 8


@register_problem
class ImageCeleba32(CelebaProblem):
    """CelebA 32x32 faces (138x138 crop, area-resized), unconditional."""
