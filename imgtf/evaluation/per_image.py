"""Per-image evaluation files: the negative log-likelihood of every image an evaluation scored, so that its mean
has an error bar (imgtf.evaluation.statistics) and two models can be compared image by image (imgtf.evaluation.comparison).

One file per evaluation, RUN/evaluations/{split}-step{step}-{weights}.npz, named by the metrics.jsonl record's
`per_image`. Arrays: `nll_nats` float64 [N]; `index` int64 [N], each image's position in the order the evaluation
read the split (the problem's file order on one worker); `fingerprint` int64 [N], a hash of the image's pixels that
tells whether two evaluations scored the same images (whatever their order); `meta`, a JSON string (split, step,
weights, problem, image_shape)."""
import dataclasses
import json
import os
import zipfile

import numpy as np

from imgtf import units
from imgtf.train.metrics import read_metrics

FOLDER = "evaluations"


class EvaluationFileError(ValueError):
    """A per-image evaluation file that is missing, unreadable or not one imgtf wrote."""


def fingerprint_weights(dims):
    """The fingerprint's fixed weights, one per sub-pixel, the same on every machine (NumPy's PCG64 stream): an
    image's fingerprint is sum(pixel * weight) in int64, so two different images collide only if their difference
    is orthogonal to this vector, which real images (integers in 0..255) essentially never are."""
    return np.random.default_rng(20180212).integers(1, 2 ** 31, size=int(dims), dtype=np.int64)


def fingerprints(images):
    """The fingerprints of uint8/int images [N, H, W, C] (the same hash as the trainer's evaluation step)."""
    flat = np.asarray(images).reshape(len(images), -1).astype(np.int64)
    return flat @ fingerprint_weights(flat.shape[1])


@dataclasses.dataclass
class ImageEvaluation:
    """One evaluation's per-image results and what they were computed on."""
    nll_nats: np.ndarray
    index: np.ndarray
    fingerprint: np.ndarray
    split: str
    step: int
    weights: str  # "polyak_average" or "raw"
    problem: str
    image_shape: tuple
    path: str = None

    @property
    def num_images(self):
        return int(self.nll_nats.size)

    @property
    def bits_per_dim(self):
        """Each image's bits per sub-pixel [N]."""
        return units.bits_per_dim(self.nll_nats, self.image_shape)

    def describe(self):
        where = self.path or "(in memory)"
        return f"{where}: {self.problem} {self.split}, step {self.step}, {self.weights} weights, {self.num_images} images"


def save(output_dir, evaluation):
    """Write `evaluation` under OUTPUT_DIR/evaluations without replacing an earlier file (a second evaluation of
    the same step gets a -2 suffix), atomically (a temporary file renamed); returns the path relative to
    output_dir, as metrics.jsonl records it."""
    folder = os.path.join(output_dir, FOLDER)
    os.makedirs(folder, exist_ok=True)
    stem = f"{evaluation.split}-step{evaluation.step}-{evaluation.weights}"
    name, n = f"{stem}.npz", 1
    while os.path.exists(os.path.join(folder, name)):
        n += 1
        name = f"{stem}-{n}.npz"
    meta = {"split": evaluation.split, "step": int(evaluation.step), "weights": evaluation.weights,
            "problem": evaluation.problem, "image_shape": [int(d) for d in evaluation.image_shape]}
    temporary = os.path.join(folder, f".{name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as f:
            np.savez(f, nll_nats=np.asarray(evaluation.nll_nats, np.float64),
                     index=np.asarray(evaluation.index, np.int64),
                     fingerprint=np.asarray(evaluation.fingerprint, np.int64), meta=np.array(json.dumps(meta)))
        os.replace(temporary, os.path.join(folder, name))
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    evaluation.path = os.path.join(folder, name)
    return os.path.join(FOLDER, name)


def load(path):
    """The ImageEvaluation in `path`, or an EvaluationFileError saying what is wrong with the file."""
    if not os.path.isfile(path):
        raise EvaluationFileError(f"{path}: no such per-image evaluation file.")
    try:
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as data:
            arrays = {key: data[key] for key in ("nll_nats", "index", "fingerprint", "meta")}
        meta = json.loads(str(arrays["meta"]))
        n = arrays["nll_nats"].shape
        if not (len(n) == 1 and arrays["index"].shape == n and arrays["fingerprint"].shape == n):
            raise ValueError(f"arrays of shapes {[a.shape for a in arrays.values()]}")
        return ImageEvaluation(arrays["nll_nats"].astype(np.float64), arrays["index"], arrays["fingerprint"],
                               meta["split"], int(meta["step"]), meta["weights"], meta["problem"],
                               tuple(meta["image_shape"]), path)
    except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile, EOFError) as e:
        raise EvaluationFileError(f"{path} is not a complete per-image evaluation file ({type(e).__name__}: {e}); "
                                  "evaluate again (imgtf-trainer --schedule=eval) to rewrite it.") from None


def newest(output_dir, split=None, weights=None):
    """The path of the run's newest per-image evaluation of its own weights (of `split`, with `weights`, where given;
    not one of a checkpoint named from elsewhere), from its metrics.jsonl; an EvaluationFileError if it has none."""
    records = [r for r in read_metrics(output_dir) if r.get("per_image") and os.sep not in (r.get("checkpoint") or "")
               and (split is None or r["split"] == split) and (weights is None or r.get("weights") == weights)]
    if not records:
        which = " ".join(filter(None, [split and f"of split {split!r}", weights and f"with {weights} weights"]))
        raise EvaluationFileError(f"{output_dir} has no per-image evaluation{' ' + which if which else ''} in its "
                                  "metrics.jsonl; evaluate it first (imgtf-trainer --output_dir=RUN --data_dir=DATA "
                                  "--schedule=eval) or give --data_dir to imgtf-compare.")
    return os.path.join(output_dir, records[-1]["per_image"])
