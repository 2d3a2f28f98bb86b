"""CIFAR-10 in its official Python form: `cifar-10-python.tar.gz` or the extracted `cifar-10-batches-py/`.

Both the full dataset and partial copies (fewer batches, or fewer rows per batch) are read; a partial
copy is reported through the returned notice, never silently treated as complete.
"""
import dataclasses
import os
import pickle
import tarfile

import numpy as np

from imgtf.data import archives
from imgtf.errors import CorruptDataError, DataNotFoundError
from imgtf.data.safe_pickle import restricted_loads
from imgtf.data.sources import partial_notice

FOLDER = "cifar-10-batches-py"
ARCHIVE = "cifar-10-python.tar.gz"
SPLIT_FILES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
IMAGES_PER_FILE = 10000
DOWNLOAD_HINT = (
    "Download https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz (170 MB) into --data_dir "
    "(as the .tar.gz, or extracted to cifar-10-batches-py/), or prepare tensorflow-datasets' cifar10 there."
)


@dataclasses.dataclass
class CifarSplit:
    images: np.ndarray  # uint8 [N, 32, 32, 3]
    labels: np.ndarray  # int64 [N]
    source: str
    notice: str = ""  # non-empty when the copy is partial


def locate(data_dir):
    """Where CIFAR-10 is under `data_dir`: ("folder", path), ("tar", path) or None."""
    if data_dir is None:
        return None
    data_dir = os.path.expanduser(data_dir)
    if os.path.isfile(data_dir) and data_dir.endswith((".tar.gz", ".tgz", ".tar")):
        return ("tar", data_dir)
    for candidate in (os.path.join(data_dir, FOLDER), data_dir):
        if os.path.isdir(candidate) and any(
            os.path.exists(os.path.join(candidate, f)) for files in SPLIT_FILES.values() for f in files
        ):
            return ("folder", candidate)
    archive = os.path.join(data_dir, ARCHIVE)
    if os.path.isfile(archive):
        return ("tar", archive)
    return None


def _read_members_from_tar(path, names):
    wanted = {f"{FOLDER}/{n}": n for n in names}
    found = {}
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                if member.name in wanted and member.isfile():
                    found[wanted[member.name]] = archives.read_member(tar, member, path)
    except (tarfile.TarError, OSError, EOFError) as e:
        raise CorruptDataError(
            f"{path}: cannot read the archive ({type(e).__name__}: {e}). It may be truncated or corrupt; "
            f"download it again. {DOWNLOAD_HINT}"
        ) from e
    return found


def parse_batch(data, where):
    """One CIFAR batch pickle -> (images uint8 [N,32,32,3], labels int64 [N]); errors name `where`."""
    try:
        batch = restricted_loads(data, encoding="bytes")
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError) as e:
        raise CorruptDataError(
            f"{where}: not a readable CIFAR-10 batch ({type(e).__name__}: {e}). "
            f"The file may be truncated, corrupt or not from the official archive. {DOWNLOAD_HINT}"
        ) from e
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise CorruptDataError(f"{where}: a pickle, but not a CIFAR-10 batch (no b'data' / b'labels' keys).")
    data, labels = batch[b"data"], np.asarray(batch[b"labels"])
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        shape = getattr(data, "shape", None)
        raise CorruptDataError(f"{where}: b'data' should be uint8 [N, 3072]; found {getattr(data, 'dtype', type(data))} {shape}.")
    if labels.shape != (data.shape[0],) or (labels.size and (labels.min() < 0 or labels.max() > 9)):
        raise CorruptDataError(f"{where}: b'labels' should hold {data.shape[0]} labels in 0..9.")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels.astype(np.int64)


def read_split(data_dir, split):
    """Read one split ("train" or "test") of CIFAR-10 from `data_dir`; raises DataNotFoundError if absent."""
    if split not in SPLIT_FILES:
        raise ValueError(f"CIFAR-10 has splits {sorted(SPLIT_FILES)}, not {split!r}.")
    where = locate(data_dir)
    if where is None:
        raise DataNotFoundError(
            f"No CIFAR-10 under --data_dir={data_dir!r} (looked for {FOLDER}/ and {ARCHIVE}). {DOWNLOAD_HINT}"
        )
    kind, path = where
    names = SPLIT_FILES[split]
    if kind == "folder":
        raw = {}
        for n in names:
            file = os.path.join(path, n)
            if os.path.isfile(file):
                with open(file, "rb") as f:
                    raw[n] = f.read()
        label = lambda n: os.path.join(path, n)  # noqa: E731
    else:
        raw = _read_members_from_tar(path, names)
        label = lambda n: f"{path}:{FOLDER}/{n}"  # noqa: E731
    if not raw:
        missing = ", ".join(label(n) for n in names)
        raise DataNotFoundError(f"CIFAR-10 {split} split: missing {missing}. {DOWNLOAD_HINT}")
    images, labels, parts = [], [], []
    for n in names:
        if n not in raw:
            parts.append(f"{n}: missing")
            continue
        im, lb = parse_batch(raw[n], label(n))
        images.append(im)
        labels.append(lb)
        if len(im) != IMAGES_PER_FILE:
            parts.append(f"{n}: {len(im)} of {IMAGES_PER_FILE}")
    images, labels = np.concatenate(images), np.concatenate(labels)
    expected = IMAGES_PER_FILE * len(names)
    notice = partial_notice("CIFAR-10", split, path, len(images), expected, "; ".join(parts)) if parts else ""
    return CifarSplit(images, labels, f"{kind}:{path}", notice)
