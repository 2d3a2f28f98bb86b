"""A run's metric records: one JSON object per evaluation in metrics.jsonl, and scalars and images in TensorBoard."""
import datetime
import json
import logging
import math
import os


class MetricsLog:
    """Appends one JSON object per evaluation to OUTPUT_DIR/metrics.jsonl and mirrors scalars to TensorBoard."""

    def __init__(self, output_dir):
        self.output_dir = output_dir
        self.path = os.path.join(output_dir, "metrics.jsonl")
        self._writers = {}

    def _writer(self, name):
        import tensorflow as tf

        if name not in self._writers:
            self._writers[name] = tf.summary.create_file_writer(os.path.join(self.output_dir, name))
        return self._writers[name]

    def scalars(self, name, step, values):
        import tensorflow as tf

        with self._writer(name).as_default(step=int(step)):
            for key, value in values.items():
                tf.summary.scalar(key, value)

    def image(self, name, step, image):
        """One uint8 image [H, W, 3] (e.g. a grid of samples) in TensorBoard's Images tab, under run `name`."""
        import tensorflow as tf

        with self._writer(name).as_default(step=int(step)):
            tf.summary.image("samples", tf.convert_to_tensor(image)[None], step=int(step))

    def record(self, step, split, **values):
        """Append one evaluation. Non-finite numbers (a diverged run) are written as null and listed under
        "non_finite", so that metrics.jsonl stays strict JSON (NaN and Infinity are not JSON)."""
        bad = sorted(k for k, v in values.items() if isinstance(v, float) and not math.isfinite(v))
        entry = {"step": int(step), "split": split, **{k: (None if k in bad else v) for k, v in values.items()},
                 "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        if bad:
            entry["non_finite"] = {k: str(values[k]) for k in bad}
        os.makedirs(self.output_dir, exist_ok=True)
        line = json.dumps(entry, allow_nan=False) + "\n"
        # never through a symbolic link (it would write outside the run); after a record cut short by a kill, on a
        # line of its own
        with os.fdopen(os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644), "rb+") as f:
            size = f.seek(0, os.SEEK_END)
            if size:
                f.seek(size - 1)
                line = ("" if f.read(1) == b"\n" else "\n") + line
            f.write(line.encode())
        numeric = {k: v for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        self.scalars(f"eval_{split}", step, numeric)
        return entry

    def flush(self):
        for w in self._writers.values():
            w.flush()


def read_metrics(output_dir):
    """The run's evaluation records, oldest first. A line that is not a whole record (a write cut short by a kill or
    a full disk) is skipped with a warning naming it; the records around it stand."""
    path = os.path.join(output_dir, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    records = []
    with open(path, errors="replace") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            if not isinstance(record, dict) or "step" not in record or "split" not in record:
                logging.getLogger("imgtf").warning("%s, line %d is not a whole evaluation record (a write cut short?): "
                                                   "skipped.", path, number)
                continue
            records.append(record)
    return records
