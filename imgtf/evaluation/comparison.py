"""Two models on the same images: the paired difference in bits/dim with its 95% interval (paired t over images),
how often each wins, and a verdict in words. `imgtf-compare` and `imgtf.compare` are this module.

Pairing removes what the two evaluations share (some images are hard for every model), so the interval of the
difference is far narrower than the two evaluations' own intervals suggest. What it does not cover: another
training seed, another sample of training data (imgtf.evaluation.statistics)."""
import dataclasses
import os

import numpy as np

from imgtf import units
from imgtf.errors import TrainingError
from imgtf.evaluation import per_image
from imgtf.evaluation.evaluator import Evaluator
from imgtf.evaluation.statistics import CONFIDENCE, mean_interval
from imgtf.train import run_dir, run_lock
from imgtf.train.metrics import MetricsLog
from imgtf.train.state import RunState


class ComparisonError(ValueError):
    """Two evaluations that cannot be compared image by image (other images, other shapes)."""


@dataclasses.dataclass
class Comparison:
    """A minus B per image. `difference` < 0: A gives the images higher likelihood (fewer bits/dim) than B."""
    a: per_image.ImageEvaluation
    b: per_image.ImageEvaluation
    num_images: int
    difference: float  # mean over images of bits/dim(A) - bits/dim(B)
    se: float  # None when every difference is equal (or fewer than 2 images)
    ci95: tuple  # (low, high), None with se
    a_wins: float  # fraction of images with lower NLL under A
    b_wins: float
    ties: float
    nats_difference: float  # the same mean in nats per image

    @property
    def verdict(self):
        n, lo_hi = self.num_images, self.ci95
        if self.ties == 1.0:
            return f"A and B give each of the {n} images the same likelihood: the difference is exactly 0."
        if lo_hi is None:
            return f"A - B = {self.difference:+.4f} bits/dim on every image alike; no interval from {n} image(s)."
        low, high = lo_hi
        interval = f"95% CI {low:+.4f} to {high:+.4f}"
        if high < 0:
            return (f"A is better: {-self.difference:.4f} bits/dim lower than B ({interval}); A wins on "
                    f"{self.a_wins:.0%} of the {n} images.")
        if low > 0:
            return (f"B is better: {self.difference:.4f} bits/dim lower than A ({interval} for A - B); B wins on "
                    f"{self.b_wins:.0%} of the {n} images.")
        return (f"No significant difference: A - B = {self.difference:+.4f} bits/dim, and its {interval} includes "
                f"0; these {n} images cannot tell A from B.")

    def text(self):
        """The report imgtf-compare prints."""
        def line(name, e):
            return f"{name}: {e.bits_per_dim.mean():.4f} bits/dim  ({e.describe()})"
        if self.ci95 is None:  # every image's difference the same: no spread, no interval (not a NaN one)
            spread = f"the same on each of the {self.num_images} images: no interval"
        else:
            low, high = self.ci95
            spread = f"SE {self.se:.4f}, 95% CI {low:+.4f} to {high:+.4f}; paired t over {self.num_images} images"
        return "\n".join([
            line("A", self.a), line("B", self.b),
            f"A - B: {self.difference:+.4f} bits/dim ({spread}), {self.nats_difference:+.2f} nats/image",
            f"A wins on {self.a_wins:.1%} of the images, B on {self.b_wins:.1%}, ties {self.ties:.1%}",
            self.verdict])

    def to_dict(self):
        return {"a": self.a.describe(), "b": self.b.describe(), "num_images": self.num_images,
                "difference_bits_per_dim": self.difference, "se": self.se,
                "ci95_low": self.ci95 and self.ci95[0], "ci95_high": self.ci95 and self.ci95[1],
                "a_wins": self.a_wins, "b_wins": self.b_wins, "ties": self.ties,
                "difference_nats_per_image": self.nats_difference, "verdict": self.verdict}


def _aligned(evaluation):
    """The evaluation's per-image NLLs in fingerprint order (the read order among identical images)."""
    order = np.lexsort((evaluation.index, evaluation.fingerprint))
    return evaluation.fingerprint[order], evaluation.nll_nats[order]


