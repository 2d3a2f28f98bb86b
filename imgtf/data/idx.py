"""MNIST in its official IDX form (LeCun et al. 1998): `train-images-idx3-ubyte` / `train-labels-idx1-ubyte` and the
`t10k-` pair, each gzipped (`.gz`, as published) or not.

An IDX file is a big-endian header (magic 2051 for images, 2049 for labels, then the sizes) and the uint8 values.
A copy with fewer digits than the official split whose header agrees with its length is a partial copy (used, with a
notice); a file shorter than its own header says is truncated, and refused.
"""
import dataclasses
import gzip
import os
import struct
import zlib

import numpy as np

from imgtf.errors import CorruptDataError, DataNotFoundError
from imgtf.data.sources import partial_notice

PREFIX = {"train": "train", "test": "t10k"}
OFFICIAL_COUNTS = {"train": 60000, "test": 10000}
IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049
SUBFOLDERS = ("", "mnist", os.path.join("MNIST", "raw"))  # --data_dir itself, and torchvision's layout
DOWNLOAD_HINT = ("Download the four MNIST files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
                 "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz, from a mirror of "
                 "http://yann.lecun.com/exdb/mnist/) into --data_dir, gzipped or not, or prepare tensorflow-datasets' "
                 "mnist there.")


@dataclasses.dataclass
class MnistSplit:
    images: np.ndarray  # uint8 [N, 28, 28, 1]
    labels: np.ndarray  # int64 [N]
    source: str
    notice: str = ""  # non-empty when the copy is partial


def file_names(split, kind):
    """The names a split's `kind` ("images" | "labels") file goes by: official, then with a dot (as some mirrors
    write them), each gzipped or not."""
    stem = f"{PREFIX[split]}-{kind}"
    dims = "idx3" if kind == "images" else "idx1"
    names = [f"{stem}-{dims}-ubyte", f"{stem}.{dims}-ubyte"]
    return [name + ext for name in names for ext in (".gz", "")]


def find_file(data_dir, split, kind):
    """The path of a split's images or labels file under data_dir (or its mnist/ or MNIST/raw/ folder), or None."""
    if not data_dir:
        return None
    for sub in SUBFOLDERS:
        for name in file_names(split, kind):
            path = os.path.join(os.path.expanduser(data_dir), sub, name)
            if os.path.isfile(path):
                return path
    return None


MAX_ENTRIES = 1_000_000  # a header declaring more (16x the official train split) is refused before anything is read


def read_idx(path, magic):
    """The uint8 array of one IDX file ([N, 28, 28] images or [N] labels); CorruptDataError naming the file when it
    is not IDX of this kind, or shorter or longer than its header says. The header is checked first and the values are
    read in a stream up to the size it declares, so a small file that decompresses into gigabytes (or declares them)
    is refused after reading at most what the header promised."""
    dims = 3 if magic == IMAGES_MAGIC else 1
    header = 4 + 4 * dims
    try:
        with (gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")) as f:
            head = f.read(header)
            if len(head) < 4 or struct.unpack(">I", head[:4])[0] != magic:
                found = struct.unpack(">I", head[:4])[0] if len(head) >= 4 else None
                raise CorruptDataError(f"{path}: not an MNIST {'images' if dims == 3 else 'labels'} file (IDX magic "
                                       f"{magic} expected, found {found}). {DOWNLOAD_HINT}")
            if len(head) < header:
                raise CorruptDataError(f"{path}: its header is cut short: the file is truncated. {DOWNLOAD_HINT}")
            shape = struct.unpack(f">{dims}I", head[4:])
            if dims == 3 and tuple(shape[1:]) != (28, 28):
                raise CorruptDataError(f"{path}: images of {shape[1]}x{shape[2]}; MNIST images are 28x28.")
            if shape[0] > MAX_ENTRIES:
                raise CorruptDataError(f"{path}: its header declares {shape[0]} entries; MNIST files hold at most "
                                       f"{max(OFFICIAL_COUNTS.values())} (imgtf reads up to {MAX_ENTRIES}). The "
                                       f"file is damaged or not MNIST. {DOWNLOAD_HINT}")
            expected = int(np.prod(shape))
            values = np.empty(expected, np.uint8)
            view, filled = memoryview(values), 0
            while filled < expected:
                count = f.readinto(view[filled:])
                if not count:
                    break
                filled += count
            longer = bool(f.read(1))
    except (OSError, EOFError, zlib.error) as e:
        raise CorruptDataError(f"{path}: cannot read it ({type(e).__name__}: {e}); it may be truncated. Download it "
                               f"again. {DOWNLOAD_HINT}") from e
    if filled != expected or longer:
        held = "more than that" if longer else str(filled)
        raise CorruptDataError(f"{path}: its header says {shape[0]} entries of shape {list(shape[1:])} "
                               f"({expected} bytes) but it holds {held}: the file is truncated or "
                               f"damaged. Download it again. {DOWNLOAD_HINT}")
    return values.reshape(shape)


def read_split(data_dir, split):
    """Images and labels of MNIST `split` ("train" | "test") under data_dir; DataNotFoundError when absent."""
    if split not in PREFIX:
        raise ValueError(f"MNIST has splits {sorted(PREFIX)}, not {split!r}.")
    images_path, labels_path = find_file(data_dir, split, "images"), find_file(data_dir, split, "labels")
    if images_path is None or labels_path is None:
        missing = file_names(split, "images")[0] if images_path is None else file_names(split, "labels")[0]
        raise DataNotFoundError(f"MNIST {split} split: no {missing} (or its unzipped form) under "
                                f"--data_dir={data_dir!r}. {DOWNLOAD_HINT}")
    images, labels = read_idx(images_path, IMAGES_MAGIC), read_idx(labels_path, LABELS_MAGIC)
    if len(images) != len(labels):
        raise CorruptDataError(f"{images_path} holds {len(images)} digits but {labels_path} {len(labels)} labels: "
                               "they are not one pair of files. Download both again.")
    if labels.size and labels.max() > 9:
        raise CorruptDataError(f"{labels_path}: labels must be 0..9; found {int(labels.max())}.")
    expected = OFFICIAL_COUNTS[split]
    notice = (partial_notice("MNIST", split, os.path.dirname(images_path), len(images), expected)
              if len(images) < expected else "")
    return MnistSplit(images[..., None], labels.astype(np.int64), images_path, notice)


def write_idx(array, path):
    """uint8 [N, 28, 28] images or [N] labels -> an IDX file (gzipped when `path` ends in .gz): how benchmarks and
    tests cut real digits into the official format."""
    array = np.ascontiguousarray(array, np.uint8)
    magic = IMAGES_MAGIC if array.ndim == 3 else LABELS_MAGIC
    data = struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.tobytes()
    with (gzip.open(path, "wb") if path.endswith(".gz") else open(path, "wb")) as f:
        f.write(data)
