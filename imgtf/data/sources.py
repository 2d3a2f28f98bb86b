"""Where a split's examples come from: the dataset's official files under --data_dir, else its prepared
tensorflow-datasets copy, else a DataNotFoundError saying what was looked for and what to download.

One place for this rule, so every problem looks for its data, fails, and announces a partial copy the same
way: a partial copy is used, but said so once (its bits/dim are not comparable with full-split results).
"""
import dataclasses
import logging

from imgtf.errors import DataNotFoundError
from imgtf.data.tfds_source import load_prepared

log = logging.getLogger("imgtf")
_ANNOUNCED = set()  # (dataset, split, data_dir) whose partial copy this process has announced


@dataclasses.dataclass(frozen=True)
class Official:
    """A split's official files as the problem found them."""

    kind: str  # "folder", "tar", "zip"...
    path: str  # the folder or archive to read
    content: object = None  # what finding them read (file names, arrays, a count), kept so it is read once
    notice: str = ""  # partial_notice(...) when the copy is partial, else empty


def partial_notice(dataset, split, path, present, expected, detail="", listed_in=""):
    """The one wording of "this copy is partial": how many examples are there, and how many are missing."""
    of = f"the {expected} images listed in {listed_in} are present" if listed_in else f"{expected} images"
    why = "; ".join(part for part in (f"{expected - present} missing", detail) if part)
    return (f"{dataset} {split} split at {path} is a PARTIAL copy: {present} of {of} ({why}). "
            "Using only these; its likelihoods (bits/dim, nats) are not comparable with full-split results.")


def find_split(dataset, split, data_dir, official, *, tfds_name, looked_for, hint):
    """`official` (an Official, or None when the problem found no official files), else the prepared tfds
    dataset `tfds_name` (a tf.data.Dataset); else a DataNotFoundError naming `looked_for` and `hint`."""
    if official is not None:
        announce_once(official, dataset, split, data_dir)
        return official
    try:
        return load_prepared(tfds_name, split, data_dir)
    except DataNotFoundError as e:
        nothing = ", ".join(f"no {name}" for name in looked_for)
        raise DataNotFoundError(f"No {dataset} {split} split under --data_dir={data_dir!r}: {nothing}, and {e} "
                                f"{hint}") from None


def announce_once(official, dataset, split, data_dir):
    """Warn about a partial copy once per process, not at every epoch or evaluation that reads it."""
    key = (dataset, split, data_dir)
    if official.notice and key not in _ANNOUNCED:
        _ANNOUNCED.add(key)
        log.warning("%s", official.notice)