def compare_evaluations(a, b):
    """The Comparison of two ImageEvaluations, or a ComparisonError unless they scored the same images."""
    if tuple(a.image_shape) != tuple(b.image_shape):
        raise ComparisonError(f"A's images are {tuple(a.image_shape)} and B's {tuple(b.image_shape)}: a per-image "
                              "comparison needs the same images.")
    for name, evaluation in (("A", a), ("B", b)):
        bad = np.flatnonzero(~np.isfinite(evaluation.nll_nats))
        if bad.size:
            raise ComparisonError(f"{name} ({evaluation.describe()}) holds {bad.size} non-finite per-image NLLs (the "
                                  f"first of image {int(evaluation.index[bad[0]])}): its weights diverged or the file "
                                  "is damaged, and no difference can be drawn from it. Evaluate a finite checkpoint.")
    fa, nll_a = _aligned(a)
    fb, nll_b = _aligned(b)
    if fa.shape != fb.shape or not np.array_equal(fa, fb):
        common = np.intersect1d(fa, fb).size
        raise ComparisonError(
            f"A and B did not evaluate the same images: A scored {a.num_images} ({a.describe()}), B {b.num_images} "
            f"({b.describe()}), {common} distinct images in common. Evaluate both on the same split of the same "
            "data, whole (--eval_steps=0) or with the same --eval_steps and batch size.")
    nats = nll_a - nll_b
    mean, se, ci = mean_interval(units.bits_per_dim(nats, a.image_shape), CONFIDENCE)
    if se == 0.0:  # every difference equal: no spread to draw an interval from
        se, ci = None, None
    n = int(nats.size)
    return Comparison(a, b, n, mean, se, ci, a_wins=float(np.mean(nats < 0)), b_wins=float(np.mean(nats > 0)),
                      ties=float(np.mean(nats == 0)), nats_difference=float(nats.mean()))


def evaluation_of(source, split=None, data_dir=None, eval_steps=0, weights=None):
    """An ImageEvaluation from `source`: an ImageEvaluation; a per-image file (.npz); a run directory (its newest
    per-image evaluation of `split` in metrics.jsonl, or with `data_dir` an evaluation of its newest checkpoint
    now); or a checkpoint (RUN/ckpt-N, evaluated now: needs `data_dir`). `weights`: "polyak_average" or "raw" (a run
    trained with ema_decay is evaluated with its averages unless "raw"); evaluating appends to the run's records."""
    if isinstance(source, per_image.ImageEvaluation):
        return source
    source = os.fspath(source)
    if os.path.isfile(source):
        return per_image.load(source)
    checkpoint = source if os.path.exists(source + ".index") else None
    run = os.path.dirname(source) if checkpoint else source
    if not os.path.isfile(os.path.join(run, "hparams.json")):
        raise per_image.EvaluationFileError(
            f"{source} is neither a per-image evaluation file (RUN/evaluations/*.npz), a run directory nor one of a "
            "run's checkpoints (RUN/ckpt-N).")
    if weights not in (None, "polyak_average", "raw"):
        raise ValueError(f"weights={weights!r}: use 'polyak_average' or 'raw' (or None, the run's default).")
    if data_dir is None:
        if checkpoint:
            raise per_image.EvaluationFileError(f"{source}: evaluating a checkpoint needs its data (data_dir / "
                                                "--data_dir).")
        return per_image.load(per_image.newest(run, split, weights))
    return _evaluate_now(run, checkpoint, split, data_dir, eval_steps, weights != "raw")


def _evaluate_now(run, checkpoint, split, data_dir, eval_steps, averaged):
    spec = run_dir.resolve(run, None, None, None, "")
    problem = spec.make_problem(data_dir)
    run_dir.check_same_data(spec, problem, run)
    run_lock.acquire(run)
    try:
        state = RunState.read(spec, run, problem.info, checkpoint, averaged=False)  # the evaluation swaps averages in
        if state is None:
            raise TrainingError(f"no checkpoint in {run} to evaluate; train first.")
        entry = Evaluator(state, problem, data_dir, MetricsLog(run)).evaluate(split, eval_steps, averaged=averaged)
    finally:
        run_lock.release(run)
    return per_image.load(os.path.join(run, entry["per_image"]))


def compare(a, b, split=None, data_dir=None, eval_steps=0, weights_a=None, weights_b=None):
    """A against B (each what `evaluation_of` accepts) on the same images: a Comparison (`.verdict`, `.text()`)."""
    return compare_evaluations(evaluation_of(a, split, data_dir, eval_steps, weights_a),
                               evaluation_of(b, split, data_dir, eval_steps, weights_b))
