"""Bits per dimension and the run's metric records (metrics.jsonl + TensorBoard)."""
import datetime
import json
import math
import os

import numpy as np

LN2 = math.log(2.0)


def likelihood_text(bits, nats, reported="bits_per_dim", bits_se=None, nats_se=None):
    """One result as people read it: the problem's unit first (Problem.reported_metric), with its standard error
    where known, the other beside it: "N +- SE nats/image (B bits/dim)" for binarized MNIST, "B +- SE bits/dim
    (N nats/image)" for CIFAR-10."""
    if reported == "nats_per_image":
        return f"{nats:.2f}{'' if nats_se is None else f' +- {nats_se:.2f}'} nats/image ({bits:.4f} bits/dim)"
    return f"{bits:.4f}{'' if bits_se is None else f' +- {bits_se:.4f}'} bits/dim ({nats:.2f} nats/image)"


def interval_fields(nll_nats, image_shape):
    """An evaluation's means over images with their standard errors and 95% intervals (imgtf.train.statistics), as
    metrics.jsonl records them: bits_per_dim, bits_per_dim_se, bits_per_dim_ci95_low/high, and nats_per_image,
    nats_per_image_se, nats_per_image_ci95_low/high; SE and interval are None for a single image or a
    non-finite loss."""
    from imgtf.train.statistics import mean_interval

    dims = image_shape[0] * image_shape[1] * image_shape[2]
    fields = {}
    for name, scale in (("bits_per_dim", 1.0 / (dims * LN2)), ("nats_per_image", 1.0)):
        mean, se, ci = mean_interval(np.asarray(nll_nats, np.float64) * scale)
        fields.update({name: mean, f"{name}_se": se, f"{name}_ci95_low": ci and ci[0],
                       f"{name}_ci95_high": ci and ci[1]})
    return fields


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
        with open(self.path, "a") as f:
            f.write(json.dumps(entry, allow_nan=False) + "\n")
        numeric = {k: v for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        self.scalars(f"eval_{split}", step, numeric)
        return entry

    def flush(self):
        for w in self._writers.values():
            w.flush()


def read_metrics(output_dir):
    path = os.path.join(output_dir, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
