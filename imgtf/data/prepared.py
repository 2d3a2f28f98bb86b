"""Prepared data: a problem's features decoded and resized once, stored as fixed-size arrays readable by index.

Layout: DATA_DIR/<problem>/<split>.<feature>.bin (the feature of every example, raw little-endian values, one
fixed-size record after another; `numpy.memmap` or tf.data.FixedLengthRecordDataset read them) and
DATA_DIR/<problem>/<split>.json (count, shapes, dtypes, the problem's options), removed before the new arrays replace
the old ones and written last (atomically): it marks the split complete, so a half-written preparation, or new arrays
beside an earlier preparation's metadata, is never read. Reading by index is what lets training resume at any
step at once (imgtf.data.order). Metadata of another layout is refused with a message to prepare again.
"""
import json
import os

import numpy as np

from imgtf.errors import CorruptDataError

WRITE_BATCH = 256


def metadata_path(data_dir, problem_name, split):
    return os.path.join(data_dir, problem_name, f"{split}.json")


def find(data_dir, problem_name, split):
    """The metadata of a completed preparation of `split`, or None. Missing or truncated files are an error."""
    if not data_dir:
        return None
    path = metadata_path(data_dir, problem_name, split)
    if not os.path.exists(path):
        directory = os.path.dirname(path)
        left = sorted(f for f in os.listdir(directory) if f.startswith(f"{split}.") and
                      f.endswith((".bin", ".bin.tmp"))) if os.path.isdir(directory) else []
        if left:
            raise CorruptDataError(
                f"{directory} holds prepared {split} files ({', '.join(left[:3])}) but not {split}.json, which "
                "imgtf-datagen writes last to mark a split complete: the preparation was interrupted or the file "
                f"removed. Run imgtf-datagen again, or remove {directory} to read the raw files.")
        return None
    try:
        with open(path) as f:
            meta = json.load(f)
        meta["directory"] = os.path.dirname(path)
        files = [f["file"] for f in meta["features"].values()]
        missing = [s for s in files if not os.path.exists(os.path.join(meta["directory"], s))]
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise CorruptDataError(f"{path}: unreadable preparation metadata ({e}); run imgtf-datagen again.") from e
    if missing:
        raise CorruptDataError(f"{path} lists files that are missing ({', '.join(missing[:3])}); "
                               "run imgtf-datagen again.")
    for name, feature in meta["features"].items():
        file = os.path.join(meta["directory"], feature["file"])
        expected = meta["count"] * _record_bytes(feature)
        if os.path.getsize(file) != expected:
            raise CorruptDataError(
                f"{file} holds {os.path.getsize(file)} bytes, not the {expected} of {meta['count']} {name} records "
                f"listed in {path}: the preparation is damaged (e.g. the disk filled up or the file was copied in "
                "part). Run imgtf-datagen again.")
    return meta


def _record_bytes(feature):
    return int(np.prod(feature["shape"], dtype=np.int64)) * np.dtype(feature["dtype"]).itemsize


def write(problem, split, raw_dir, out_dir):
    """Decode, resize and store every example of `split`; returns the metadata written.

    Each example written is reported to a Progress (done/total, rate, time left), since a full split takes
    minutes. A write that fails (a full disk, a read-only folder) removes the split's partial files."""

    total = problem.num_examples(split, raw_dir)  # what the raw pipeline below reads (None: unknown)
    directory = os.path.join(out_dir, problem.name)
    try:
        return _write(problem, split, raw_dir, out_dir, directory, total)
    except OSError as e:
        for name in os.listdir(directory) if os.path.isdir(directory) else []:
            if name.startswith(f"{split}.") and name.endswith(".tmp"):
                os.remove(os.path.join(directory, name))  # a partial preparation is never left to be read
        raise CorruptDataError(f"cannot write the prepared {split} split to {directory} ({e.strerror or e}): "
                               "nothing of it was kept. Give --data_dir a writable folder with room (the raw files "
                               "can stay where --tmp_dir points) and run imgtf-datagen again.") from None


def _write(problem, split, raw_dir, out_dir, directory, total):
    from imgtf.progress import Progress

    os.makedirs(directory, exist_ok=True)
    batches = problem.dataset(split, raw_dir, batch_size=WRITE_BATCH, prepared=False, draw=False)
    files, features, count = {}, {}, 0
    try:
        with Progress(f"datagen {problem.name} {split}", total=total, unit="examples") as progress:
            for batch in batches:
                for key, value in batch.items():
                    value = np.ascontiguousarray(value.numpy())
                    if key not in files:
                        features[key] = {"file": f"{split}.{key}.bin", "shape": list(value.shape[1:]),
                                         "dtype": value.dtype.newbyteorder("<").str}
                        files[key] = open(os.path.join(directory, features[key]["file"] + ".tmp"), "wb")
                    files[key].write(value.astype(features[key]["dtype"], copy=False).tobytes())
                count += len(batch["targets"])
                progress.update(len(batch["targets"]))
    finally:
        for f in files.values():
            f.close()
    if not count:
        raise CorruptDataError(f"{problem.name} {split}: the split yielded no examples to prepare.")
    old = metadata_path(out_dir, problem.name, split)
    if os.path.lexists(old):  # first: an earlier preparation's metadata never describes the new arrays
        os.remove(old)
    for feature in features.values():
        os.replace(os.path.join(directory, feature["file"] + ".tmp"), os.path.join(directory, feature["file"]))
    meta = {"problem": problem.name, "split": split, "count": count, "features": features,
            "shapes": {k: f["shape"] for k, f in features.items()}, "options": problem.options()}
    tmp = metadata_path(out_dir, problem.name, split) + ".tmp"
    with open(tmp, "w") as f:
        json.dump(meta, f, indent=2)
    os.replace(tmp, metadata_path(out_dir, problem.name, split))
    return meta


def indexed(meta):
    """The prepared split as an IndexedExamples over memory-mapped files."""
    from imgtf.data.indexed import IndexedExamples

    arrays = {name: np.memmap(os.path.join(meta["directory"], f["file"]), dtype=f["dtype"], mode="r",
                              shape=(meta["count"], *f["shape"]))
              for name, f in meta["features"].items()}
    return IndexedExamples.from_arrays(arrays)
