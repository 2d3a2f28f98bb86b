"""The training loop: steps (imgtf.train.train_step) over the problem's batches, with logging, sample grids,
checkpoints (imgtf.train.state), time limits and preemption, resumable at any checkpoint. A custom loop over
`strategy.run`, so it runs unchanged under any tf.distribute strategy (Keras `fit` fails under
MultiWorkerMirroredStrategy with Keras 3). A non-finite loss stops training before any checkpoint is written over the
last good one."""
import logging
import math
import os
import shutil
import time

import keras
import numpy as np
import tensorflow as tf

from imgtf import units
from imgtf.data.errors import reraise_from_pipeline
from imgtf.errors import NonFiniteLossError, TrainingError
from imgtf.hparams.training import training_settings
from imgtf.train import checkpoints, run_dir
from imgtf.train.distribution import is_chief, use_xla
from imgtf.train.metrics import MetricsLog
from imgtf.train.preemption import StopOnSigterm
from imgtf.train.sample_grids import write_sample_grid
from imgtf.train.state import RunState
from imgtf.train.train_step import TrainStep

log = logging.getLogger("imgtf")


class Preempted(TrainingError):
    """Training stopped by SIGTERM after saving a checkpoint; rerunning the command resumes it."""


class Trainer:
    """Trains the run `spec` in `output_dir` (its state: imgtf.train.state.RunState) on the problem's data in
    `data_dir`, under `strategy` (default: the current one)."""

    def __init__(self, spec, output_dir, data_dir, strategy=None, seed=0, keep_checkpoints=5, precision="float32",
                 xla="auto"):
        self.spec, self.output_dir, self.data_dir, self.seed = spec, output_dir, data_dir, seed
        self.training = training_settings(spec.hparams)  # what this loop reads (batch, optimiser, schedule)
        self.problem = spec.make_problem(data_dir)
        if data_dir is not None:
            run_dir.check_same_data(spec, self.problem, output_dir)
            for split in {self.problem.train_split, self.problem.eval_split}:
                self.problem.prepared(split, data_dir)  # a damaged or mismatched preparation: refused now
        self.strategy = strategy or tf.distribute.get_strategy()
        self.chief = is_chief(self.strategy)
        self.precision = precision
        # only the chief writes metrics and the real checkpoints; other workers write to a scratch directory
        scratch = None if self.chief else os.path.join(
            output_dir, f".worker_{self.strategy.cluster_resolver.task_type}_{self.strategy.cluster_resolver.task_id}")
        self.metrics = MetricsLog(scratch or output_dir)
        keras.utils.set_random_seed(seed)
        self.state = RunState(spec, output_dir, self.problem.info, strategy=self.strategy, precision=precision,
                              keep_checkpoints=keep_checkpoints, checkpoint_dir=scratch)
        self.model, self.optimizer, self.step = self.state.model, self.state.optimizer, self.state.step
        self.train_step = TrainStep(self.state, self.global_batch_size, use_xla(xla, self.strategy))  # auto: GPU, TPU
        self._check_batch = None

    @property
    def global_batch_size(self):
        return self.training.batch_size * self.strategy.num_replicas_in_sync

    @property
    def xla(self):
        """Whether the training step is compiled with XLA (after a failed compilation: False)."""
        return self.train_step.xla

    def restore(self, checkpoint_path=None):
        """Restore the given checkpoint, or the run's newest readable one (every worker reads the chief's); returns
        its step, or 0 if there is none."""
        try:
            path = self.state.restore(checkpoint_path, recover_index=self.chief)
        except checkpoints.CheckpointError as e:
            raise TrainingError(str(e)) from None
        return self.state.step_number if path else 0

    def save(self):
        """Write a checkpoint (imgtf.train.state.RunState.save); a worker's scratch copy is removed at once."""
        path = self.state.save()
        if self.chief:
            log.info("Saved checkpoint %s", path)
        else:
            shutil.rmtree(self.state.checkpoint_dir, ignore_errors=True)
        return path

    def _train_dataset(self, start_step):
        """The training batches from `start_step` on, distributed, under the model's input contract: the structure is
        checked as the pipeline is built and the values are asserted in the pipeline, outside the compiled step."""
        split = self.problem.train_split

        def pipeline(ctx):
            # each step takes one batch per replica; an input pipeline feeds num_replicas / num_pipelines of them
            batches_per_step = ctx.num_replicas_in_sync // ctx.num_input_pipelines
            return self.model.input_contract.checked_dataset(self.problem.dataset(
                split, self.data_dir, ctx.get_per_replica_batch_size(self.global_batch_size), shuffle=True,
                repeat=True, seed=self.seed, skip_batches=start_step * batches_per_step, drop_remainder=True,
                input_context=ctx), where=f"problem {self.problem.name!r} ({split} split)")

        return self.strategy.distribute_datasets_from_function(pipeline)

    def train(self, train_steps, checkpoint_every=1000, log_every=50, on_step=None, time_limit_s=None,
              sample_every=0, steps_per_loop=1):
        """Train until the global step reaches `train_steps` (or `time_limit_s` seconds have passed: fixed
        wall-clock budgets), resuming from the latest checkpoint; a checkpoint is saved at the end. Every
        `sample_every` steps (0: never) a grid of samples goes to TensorBoard (`write_samples`).

        `steps_per_loop`: steps run inside one compiled call (one host round trip and one loss read-back per call,
        what keeps an accelerator busy when a step is short). A call never crosses a step at which something is due
        (a log line, samples, a checkpoint, the end), so those happen at the same steps for any value, and the
        weights are the same; the time limit and SIGTERM are looked at between calls."""
        if steps_per_loop < 1:
            raise ValueError(f"steps_per_loop={steps_per_loop}: run at least 1 step per loop.")
        start = self.restore()
        if start >= train_steps:
            log.info("Already at step %d >= --train_steps=%d; nothing to train.", start, train_steps)
            return start
        if start:
            log.info("Resuming at step %d of %d.", start, train_steps)
        if self.model.needs_data_initialization:
            self.initialize_from_data()
        iterator = iter(self._train_dataset(start))
        last_saved, window_start, window_steps, window_loss = start, time.time(), 0, 0.0
        deadline = None if time_limit_s is None else time.time() + time_limit_s
        with StopOnSigterm() as stop:
            try:
                while self.state.step_number < train_steps and (deadline is None or time.time() < deadline):
                    at = self.state.step_number
                    due = [train_steps, last_saved + checkpoint_every, (at // log_every + 1) * log_every]
                    if sample_every:
                        due.append((at // sample_every + 1) * sample_every)
                    with reraise_from_pipeline():
                        losses = self.train_step(iterator, min([at + steps_per_loop, *due]) - at, steps_per_loop > 1)
                    for offset, loss in enumerate(float(v) for v in losses):
                        self._after_step(at + offset + 1, loss, on_step)
                    step = at + len(losses)
                    window_steps, window_loss = window_steps + len(losses), window_loss + float(np.sum(losses))
                    if step % log_every == 0 or step == train_steps:
                        self._log_window(step, train_steps, window_steps, window_loss, time.time() - window_start)
                        window_start, window_steps, window_loss = time.time(), 0, 0.0
                    if sample_every and step % sample_every == 0 and self.chief:
                        write_sample_grid(self.state, self.problem, self.data_dir, self.metrics, step)
                    if step - last_saved >= checkpoint_every or stop.signal is not None and step != last_saved:
                        self.save()
                        last_saved = step
                    if stop.signal is not None:
                        raise Preempted(f"stopped by signal {stop.signal} at step {step} after saving a checkpoint in "
                                        f"{self.output_dir}; rerun the same command to resume.")
            except KeyboardInterrupt:
                log.warning("Interrupted at step %d: saving a checkpoint before exiting.", self.state.step_number)
                self.save()
                raise
        if int(self.step.numpy()) != last_saved:
            self.save()
        self.metrics.flush()
        return int(self.step.numpy())

    def _log_window(self, step, train_steps, steps, loss, seconds):
        """The log line and TensorBoard scalars of the steps since the last line: mean loss, images/s, learning rate."""
        bits, rate = units.nats_to_bits(loss / steps), steps * self.global_batch_size / max(seconds, 1e-9)
        lr = float(keras.ops.convert_to_numpy(self.optimizer.learning_rate))
        log.info("step %d/%d | loss %s | %.1f images/s | lr %.2e", step, train_steps,
                 units.likelihood_text(bits, loss / steps * self.model.dims, self.problem.reported_metric), rate, lr)
        try:
            self.metrics.scalars("train", step, {"bits_per_dim": bits, "nats_per_image": loss / steps * self.model.dims,
                                                 "images_per_sec": rate, "learning_rate": lr})
        except (tf.errors.OpError, OSError) as e:
            raise self.state.write_failed("writing the training metrics", e) from None

    def initialize_from_data(self):
        """Data-dependent initialisation of the weight-normalised layers (hparam weight_norm) on the first batch of
        the training order, before step 1; the checkpoint records that it ran, so a resumed run does not redo it."""
        with reraise_from_pipeline():
            batch = next(iter(self.model.input_contract.checked_dataset(self.problem.dataset(
                self.problem.train_split, self.data_dir, self.global_batch_size, shuffle=True, seed=self.seed),
                where=f"problem {self.problem.name!r} ({self.problem.train_split} split)")))
        self.model.initialize_from_data(batch)
        log.info("Initialised %d weight-normalised layers from %d training images.",
                 len(self.model.weight_normalized_layers), len(batch["targets"]))

    def _after_step(self, step, loss, on_step):
        """What follows each step's loss, in step order: stop on a non-finite one (naming the newest checkpoint that
        still gives a finite loss), else report it to `on_step`."""
        if not math.isfinite(loss):
            advice = ("Lower the learning rate (--hparams=learning_rate=...) or increase "
                      "learning_rate_warmup_steps in a new --output_dir")
            good = (self.state.finite_checkpoint(self._gives_finite_loss) if self.chief
                    else self.state.manager.latest_checkpoint)
            if good is None:
                raise NonFiniteLossError(
                    f"loss became {loss} at step {step}; training stopped. No checkpoint of this run gives a "
                    f"finite loss (every one was written after the weights diverged). {advice}.")
            raise NonFiniteLossError(
                f"loss became {loss} at step {step}; training stopped. The newest checkpoint that still gives "
                f"a finite loss is {good}; newer diverged ones were renamed diverged-ckpt-*. {advice}, or "
                f"resume from {os.path.basename(good)}.")
        if on_step:
            on_step(step, loss)

    def _gives_finite_loss(self):
        """Whether the model gives every image of the first evaluation batch a finite likelihood."""
        if self._check_batch is None:
            with reraise_from_pipeline():
                self._check_batch = next(iter(self.problem.dataset(self.problem.eval_split, self.data_dir,
                                                                   self.global_batch_size)))
        nll = self.model.negative_log_likelihood(self._check_batch, training=False)
        return bool(np.all(np.isfinite(keras.ops.convert_to_numpy(nll))))
