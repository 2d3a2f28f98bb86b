"""Checkpoint averaging (the paper's ImageNet 3.77 used it): the mean of the model weights of the last N
checkpoints, written as a new run directory that every command accepts."""
import logging
import os

import numpy as np

from imgtf import artifacts
from imgtf.errors import TrainingError
from imgtf.train import checkpoints, polyak, run_dir, run_lock
from imgtf.train.state import RunState

log = logging.getLogger("imgtf")
WRITER = "imgtf-average"


def average_checkpoints(output_dir, to_dir, num_last=5):
    """Average the model weights of the last `num_last` checkpoints of `output_dir` into `to_dir`.

    Weights are summed in float64 and divided once, so the result is the exact mean rounded to float32. With
    Polyak averaging (hparam ema_decay) the checkpoints' moving averages are averaged the same way (they are what
    evaluation reads). The rest of the optimizer state and the step are the newest checkpoint's. Returns (paths
    averaged, saved path).

    `to_dir` is written whole or not at all, and replaces only an earlier average holding nothing added since
    (imgtf.artifacts): never another run, a user's folder, or evaluations of the average."""
    if isinstance(num_last, bool) or not isinstance(num_last, int) or num_last < 1:
        raise TrainingError(f"--num_last={num_last!r}: the number of newest checkpoints to average, at least 1.")
    spec = run_dir.load(output_dir)
    if spec is None:
        raise TrainingError(f"{output_dir} is not a run directory (no {run_dir.RUN_FILE}): pass the --output_dir "
                            "of a trained run.")
    paths = checkpoints.listed(output_dir)[-num_last:]  # the run's own files, oldest first
    if not paths:
        raise TrainingError(f"no checkpoints in {output_dir} to average.")
    source, target = os.path.realpath(output_dir), os.path.realpath(to_dir)
    if target == source or target.startswith(source + os.sep):
        raise TrainingError(f"--to_dir={to_dir} is inside the run it averages ({output_dir}): choose a new directory "
                            "beside it (the originals are kept).")
    artifacts.check_replaceable(to_dir, WRITER, "--to_dir")
    if len(paths) < num_last:
        log.warning("only %d checkpoints in %s; averaging those.", len(paths), output_dir)
    if os.path.isdir(to_dir):
        run_lock.acquire(to_dir)  # no other imgtf process is using the earlier average while it is replaced
    try:
        with artifacts.staged(to_dir, WRITER, source=os.path.abspath(output_dir),
                              checkpoints=[os.path.basename(p) for p in paths]) as staging:
            saved = _average(spec, output_dir, paths, staging)
    finally:
        run_lock.release(to_dir)
    return paths, os.path.join(to_dir, os.path.basename(saved))


def _average(spec, output_dir, paths, staging):
    """Write the mean of `paths` as a run (hparams.json and one checkpoint) into `staging`; returns its path."""
    run = RunState.read(spec, output_dir, checkpoint_path=paths[-1], averaged=False, checkpoint_dir=staging)
    total = None
    for path in paths:
        run.restore(path, recover_index=False)
        weights = [w.astype(np.float64) for w in run.model.get_weights()]
        weights += [np.asarray(a, np.float64) for a in polyak.averages(run.optimizer) or []]
        total = weights if total is None else [t + w for t, w in zip(total, weights)]
    run.restore(paths[-1], recover_index=False)  # optimizer state and step of the newest
    mean = [(t / len(paths)).astype(np.float32) for t in total]
    num_weights = len(run.model.get_weights())
    run.model.set_weights(mean[:num_weights])
    for average, value in zip(polyak.averages(run.optimizer) or [], mean[num_weights:]):
        average.assign(value)
    saved = run.save()
    run_dir.save(spec, staging)
    return saved
