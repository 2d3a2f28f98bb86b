"""tensorflow-datasets as an optional source: used only when the dataset is already prepared locally.

We never call `download_and_prepare` (offline it retries for minutes); an unprepared dataset is reported
at once so the problem can say what to download and where to put it.
"""
import logging
import os

from imgtf.errors import DataNotFoundError

log = logging.getLogger(__name__)


def tfds_data_dirs(data_dir):
    dirs = [d for d in (data_dir, os.environ.get("TFDS_DATA_DIR"), "~/tensorflow_datasets") if d]
    return [os.path.expanduser(d) for d in dict.fromkeys(dirs)]


def load_prepared(name, split, data_dir):
    """A tf.data.Dataset of the prepared tfds dataset `name`, or DataNotFoundError (fast, no network)."""
    try:
        import tensorflow_datasets as tfds
    except ImportError as e:
        raise DataNotFoundError(f"tensorflow-datasets is not installed, so tfds {name!r} cannot be read.") from e
    looked = []
    for directory in tfds_data_dirs(data_dir):
        if not os.path.isdir(os.path.join(directory, name.split("/")[0])):
            looked.append(directory)
            continue
        try:
            builder = tfds.builder(name, data_dir=directory, try_gcs=False)
        except Exception as e:  # noqa: BLE001 - tfds raises many kinds; report and keep looking
            log.warning("tfds %s under %s unusable: %s", name, directory, e)
            looked.append(directory)
            continue
        if builder.is_prepared():
            return builder.as_dataset(split=split, shuffle_files=False)
        looked.append(directory)
    raise DataNotFoundError(f"tfds {name!r} is not prepared under {', '.join(looked) or 'any data dir'}.")
