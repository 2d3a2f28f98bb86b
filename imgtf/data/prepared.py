"""Prepared data: a problem's features decoded and resized once, stored as sharded TFRecord files.

Layout: DATA_DIR/<problem>/<split>-00000-of-00008.tfrecord ... and DATA_DIR/<problem>/<split>.json, which is
written last (atomically) and marks the split complete; a half-written preparation is never read.
"""
import json
import os

from imgtf.data.errors import CorruptDataError


def metadata_path(data_dir, problem_name, split):
    return os.path.join(data_dir, problem_name, f"{split}.json")


def find(data_dir, problem_name, split):
    """The metadata of a completed preparation of `split`, or None."""
    if not data_dir:
        return None
    path = metadata_path(data_dir, problem_name, split)
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            meta = json.load(f)
        meta["directory"] = os.path.dirname(path)
        missing = [s for s in meta["shards"] if not os.path.exists(os.path.join(meta["directory"], s))]
    except (ValueError, KeyError, TypeError) as e:
        raise CorruptDataError(f"{path}: unreadable preparation metadata ({e}); run imgtf-datagen again.") from e
    if missing:
        raise CorruptDataError(f"{path} lists shards that are missing ({', '.join(missing[:3])}...); "
                               "run imgtf-datagen again.")
    return meta


def _example(features):
    import tensorflow as tf

    feature = {}
    for key, value in features.items():
        value = value.numpy() if hasattr(value, "numpy") else value
        if key == "label":
            feature[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))
        else:
            feature[key] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.tobytes()]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def write(problem, split, raw_dir, out_dir, num_shards=8):
    """Decode, resize and store every example of `split`; returns the metadata written.

    Each example written is reported to a Progress (done/total, rate, time left), since a full split takes
    minutes."""
    from imgtf.progress import Progress

    total = problem.num_examples(split, raw_dir)  # what the raw pipeline below reads (None: unknown)
    directory = os.path.join(out_dir, problem.name)
    os.makedirs(directory, exist_ok=True)
    shards = [f"{split}-{i:05d}-of-{num_shards:05d}.tfrecord" for i in range(num_shards)]
    examples = problem.dataset(split, raw_dir, batch_size=1, prepared=False).unbatch()
    with Progress(f"datagen {problem.name} {split}", total=total, unit="examples") as progress:
        shapes, count = _write_shards(examples, [os.path.join(directory, s + ".tmp") for s in shards], progress)
    for s in shards:
        os.replace(os.path.join(directory, s + ".tmp"), os.path.join(directory, s))
    meta = {"problem": problem.name, "split": split, "count": count, "shapes": shapes, "shards": shards,
            "options": problem.options()}
    tmp = metadata_path(out_dir, problem.name, split) + ".tmp"
    with open(tmp, "w") as f:
        json.dump(meta, f, indent=2)
    os.replace(tmp, metadata_path(out_dir, problem.name, split))
    return meta


def _write_shards(examples, paths, progress):
    """Write `examples` round-robin over the files `paths` (so reading them round-robin restores the order),
    reporting each to `progress`; returns (feature shapes, count)."""
    import tensorflow as tf

    writers = [tf.io.TFRecordWriter(path) for path in paths]
    shapes, count = {}, 0
    try:
        for features in examples:
            if not shapes:
                shapes = {k: list(v.shape) for k, v in features.items()}
            writers[count % len(writers)].write(_example(features))
            count += 1
            progress.update()
    finally:
        for w in writers:
            w.close()
    return shapes, count


def read(meta):
    """Unbatched features of a prepared split, shards read in parallel (deterministic order)."""
    import tensorflow as tf

    shapes = meta["shapes"]
    spec = {k: tf.io.FixedLenFeature([], tf.int64 if k == "label" else tf.string) for k in shapes}

    def parse(record):
        parsed = tf.io.parse_single_example(record, spec)
        out = {}
        for key, shape in shapes.items():
            if key == "label":
                out[key] = tf.cast(parsed[key], tf.int32)
            else:
                out[key] = tf.reshape(tf.io.decode_raw(parsed[key], tf.uint8), shape)
        return out

    files = [os.path.join(meta["directory"], s) for s in meta["shards"]]
    # round-robin over shards restores the original example order
    ds = tf.data.Dataset.from_tensor_slices(files).interleave(
        tf.data.TFRecordDataset, cycle_length=len(files), block_length=1, num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True)
    return ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
