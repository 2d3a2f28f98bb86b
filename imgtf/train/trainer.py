"""The training and evaluation loop: a custom loop over `strategy.run`, so it runs unchanged under any
tf.distribute strategy (Keras `fit` fails under MultiWorkerMirroredStrategy with Keras 3).

One step: per-replica loss = sum of sub-pixel NLL / (global batch * H*W*3), i.e. the global mean in
nats per dimension; gradients are summed across replicas by the strategy. The loss is reported in
bits/dim. A non-finite loss stops training before any checkpoint is written over the last good one.
"""
import json
import logging
import math
import os
import shutil
import signal
import threading
import time

import keras
import numpy as np
import tensorflow as tf

from imgtf.data.errors import reraise_from_pipeline
from imgtf.train.distribution import is_chief, use_xla
from imgtf.train import checkpoints
from imgtf.train import metrics as metrics_lib
from imgtf.train import per_image, polyak
from imgtf.hparams.training import training_settings
from imgtf.progress import Progress
from imgtf.data.grids import sample_grid
from imgtf.models.factory import make_model
from imgtf.train.optimization import build_optimizer

log = logging.getLogger("imgtf")


class TrainingError(RuntimeError):
    """A training failure the user can act on; the message says what happened and what to do."""


class NonFiniteLossError(TrainingError):
    pass


class Preempted(TrainingError):
    """Training stopped by SIGTERM after saving a checkpoint; rerunning the command resumes it."""


def check_same_data(spec, problem, output_dir):
    """A run resumed on data of another shape or class count (e.g. a class folder added) cannot reuse its
    checkpoints: say so, naming what changed, instead of failing to restore them. Records the data's info in the
    spec (saved to hparams.json) on a run's first start."""
    info = json.loads(json.dumps(problem.info))  # as it reads back from hparams.json
    if spec.problem_info is None:
        spec.problem_info = info
        return
    changed = {k: (spec.problem_info.get(k), v) for k, v in info.items() if spec.problem_info.get(k) != v}
    if changed:
        detail = ", ".join(f"{k} {was} when the run started, {now} now" for k, (was, now) in sorted(changed.items()))
        raise TrainingError(f"the data in --data_dir does not match the run in {output_dir}: {detail}. Its checkpoints "
                            "fit the old data: restore that data (e.g. the class folders) or start a new --output_dir.")


