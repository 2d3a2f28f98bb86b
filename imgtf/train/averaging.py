"""Checkpoint averaging (the paper's ImageNet 3.77 used it): the mean of the model weights of the last N
checkpoints, written as a new run directory that every command accepts."""
import logging
import os
import shutil

import numpy as np
import tensorflow as tf

from imgtf.errors import TrainingError
from imgtf.train import polyak, run_dir
from imgtf.train.state import RunState

log = logging.getLogger("imgtf")


def average_checkpoints(output_dir, to_dir, num_last=5):
    """Average the model weights of the last `num_last` checkpoints of `output_dir` into `to_dir`.

    Weights are summed in float64 and divided once, so the result is the exact mean rounded to float32. With
    Polyak averaging (hparam ema_decay) the checkpoints' moving averages are averaged the same way (they are what
    evaluation reads). The rest of the optimizer state and the step are the newest checkpoint's. Returns (paths
    averaged, saved path)."""
    state = tf.train.get_checkpoint_state(output_dir)
    paths = list(state.all_model_checkpoint_paths) if state else []
    if len(paths) < 1:
        raise TrainingError(f"no checkpoints in {output_dir} to average.")
    if os.path.abspath(to_dir) == os.path.abspath(output_dir):
        raise TrainingError("--to_dir must differ from --output_dir (the originals are kept).")
    paths = paths[-num_last:]  # already joined with output_dir by get_checkpoint_state
    if len(paths) < num_last:
        log.warning("only %d checkpoints in %s; averaging those.", len(paths), output_dir)
    run = RunState.read(run_dir.load(output_dir), output_dir, checkpoint_path=paths[-1], averaged=False,
                        checkpoint_dir=to_dir)
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
    os.makedirs(to_dir, exist_ok=True)
    shutil.copy(os.path.join(output_dir, run_dir.RUN_FILE), os.path.join(to_dir, run_dir.RUN_FILE))
    with open(os.path.join(to_dir, "averaged_from.txt"), "w") as f:
        f.write("\n".join(paths) + "\n")
    return paths, run.save()
