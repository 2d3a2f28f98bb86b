"""A run's state: its model, optimiser, step and checkpoints, built from the run's spec.

Everything that reads or writes a run's weights goes through here: the trainer, `imgtf.load_run` (and so the decoder
and exporter), checkpoint averaging and evaluation of a checkpoint. It restores the newest readable checkpoint
(rebuilding a lost index), saves, removes what a failed write left behind, and after a divergence finds the newest
checkpoint whose weights are still finite.

The optimiser is part of the state even when only the weights are wanted: Keras 3 layer lists (decoder blocks, LSTM
layers) are not TensorFlow checkpoint dependencies, so the checkpoint reaches their weights only through the
optimiser's list of the variables it trains; a checkpoint of the model alone would silently restore some weights."""
import logging
import os
import shutil

import keras
import tensorflow as tf

from imgtf.errors import TrainingError
from imgtf.hparams.training import training_settings
from imgtf.models.factory import make_model
from imgtf.train import checkpoints, polyak
from imgtf.train.optimization import build_optimizer

log = logging.getLogger("imgtf")


class RunState:
    """The model, optimiser, step and checkpoint of the run `spec` in `output_dir`, built under `strategy`.

    `problem_info`: the data's shapes and class count (by default those the run recorded when it started, else the
    problem's). `precision` "float16"
    wraps the optimiser in loss scaling, as that training saved it. Checkpoints are written to `checkpoint_dir`
    (default `output_dir`; a non-chief worker writes to a scratch directory) and read from `output_dir`."""

    def __init__(self, spec, output_dir, problem_info=None, *, strategy=None, precision="float32", keep_checkpoints=5,
                 checkpoint_dir=None):
        self.spec, self.output_dir = spec, os.fspath(output_dir)
        self.checkpoint_dir = os.fspath(checkpoint_dir or output_dir)
        self.strategy = strategy or tf.distribute.get_strategy()
        self.keep_checkpoints = keep_checkpoints
        with self.strategy.scope():
            info = problem_info or spec.problem_info or spec.make_problem().info
            self.model = make_model(spec.model, spec.hparams, info, spec.hparams_set)
            # the schedule scales with the model's width (rsqrt_decay); the optimiser reads nothing else of the model
            self.optimizer = build_optimizer(training_settings(spec.hparams), self.model.width)
            if precision == "float16":  # float16 gradients need loss scaling; bfloat16 does not
                self.optimizer = keras.optimizers.LossScaleOptimizer(self.optimizer)
            self.optimizer.build(self.model.trainable_variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        self.checkpoint = self.new_checkpoint()
        self._manager, self.restored = None, None  # the path of the checkpoint last restored

    @classmethod
    def read(cls, spec, output_dir, problem_info=None, checkpoint_path=None, averaged=True, checkpoint_dir=None):
        """The run's state restored from `checkpoint_path` or its newest readable checkpoint, or None if the run has no
        checkpoint. Reading writes nothing (a later `save` writes to `checkpoint_dir`). A run trained in float16 saved
        a loss-scaling optimiser: that form is tried second. With Polyak averaging (hparam ema_decay) the model holds
        the averaged weights, as evaluations used them, unless `averaged` is False."""
        errors = []
        for precision in ("float32", "float16"):
            state = cls(spec, output_dir, problem_info, precision=precision, checkpoint_dir=checkpoint_dir)
            try:
                path = state.restore(checkpoint_path, recover_index=False, partial=True)
            except checkpoints.CheckpointError as e:
                errors.append(e)
                continue
            if not path:
                return None
            if averaged:
                polyak.use_averages(state.optimizer)
            return state
        raise errors[0]

    def new_checkpoint(self):
        """A tf.train.Checkpoint of this state (a failed restore leaves the one it used unfit for another)."""
        return tf.train.Checkpoint(model=self.model, optimizer=self.optimizer, step=self.step,
                                   rng_state=list(self.model.non_trainable_variables))  # dropout seeds: exact resumption

    @property
    def manager(self):
        """The CheckpointManager that writes and rotates the checkpoints (made at its first use)."""
        if self._manager is None:
            self._manager = tf.train.CheckpointManager(self.checkpoint, self.checkpoint_dir,
                                                       max_to_keep=self.keep_checkpoints)
        return self._manager

    @property
    def step_number(self):
        return int(self.step.numpy())

    def restore(self, checkpoint_path=None, recover_index=True, partial=False):
        """Restore `checkpoint_path`, or the newest readable checkpoint of the run; returns its path, or None if the run
        has none. A damaged newest checkpoint is skipped with a warning in favour of the previous one; with
        `recover_index` a lost or partial index is rebuilt from the files first. `partial`: read only what this
        state holds (the checkpoint may hold more). CheckpointError if none can be read."""
        if checkpoint_path:
            checkpoints.check_checkpoint_path(checkpoint_path)
        elif recover_index and checkpoints.recover_checkpoint_index(self.output_dir):
            self._manager = None  # it read the index when it was made
        path = checkpoints.restore_newest(self.new_checkpoint, self.output_dir, checkpoint_path, partial=partial)
        if path is not None:
            self.restored = path
            log.info("Restored %s (step %d).", path, self.step_number)
        return path

    def save(self):
        """Write a checkpoint of the current step. TensorFlow writes the data files first and then replaces the
        `checkpoint` index atomically, so a crash while saving leaves the previous checkpoints listed and usable. A save
        that fails (a full disk, a read-only or vanished run directory) removes what it had written and raises a
        TrainingError naming the newest complete checkpoint, from which a rerun resumes."""
        step = self.step_number
        try:
            return self.manager.save(checkpoint_number=step)
        except (tf.errors.OpError, OSError) as e:
            raise self.write_failed(f"writing the checkpoint of step {step}", e) from None

    def write_failed(self, what, error):
        """A TrainingError for a failed write into the run directory, after removing a partial checkpoint: what failed,
        why (the system's words), and where the run stands."""
        step, directory = self.step_number, self.checkpoint_dir
        for partial in tf.io.gfile.glob(os.path.join(directory, f"ckpt-{step}_temp*")):
            shutil.rmtree(partial, ignore_errors=True)
        listed = {os.path.basename(p) for p in checkpoints.listed(directory)}
        if f"ckpt-{step}" not in listed:  # its files may be whole, but the index could not list it: not saved
            for name in tf.io.gfile.glob(os.path.join(directory, f"ckpt-{step}.*")):
                os.remove(name)
        reason = getattr(error, "message", None) or str(error)
        reason = "no space left on device" if "No space left" in reason else reason.strip().splitlines()[-1][-300:]
        newest = checkpoints.newest_step(directory)
        where = (f"The newest complete checkpoint is step {newest}; free space (or fix the directory) and rerun the "
                 "same command to resume from it." if newest else "No checkpoint was complete yet; fix the directory "
                 "and rerun the same command to start again.")
        return TrainingError(f"training stopped at step {step}: {what} in {directory} failed ({reason}). {where}")

    def finite_checkpoint(self, gives_finite_loss):
        """After a non-finite loss: the newest checkpoint whose weights are finite and for which `gives_finite_loss()`
        is true, or None. Newer, diverged checkpoints are renamed `diverged-ckpt-N.*` (kept, but no longer listed, so
        no longer resumed from)."""
        paths = list(reversed(self.manager.checkpoints))
        for i, path in enumerate(paths):
            try:
                self.new_checkpoint().restore(path).expect_partial()
                finite = all(bool(tf.reduce_all(tf.math.is_finite(v))) for v in self.model.trainable_variables)
                finite = finite and gives_finite_loss()
            except (tf.errors.OpError, ValueError, AssertionError):
                finite = False
            if finite:
                for bad in paths[:i]:
                    for name in tf.io.gfile.glob(bad + ".*"):
                        renamed = os.path.join(os.path.dirname(name), "diverged-" + os.path.basename(name))
                        tf.io.gfile.rename(name, renamed, overwrite=True)
                checkpoints.write_checkpoint_index(self.checkpoint_dir,
                                                   [p for p in self.manager.checkpoints if p not in paths[:i]])
                return path
        return None