class Trainer:
    """Builds the model, optimiser and checkpoint for a RunSpec and trains / evaluates it."""

    def __init__(self, spec, output_dir, data_dir, strategy=None, seed=0, keep_checkpoints=5, precision="float32",
                 xla="auto"):
        self.spec, self.output_dir, self.data_dir, self.seed = spec, output_dir, data_dir, seed
        self.hparams = spec.hparams
        self.training = training_settings(spec.hparams)  # what this loop reads (batch, optimiser, schedule)
        self.problem = spec.make_problem(data_dir)
        if data_dir is not None:
            check_same_data(spec, self.problem, output_dir)
            for split in {self.problem.train_split, self.problem.eval_split}:
                self.problem.prepared(split, data_dir)  # a damaged or mismatched preparation: refused now
        self.strategy = strategy or tf.distribute.get_strategy()
        self.chief = is_chief(self.strategy)
        self.precision, self.xla = precision, use_xla(xla, self.strategy)  # "auto": on GPUs and TPUs
        # only the chief writes metrics and the real checkpoints; other workers save to a scratch directory
        self.metrics = metrics_lib.MetricsLog(output_dir if self.chief else self._scratch_dir())
        keras.utils.set_random_seed(seed)
        with self.strategy.scope():
            self.model = make_model(spec.model, spec.hparams, self.problem.info, spec.hparams_set)
            # the schedule scales with the model's width (rsqrt_decay); the optimiser reads nothing else of the model
            self.optimizer = build_optimizer(self.training, self.model.width)
            if precision == "float16":  # float16 gradients need loss scaling; bfloat16 does not
                self.optimizer = keras.optimizers.LossScaleOptimizer(self.optimizer)
            self.optimizer.build(self.model.trainable_variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        self.checkpoint = tf.train.Checkpoint(
            model=self.model, optimizer=self.optimizer, step=self.step,
            rng_state=list(self.model.non_trainable_variables))  # dropout seed states: exact resumption
        self.keep_checkpoints = keep_checkpoints
        self.manager = self._checkpoint_manager()
        self._train_fn = self._eval_fn = None
        self._train_fn_loops = False
        self._stop_signal = None

    def _checkpoint_manager(self):
        return tf.train.CheckpointManager(self.checkpoint, self.output_dir if self.chief else self._scratch_dir(),
                                          max_to_keep=self.keep_checkpoints)

    def _scratch_dir(self):
        resolver = self.strategy.cluster_resolver
        return os.path.join(self.output_dir, f".worker_{resolver.task_type}_{resolver.task_id}")

    @property
    def global_batch_size(self):
        return self.training.batch_size * self.strategy.num_replicas_in_sync

    @property
    def eval_batch_size(self):
        """Images per replica per evaluation batch: hparam eval_batch_size, or 4 x batch_size when it is 0 or absent
        (a forward pass keeps no activations for gradients, so larger batches fit and run faster)."""
        return self.training.get("eval_batch_size", 0) or 4 * self.training.batch_size

    @property
    def dims(self):
        h, w, c = self.problem.image_shape
        return h * w * c

    # -- checkpoints ---------------------------------------------------------------------------------
    def restore(self, checkpoint_path=None):
        """Restore the given checkpoint, or the newest readable one in the run directory (every worker reads
        the chief's); returns its step, or 0 if there is none. A damaged newest checkpoint is skipped with a
        warning in favour of the previous one; a lost index is rebuilt from the files."""
        if not checkpoint_path and self.chief and checkpoints.recover_checkpoint_index(self.output_dir):
            self.manager = self._checkpoint_manager()  # it read the index when it was made
        try:
            path = checkpoints.restore_newest(self.checkpoint, self.output_dir, checkpoint_path)
        except checkpoints.CheckpointError as e:
            raise TrainingError(str(e)) from None
        if path is None:
            return 0
        log.info("Restored %s (step %d).", path, int(self.step.numpy()))
        return int(self.step.numpy())

    def save(self):
        """Write a checkpoint. TensorFlow writes the data files first and then replaces the `checkpoint` state
        file atomically, so a crash while saving leaves the previous checkpoints listed and usable. A save that fails
        (a full disk, a read-only or vanished run directory) removes what it had written and stops training with a
        TrainingError naming the newest complete checkpoint, from which a rerun resumes."""
        step = int(self.step.numpy())
        try:
            path = self.manager.save(checkpoint_number=step)
        except (tf.errors.OpError, OSError) as e:
            raise self._write_failed(f"writing the checkpoint of step {step}", e) from None
        if self.chief:
            log.info("Saved checkpoint %s", path)
        else:
            shutil.rmtree(self.manager.directory, ignore_errors=True)
        return path

    def _write_failed(self, what, error):
        """A TrainingError for a failed write into the run directory, after removing a partial checkpoint: what failed,
        why (the system's words), and where the run stands."""
        step = int(self.step.numpy())
        directory = self.manager.directory
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

    # -- training ------------------------------------------------------------------------------------
    def _dataset(self, split, *, train, start_step=0):
        """The split's batches, distributed, under the model's input contract: the element structure is checked as
        the pipeline is built and the values are asserted in the pipeline, outside the compiled step."""
        contract, where = self.model.input_contract, f"problem {self.problem.name!r} ({split} split)"
        if train:
            def pipeline(ctx):
                # each step takes one batch per replica; an input pipeline feeds num_replicas / num_pipelines of them
                batches_per_step = ctx.num_replicas_in_sync // ctx.num_input_pipelines
                return contract.checked_dataset(self.problem.dataset(
                    split, self.data_dir, ctx.get_per_replica_batch_size(self.global_batch_size), shuffle=True,
                    repeat=True, seed=self.seed, skip_batches=start_step * batches_per_step, drop_remainder=True,
                    input_context=ctx), where=where)

            return self.strategy.distribute_datasets_from_function(pipeline)
        ds = self.problem.dataset(split, self.data_dir, self.eval_batch_size * self.strategy.num_replicas_in_sync)
        return self.strategy.experimental_distribute_dataset(contract.checked_dataset(ds, where=where))

    def _build_train_fn(self, loop):
        """The compiled training call: (iterator, num_steps) -> the steps' losses; a tf.range loop of steps, or without
        `loop` (steps_per_loop 1) a plain step. A step inside a tf.while_loop is a different graph: at paper size
        TensorFlow's memory optimiser rewrites some gradient sums of the Diagonal BiLSTM's scan there into temporary
        variables that outlive the call (the second call fails with AlreadyExistsError); the plain step avoids that."""
        model, optimizer, strategy, dims = self.model, self.optimizer, self.strategy, self.dims
        global_batch = self.global_batch_size

        @tf.autograph.experimental.do_not_convert  # plain ops: converting the model's code only costs tracing time
        def replica_step(features):
            with tf.GradientTape() as tape:
                nll = tf.reduce_sum(model.negative_log_likelihood(features, training=True))
                loss = nll / (global_batch * dims)  # the global mean in nats/dim, as the model's compute_loss
                scaled = optimizer.scale_loss(loss)  # identity unless float16 loss scaling is on
            grads = tape.gradient(scaled, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return loss

        # XLA compiles the per-replica computation; reading the input iterator cannot be compiled
        replica_fn = tf.function(replica_step, jit_compile=True, autograph=False) if self.xla else replica_step

        def one_step(iterator):
            loss = strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(replica_fn, args=(next(iterator),)),
                                   axis=None)
            self.step.assign_add(1)
            return tf.cast(loss, tf.float32)

        @tf.function(autograph=False)
        def train_step(iterator, num_steps):
            """One step (num_steps is 1), without a loop around it: see `_build_train_fn`."""
            return one_step(iterator)[None]

        @tf.function
        def train_loop(iterator, num_steps):
            """num_steps steps in one call (one host round trip): their losses, float32 [num_steps]. No early exit on
            a non-finite loss (a conditional break measured slower here); the caller stops at the first one."""
            losses = tf.TensorArray(tf.float32, size=0, dynamic_size=True)
            for i in tf.range(num_steps):
                # one step after the other: the default lets up to 10 iterations overlap, which measured slower here
                tf.autograph.experimental.set_loop_options(parallel_iterations=1)
                losses = losses.write(i, one_step(iterator))
            return losses.stack()

        return train_loop if loop else train_step

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
        iterator = iter(self._dataset(self.problem.train_split, train=True, start_step=start))
        if self._train_fn is None or self._train_fn_loops != (steps_per_loop > 1):
            self._train_fn_loops = steps_per_loop > 1
            self._train_fn = self._build_train_fn(self._train_fn_loops)
        last_saved, window_start, window_steps, window_loss = start, time.time(), 0, 0.0
        previous_handler = self._catch_sigterm()
        deadline = None if time_limit_s is None else time.time() + time_limit_s
        try:
            while int(self.step.numpy()) < train_steps and (deadline is None or time.time() < deadline):
                at = int(self.step.numpy())
                due = [train_steps, last_saved + checkpoint_every, (at // log_every + 1) * log_every]
                if sample_every:
                    due.append((at // sample_every + 1) * sample_every)
                with reraise_from_pipeline():
                    losses = self._run_train_loop(iterator, min([at + steps_per_loop, *due]) - at)
                for offset, loss in enumerate(float(v) for v in losses):
                    self._after_step(at + offset + 1, loss, on_step)
                step = int(self.step.numpy())
                window_steps += len(losses)
                window_loss += float(np.sum(losses))
                if step % log_every == 0 or step == train_steps:
                    elapsed = time.time() - window_start
                    bpd = window_loss / window_steps / metrics_lib.LN2
                    nats = window_loss / window_steps * self.dims
                    rate = window_steps * self.global_batch_size / max(elapsed, 1e-9)
                    lr = float(keras.ops.convert_to_numpy(self.optimizer.learning_rate))
                    loss_text = metrics_lib.likelihood_text(bpd, nats, self.problem.reported_metric)
                    log.info("step %d/%d | loss %s | %.1f images/s | lr %.2e", step, train_steps, loss_text, rate, lr)
                    try:
                        self.metrics.scalars("train", step, {"bits_per_dim": bpd, "nats_per_image": nats,
                                                             "images_per_sec": rate, "learning_rate": lr})
                    except (tf.errors.OpError, OSError) as e:
                        raise self._write_failed("writing the training metrics", e) from None
                    window_start, window_steps, window_loss = time.time(), 0, 0.0
                if sample_every and step % sample_every == 0 and self.chief:
                    self.write_samples(step)
                if step - last_saved >= checkpoint_every:
                    self.save()
                    last_saved = step
                if self._stop_signal is not None:
                    if step != last_saved:
                        self.save()
                    raise Preempted(f"stopped by signal {self._stop_signal} at step {step} after saving a checkpoint "
                                    f"in {self.output_dir}; rerun the same command to resume.")
        except KeyboardInterrupt:
            log.warning("Interrupted at step %d: saving a checkpoint before exiting.", int(self.step.numpy()))
            self.save()
            raise
        finally:
            if previous_handler is not None:
                signal.signal(signal.SIGTERM, previous_handler)
        if int(self.step.numpy()) != last_saved:
            self.save()
        self.metrics.flush()
        return int(self.step.numpy())

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

    def write_samples(self, step, num_samples=4):
        """A grid of `num_samples` images from the model's cached sampler, in TensorBoard under `samples` (seed = the
        step, so successive grids show how the model improves, not a new draw). Conditional models are conditioned
        on the first images of the evaluation split (their labels, or their low-resolution inputs)."""
        conditioning = {}
        if self.model.uses_label or self.model.uses_encoder:
            with reraise_from_pipeline():
                batch = next(iter(self.problem.dataset(self.problem.eval_split, self.data_dir, num_samples)))
            conditioning = {k: batch[k].numpy() for k in ("label", "inputs") if k in batch}
            num_samples = len(batch["targets"])
        start = time.time()
        with polyak.averaged_weights(self.optimizer):
            images = self.model.sample(num_samples, seed=step, **conditioning)
        self.metrics.image("samples", step, sample_grid(images, num_levels=self.model.num_levels))
        self.metrics.flush()
        log.info("step %d: wrote %d samples to TensorBoard (%.1f s)", step, num_samples, time.time() - start)

    def _catch_sigterm(self):
        """On SIGTERM (preemption) finish the current step, save, and stop; returns the previous handler."""
        if threading.current_thread() is not threading.main_thread():
            return None
        self._stop_signal = None

        def handler(signum, frame):
            self._stop_signal = signum
            log.warning("received signal %d: saving a checkpoint after this step, then stopping.", signum)

        return signal.signal(signal.SIGTERM, handler)

    def _after_step(self, step, loss, on_step):
        """What follows each step's loss, in step order: stop on a non-finite one (naming the newest checkpoint that
        still gives a finite loss), else report it to `on_step`."""
        if not math.isfinite(loss):
            advice = ("Lower the learning rate (--hparams=learning_rate=...) or increase "
                      "learning_rate_warmup_steps in a new --output_dir")
            good = self.finite_checkpoint() if self.chief else self.manager.latest_checkpoint
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

    def _run_train_loop(self, iterator, num_steps):
        """num_steps steps in one call -> numpy per-step losses. If XLA compilation fails under this strategy (it
        happens at the first call, before any data is consumed), fall back to the plain graph with a notice."""
        num_steps = tf.constant(num_steps, tf.int32)
        if not self.xla or getattr(self, "_xla_checked", False):
            try:
                return self._train_fn(iterator, num_steps).numpy()
            except tf.errors.AlreadyExistsError as e:
                if not self._train_fn_loops or "TemporaryVariable" not in str(e):
                    raise
                raise TrainingError(
                    f"TensorFlow cannot run this model's step inside a loop of steps (--steps_per_loop > 1): its memory "
                    f"optimiser leaves a temporary variable of a recurrent layer's gradient alive between calls "
                    f"({str(e).strip().splitlines()[-1][:160]}...). Rerun with --steps_per_loop=1 (the default); the "
                    "run resumes from its last checkpoint.") from None
        try:
            result = self._train_fn(iterator, num_steps)
        except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError, tf.errors.InternalError) as e:
            log.warning("XLA compilation failed under %s (%s); training without XLA.",
                        type(self.strategy).__name__, str(e).splitlines()[0][:200])
            self.xla = False
            self._train_fn = self._build_train_fn(self._train_fn_loops)
            result = self._train_fn(iterator, num_steps)
        self._xla_checked = True
        return result.numpy()

    # -- evaluation ----------------------------------------------------------------------------------
    def _eval_step_for(self, dataset):
        """The run's evaluation step (built at the first evaluation dataset, then reused)."""
        self._eval_fn = self._eval_fn or self._build_eval_fn(dataset.element_spec)
        return self._eval_fn

    def _build_eval_fn(self, element_spec):
        """The evaluation step, traced once per run: its input signature is the evaluation dataset's element spec,
        whose batch dimension is unknown, so the last, smaller batch of a split (and every later evaluation) reuses
        the same graph instead of tracing and optimising the model's forward pass again."""
        model, strategy = self.model, self.strategy
        weights = tf.constant(per_image.fingerprint_weights(self.dims))

        def replica_eval(features):
            nll = model.negative_log_likelihood(features, training=False)
            pixels = tf.cast(features["targets"], tf.int64)
            return nll, tf.reduce_sum(tf.reshape(pixels, [tf.shape(pixels)[0], -1]) * weights, axis=1)

        @tf.function(input_signature=[element_spec], autograph=False)
        def eval_step(features):
            """Each image's nats and fingerprint (imgtf.train.per_image), the replicas' in batch order."""
            nll, fingerprint = strategy.run(replica_eval, args=(features,))
            return strategy.gather(nll, axis=0), strategy.gather(fingerprint, axis=0)

        return eval_step

    def evaluate(self, split=None, eval_steps=0, averaged=True):
        """Bits/dim over the whole `split` (or its first `eval_steps` batches) with its standard error and 95%
        interval over images, appended to metrics.jsonl; each image's nats go to a per-image file beside it
        (imgtf.train.per_image, the record's `per_image`). With hparam ema_decay the Polyak averages of the weights
        are evaluated unless `averaged` is False (the record's `weights` says which)."""
        split = split or self.problem.eval_split
        nlls, fingerprints, start = [], [], time.time()
        split_size = self.problem.split_size(split, self.data_dir)  # None when unknown
        size = (min(split_size or math.inf, eval_steps * self.eval_batch_size * self.strategy.num_replicas_in_sync)
                if eval_steps else split_size)
        with reraise_from_pipeline(), Progress(f"eval {split}", None if size == math.inf else size) as progress, \
                polyak.averaged_weights(self.optimizer if averaged else None) as averaged:
            dataset = self._dataset(split, train=False)
            eval_fn = self._eval_step_for(dataset)
            for i, features in enumerate(dataset):
                if eval_steps and i >= eval_steps:
                    break
                nll, fingerprint = eval_fn(features)
                nlls.append(nll.numpy().astype(np.float64))
                fingerprints.append(fingerprint.numpy())
                progress.update(len(nlls[-1]))
        seconds = time.time() - start
        skipped = getattr(self.problem, "skipped", None)
        if skipped is not None and skipped.count:
            log.warning("%d unreadable images were skipped so far (first: %s)", skipped.count, ", ".join(skipped.names[:5]))
        nll = np.concatenate(nlls) if nlls else np.zeros([0])
        images = int(nll.size)
        if images == 0:
            raise TrainingError(f"split {split!r} of {self.problem.name} yielded no images to evaluate.")
        fields = metrics_lib.interval_fields(nll, self.problem.image_shape)
        bpd, nats = fields["bits_per_dim"], fields["nats_per_image"]
        step = int(self.step.numpy())
        # the result is shown before any file is written: a failing write must not lose it
        weights = "polyak_average" if averaged else "raw"
        unit, digits, shown = (("nats_per_image", 2, "nats/image") if self.problem.reported_metric == "nats_per_image"
                               else ("bits_per_dim", 4, "bits/dim"))  # the interval in the problem's own unit
        interval = (f", 95% CI {fields[unit + '_ci95_low']:.{digits}f}-{fields[unit + '_ci95_high']:.{digits}f} {shown}"
                    if fields[unit + "_se"] is not None else "")
        log.info("eval %s @ step %d: %s over %d images%s (%.1f images/s%s)", split, step,
                 metrics_lib.likelihood_text(bpd, nats, self.problem.reported_metric, fields["bits_per_dim_se"],
                                             fields["nats_per_image_se"]),
                 images, interval, images / max(seconds, 1e-9), ", Polyak-averaged weights" if averaged else "")
        try:
            evaluation = per_image.ImageEvaluation(nll, np.arange(images), np.concatenate(fingerprints), split, step,
                                                   weights, self.problem.name, tuple(self.problem.image_shape))
            per_image_path = per_image.save(self.metrics.output_dir, evaluation)
            entry = self.metrics.record(
                step, split, **fields, reported=self.problem.reported_metric,
                **self.problem.result_fields, num_images=images, weights=weights, per_image=per_image_path,
                images_per_sec=images / max(seconds, 1e-9), seconds=round(seconds, 3),
                whole_split=not eval_steps or images == (split_size or -1))
            self.metrics.flush()
        except OSError as e:
            raise TrainingError(f"evaluation finished ({bpd:.4f} bits/dim on {split}, {images} images, step {step}; "
                                f"printed above) but could not be recorded in {self.metrics.output_dir}: {e}. Make "
                                "the run directory writable to keep evaluations in metrics.jsonl.") from e
        if not math.isfinite(bpd):
            raise NonFiniteLossError(
                f"evaluation of step {step} gave {bpd} bits/dim: these weights have diverged (recorded as null in "
                f"metrics.jsonl). Evaluate an earlier checkpoint (imgtf-trainer --schedule=eval --checkpoint_path) "
                f"or retrain with a lower learning rate in a new --output_dir.")
        return entry

    def finite_checkpoint(self):
        """After a non-finite loss: the newest checkpoint whose weights give a finite loss on a test batch, or None.
        Newer, diverged checkpoints are renamed `diverged-ckpt-N.*` (kept, but no longer resumed from)."""
        dataset = self._dataset(self.problem.eval_split, train=False)
        eval_fn = self._eval_step_for(dataset)
        batch = next(iter(dataset))
        paths = list(reversed(self.manager.checkpoints))
        for i, path in enumerate(paths):
            try:
                self.checkpoint.restore(path).expect_partial()
                finite = all(bool(tf.reduce_all(tf.math.is_finite(v))) for v in self.model.trainable_variables)
                finite = finite and bool(np.all(np.isfinite(eval_fn(batch)[0].numpy())))
            except (tf.errors.OpError, ValueError, AssertionError):
                finite = False
            if finite:
                for bad in paths[:i]:
                    for name in tf.io.gfile.glob(bad + ".*"):
                        renamed = os.path.join(os.path.dirname(name), "diverged-" + os.path.basename(name))
                        tf.io.gfile.rename(name, renamed, overwrite=True)
                checkpoints.write_checkpoint_index(self.output_dir, [p for p in self.manager.checkpoints if p not in paths[:i]])
                return path
        return None
