"""Binarized MNIST in its official form (Larochelle & Murray 2011): `binarized_mnist_train.amat`, `_valid.amat`,
`_test.amat` (50,000 / 10,000 / 10,000 lines), each line 784 space-separated 0/1 values of one 28x28 digit, row by
row. The fixed binarization the PixelRNN paper's 79.20 nats is measured on.
"""
import dataclasses
import os

import numpy as np

from imgtf.errors import CorruptDataError, DataNotFoundError
from imgtf.data.sources import partial_notice

FILE_SPLIT = {"train": "train", "validation": "valid", "test": "test"}
OFFICIAL_COUNTS = {"train": 50000, "validation": 10000, "test": 10000}
PIXELS = 784
DOWNLOAD_HINT = ("Download binarized_mnist_train.amat, binarized_mnist_valid.amat and binarized_mnist_test.amat "
                 "(http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/) into --data_dir, or prepare "
                 "tensorflow-datasets' binarized_mnist there.")


@dataclasses.dataclass
class BinarizedSplit:
    images: np.ndarray  # uint8 [N, 28, 28, 1], values 0 and 1
    source: str
    notice: str = ""  # non-empty when the copy is partial


def file_name(split):
    return f"binarized_mnist_{FILE_SPLIT[split]}.amat"


def find_file(data_dir, split):
    """The split's .amat file under data_dir (or its binarized_mnist/ folder), or None."""
    if not data_dir:
        return None
    for sub in ("", "binarized_mnist"):
        path = os.path.join(os.path.expanduser(data_dir), sub, file_name(split))
        if os.path.isfile(path):
            return path
    return None


MAX_LINE = 4 * PIXELS  # bytes: a digit's line is 2 * 784 (values and spaces); anything much longer is not one


def parse(lines, path):
    """The lines of an .amat file (bytes, an iterable; see `lines_of`) -> uint8 [N, 28, 28, 1]; CorruptDataError
    naming the first bad line."""
    rows = []
    for number, line in enumerate(lines, 1):
        tokens = line.split()
        if not tokens:
            continue
        joined = b"".join(tokens)
        row = np.frombuffer(joined, np.uint8) - ord("0")
        if len(tokens) != PIXELS or len(joined) != PIXELS or (row > 1).any():
            shown = line[:60].decode("ascii", "replace")
            raise CorruptDataError(f"{path}, line {number}: expected {PIXELS} values of 0 or 1 separated by spaces; "
                                   f"found {len(tokens)} values ({shown!r}...). The file may be truncated or not a "
                                   f"binarized MNIST file. {DOWNLOAD_HINT}")
        rows.append(row)
    if not rows:
        raise CorruptDataError(f"{path} holds no digits. {DOWNLOAD_HINT}")
    return np.stack(rows).reshape(-1, 28, 28, 1)


def lines_of(f, path):
    """The lines of an open .amat file, each read up to MAX_LINE bytes: a longer line is refused without reading it
    whole (a file of one huge line would otherwise fill the memory before it could be refused)."""
    number = 0
    while True:
        line = f.readline(MAX_LINE + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE:
            raise CorruptDataError(f"{path}, line {number}: longer than {MAX_LINE} bytes (a digit's line is "
                                   f"{2 * PIXELS}): not a binarized MNIST file, or damaged. {DOWNLOAD_HINT}")
        yield line


def read_split(data_dir, split):
    """The binary digits of `split` ("train" | "validation" | "test"); DataNotFoundError when its file is absent."""
    if split not in FILE_SPLIT:
        raise ValueError(f"binarized MNIST has splits {sorted(FILE_SPLIT)}, not {split!r}.")
    path = find_file(data_dir, split)
    if path is None:
        raise DataNotFoundError(f"binarized MNIST {split} split: no {file_name(split)} under --data_dir={data_dir!r}. "
                                f"{DOWNLOAD_HINT}")
    try:
        with open(path, "rb") as f:
            images = parse(lines_of(f, path), path)
    except OSError as e:
        raise CorruptDataError(f"{path}: cannot read it ({e}).") from e
    expected = OFFICIAL_COUNTS[split]
    notice = partial_notice("binarized MNIST", split, path, len(images), expected) if len(images) < expected else ""
    return BinarizedSplit(images, path, notice)


def write(images, path):
    """uint8 [N, 28, 28, 1] of 0/1 -> an .amat file (how benchmarks turn real digits into this format)."""
    images = np.asarray(images).reshape(len(images), PIXELS)
    if images.dtype != np.uint8 or images.max(initial=0) > 1:
        raise ValueError("write takes uint8 images of 0 and 1.")
    text = np.full((len(images), 2 * PIXELS), ord(" "), np.uint8)
    text[:, 0::2] = images + ord("0")
    text[:, -1] = ord("\n")
    with open(path, "wb") as f:
        f.write(text.tobytes())
