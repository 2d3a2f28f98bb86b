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

from imgtf import registry
from imgtf.data.errors import reraise_from_pipeline
from imgtf.train.distribution import is_chief
from imgtf.train import metrics as metrics_lib
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


def build_model(spec, problem_info):
    """The run's model; an hparams set written for another model family is named as such, not a KeyError."""
    try:
        return registry.model(spec.model)(spec.hparams, problem_info)
    except KeyError as e:
        from imgtf.hparams import default_model_and_problem

        family = default_model_and_problem(spec.hparams_set)[0]
        hint = (f" it is a set of model {family!r} (--model={family})" if family != spec.model
                else " the set lacks a key this model reads")
        raise TrainingError(f"hparams set {spec.hparams_set!r} does not fit model {spec.model!r} (no hparam {e}):"
                            f"{hint}. `imgtf-trainer --registry_help` lists the sets of every model.") from None


def checkpoint_files(output_dir):
    """{step: prefix} of every `ckpt-N` whose index file is in the run directory."""
    found = {}
    for index in tf.io.gfile.glob(os.path.join(output_dir, "ckpt-*.index")):
        number = os.path.basename(index)[len("ckpt-"):-len(".index")]
        if number.isdigit():
            found[int(number)] = index[:-len(".index")]
    return found


def recover_checkpoint_index(output_dir):
    """If `ckpt-N` files exist but the `checkpoint` index file is missing, unreadable or does not list them (a
    partial copy, a sync tool), rebuild it from the files, newest last as TensorFlow writes it, with a warning.
    Without this the run would silently start again from step 0 and overwrite the checkpoints by name."""
    found = checkpoint_files(output_dir)
    if not found:
        return False
    try:
        state = tf.train.get_checkpoint_state(output_dir)
        listed = set(state.all_model_checkpoint_paths) if state else set()
    except Exception:  # noqa: BLE001 - a damaged index file fails in many ways; it is rebuilt below
        state, listed = None, set()
    if state is not None and all(os.path.basename(p) in {os.path.basename(q) for q in listed}
                                 for p in found.values()):
        return False
    paths = [found[step] for step in sorted(found)]
    log.warning("the checkpoint index of %s is %s; rebuilt it from the %d checkpoint files there (newest %s).",
                output_dir, "missing or unreadable" if state is None else "incomplete", len(paths),
                os.path.basename(paths[-1]))
    write_checkpoint_index(output_dir, paths)
    return True


def write_checkpoint_index(output_dir, paths):
    """Write the `checkpoint` index listing `paths` (oldest first; the last is the one restored), with the files'
    times, which CheckpointManager needs to keep them listed (and to rotate them) from then on."""
    times = [tf.io.gfile.stat(path + ".index").mtime_nsec / 1e9 for path in paths]
    tf.compat.v1.train.update_checkpoint_state(output_dir, paths[-1], all_model_checkpoint_paths=paths,
                                               all_model_checkpoint_timestamps=times)


class Trainer:
    """Builds the model, optimiser and checkpoint for a RunSpec and trains / evaluates it."""

    def __init__(self, spec, output_dir, data_dir, strategy=None, seed=0, keep_checkpoints=5, precision="float32",
                 xla=False):
        self.spec, self.output_dir, self.data_dir, self.seed = spec, output_dir, data_dir, seed
        self.hparams = spec.hparams
        self.problem = spec.make_problem(data_dir)
        if data_dir is not None:
            check_same_data(spec, self.problem, output_dir)
        self.strategy = strategy or tf.distribute.get_strategy()
        self.chief = is_chief(self.strategy)
        self.precision, self.xla = precision, xla
        # only the chief writes metrics and the real checkpoints; other workers save to a scratch directory
        self.metrics = metrics_lib.MetricsLog(output_dir if self.chief else self._scratch_dir())
        keras.utils.set_random_seed(seed)
        with self.strategy.scope():
            self.model = build_model(spec, self.problem.info)
            self.model(self.dummy_features(1))  # build every variable
            self.optimizer = build_optimizer(self.hparams)
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
        self._stop_signal = None

    def _checkpoint_manager(self):
        return tf.train.CheckpointManager(self.checkpoint, self.output_dir if self.chief else self._scratch_dir(),
                                          max_to_keep=self.keep_checkpoints)

    def _scratch_dir(self):
        resolver = self.strategy.cluster_resolver
        return os.path.join(self.output_dir, f".worker_{resolver.task_type}_{resolver.task_id}")

    @property
    def global_batch_size(self):
        return self.hparams.batch_size * self.strategy.num_replicas_in_sync

    @property
    def dims(self):
        h, w, c = self.problem.image_shape
        return h * w * c

    def dummy_features(self, batch):
        info = self.problem.info
        features = {"targets": np.zeros([batch, *info["image_shape"]], np.uint8)}
        if info.get("num_classes"):
            features["label"] = np.zeros([batch], np.int32)
        if info.get("input_shape"):
            features["inputs"] = np.zeros([batch, *info["input_shape"]], np.uint8)
        return features

    # -- checkpoints ---------------------------------------------------------------------------------
    def restore(self, checkpoint_path=None):
        """Restore the given checkpoint, or the newest readable one in the run directory (every worker reads
        the chief's); returns its step, or 0 if there is none. A damaged newest checkpoint (e.g. a crash while
        it was written) is skipped with a warning in favour of the previous one."""
        if checkpoint_path:
            candidates = [checkpoint_path]
        else:
            if self.chief and recover_checkpoint_index(self.output_dir):
                self.manager = self._checkpoint_manager()  # it read the index when it was made
            state = tf.train.get_checkpoint_state(self.output_dir)
            # paths come back already joined with the directory (relative directories stay relative)
            candidates = list(reversed(state.all_model_checkpoint_paths)) if state else []
        errors = []
        for path in candidates:
            try:
                self.checkpoint.restore(path).assert_existing_objects_matched()
            except (tf.errors.OpError, AssertionError, ValueError, IndexError, KeyError) as e:  # damaged files
                errors.append(f"{path}: {type(e).__name__}: {str(e).splitlines()[0]}")
                log.warning("cannot restore %s (%s); trying an older checkpoint.", path, errors[-1])
                continue
            log.info("Restored %s (step %d).", path, int(self.step.numpy()))
            return int(self.step.numpy())
        if errors:
            raise TrainingError(f"no checkpoint in {self.output_dir} could be restored: {'; '.join(errors)}. "
                                "Point --output_dir elsewhere to start afresh.")
        return 0

    def save(self):
        """Write a checkpoint. TensorFlow writes the data files first and then replaces the `checkpoint` state
        file atomically, so a crash while saving leaves the previous checkpoints listed and usable."""
        path = self.manager.save(checkpoint_number=int(self.step.numpy()))
        if self.chief:
            log.info("Saved checkpoint %s", path)
        else:
            shutil.rmtree(self.manager.directory, ignore_errors=True)
        return path

    # -- training ------------------------------------------------------------------------------------
    def _dataset(self, split, *, train, skip_batches=0):
        per_replica = self.hparams.batch_size
        if train:
            return self.strategy.distribute_datasets_from_function(
                lambda ctx: self.problem.dataset(
                    split, self.data_dir, ctx.get_per_replica_batch_size(self.global_batch_size), shuffle=True,
                    repeat=True, seed=self.seed, skip_batches=skip_batches, drop_remainder=True, input_context=ctx))
        ds = self.problem.dataset(split, self.data_dir, per_replica * self.strategy.num_replicas_in_sync)
        return self.strategy.experimental_distribute_dataset(ds)

    def _build_train_fn(self):
        model, optimizer, strategy, dims = self.model, self.optimizer, self.strategy, self.dims
        global_batch = self.global_batch_size

        def replica_step(features):
            with tf.GradientTape() as tape:
                nll = -tf.reduce_sum(model.log_prob(features, training=True))
                loss = nll / (global_batch * dims)
                scaled = optimizer.scale_loss(loss)  # identity unless float16 loss scaling is on
            grads = tape.gradient(scaled, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return loss

        # XLA compiles the per-replica computation; reading the input iterator cannot be compiled
        replica_fn = tf.function(replica_step, jit_compile=True) if self.xla else replica_step

        @tf.function
        def train_step(iterator):
            loss = strategy.run(replica_fn, args=(next(iterator),))
            self.step.assign_add(1)
            return strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None)

        return train_step

    def train(self, train_steps, checkpoint_every=1000, log_every=50, on_step=None, time_limit_s=None):
        """Train until the global step reaches `train_steps` (or `time_limit_s` seconds have passed: fixed
        wall-clock budgets), resuming from the latest checkpoint; a checkpoint is saved at the end."""
        start = self.restore()
        if start >= train_steps:
            log.info("Already at step %d >= --train_steps=%d; nothing to train.", start, train_steps)
            return start
        if start:
            log.info("Resuming at step %d of %d.", start, train_steps)
        iterator = iter(self._dataset(self.problem.train_split, train=True, skip_batches=start))
        self._train_fn = self._train_fn or self._build_train_fn()
        last_saved, window_start, window_steps, window_loss = start, time.time(), 0, 0.0
        previous_handler = self._catch_sigterm()
        deadline = None if time_limit_s is None else time.time() + time_limit_s
        try:
            while int(self.step.numpy()) < train_steps and (deadline is None or time.time() < deadline):
                with reraise_from_pipeline():
                    loss = float(self._run_train_step(iterator))
                step = int(self.step.numpy())
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
                window_steps += 1
                window_loss += loss
                if on_step:
                    on_step(step, loss)
                if step % log_every == 0 or step == train_steps:
                    elapsed = time.time() - window_start
                    bpd = window_loss / window_steps / metrics_lib.LN2
                    rate = window_steps * self.global_batch_size / max(elapsed, 1e-9)
                    lr = float(keras.ops.convert_to_numpy(self.optimizer.learning_rate))
                    log.info("step %d/%d | loss %.3f bits/dim | %.1f images/s | lr %.2e",
                             step, train_steps, bpd, rate, lr)
                    self.metrics.scalars("train", step, {"bits_per_dim": bpd, "images_per_sec": rate,
                                                         "learning_rate": lr})
                    window_start, window_steps, window_loss = time.time(), 0, 0.0
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

    def _catch_sigterm(self):
        """On SIGTERM (preemption) finish the current step, save, and stop; returns the previous handler."""
        if threading.current_thread() is not threading.main_thread():
            return None
        self._stop_signal = None

        def handler(signum, frame):
            self._stop_signal = signum
            log.warning("received signal %d: saving a checkpoint after this step, then stopping.", signum)

        return signal.signal(signal.SIGTERM, handler)

    def _run_train_step(self, iterator):
        """One step. If XLA compilation fails under this strategy (it happens at the first call, before any
        data is consumed), fall back to the plain graph with a notice."""
        if not self.xla or getattr(self, "_xla_checked", False):
            return self._train_fn(iterator)
        try:
            result = self._train_fn(iterator)
        except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError, tf.errors.InternalError) as e:
            log.warning("XLA compilation failed under %s (%s); training without XLA.",
                        type(self.strategy).__name__, str(e).splitlines()[0][:200])
            self.xla = False
            self._train_fn = self._build_train_fn()
            result = self._train_fn(iterator)
        self._xla_checked = True
        return result

    # -- evaluation ----------------------------------------------------------------------------------
    def _build_eval_fn(self):
        model, strategy = self.model, self.strategy

        def replica_eval(features):
            nll = -tf.reduce_sum(model.log_prob(features, training=False))
            return nll, tf.cast(tf.shape(features["targets"])[0], tf.float32)

        @tf.function
        def eval_step(features):
            nll, count = strategy.run(replica_eval, args=(features,))
            return (strategy.reduce(tf.distribute.ReduceOp.SUM, nll, axis=None),
                    strategy.reduce(tf.distribute.ReduceOp.SUM, count, axis=None))

        return eval_step

    def evaluate(self, split=None, eval_steps=0):
        """Bits/dim over the whole `split` (or its first `eval_steps` batches), appended to metrics.jsonl."""
        split = split or self.problem.eval_split
        self._eval_fn = self._eval_fn or self._build_eval_fn()
        total_nats, images, start = 0.0, 0, time.time()
        with reraise_from_pipeline():
            for i, features in enumerate(self._dataset(split, train=False)):
                if eval_steps and i >= eval_steps:
                    break
                nll, count = self._eval_fn(features)
                total_nats += float(nll)
                images += int(count)
        seconds = time.time() - start
        skipped = getattr(self.problem, "skipped", None)
        if skipped is not None and skipped.count:
            log.warning("%d unreadable images were skipped so far (first: %s)", skipped.count, ", ".join(skipped.names[:5]))
        if images == 0:
            raise TrainingError(f"split {split!r} of {self.problem.name} yielded no images to evaluate.")
        bpd = metrics_lib.bits_per_dim(total_nats, images, self.problem.image_shape)
        step = int(self.step.numpy())
        # the result is shown before any file is written: a failing write must not lose it
        log.info("eval %s @ step %d: %.4f bits/dim over %d images (%.1f images/s)",
                 split, step, bpd, images, images / max(seconds, 1e-9))
        try:
            entry = self.metrics.record(
                step, split, bits_per_dim=bpd, num_images=images,
                images_per_sec=images / max(seconds, 1e-9), seconds=round(seconds, 3),
                whole_split=not eval_steps or images == (self.problem.split_size(split, self.data_dir) or -1))
            self.metrics.flush()
        except OSError as e:
            raise TrainingError(f"evaluation finished ({bpd:.4f} bits/dim on {split}, {images} images, step {step}; "
                                f"printed above) but could not be recorded in {self.metrics.path}: {e}. Make the "
                                "run directory writable to keep evaluations in metrics.jsonl.") from e
        if not math.isfinite(bpd):
            raise NonFiniteLossError(
                f"evaluation of step {step} gave {bpd} bits/dim: these weights have diverged (recorded as null in "
                f"metrics.jsonl). Evaluate an earlier checkpoint (--checkpoint_path) or retrain with a lower "
                f"learning rate in a new --output_dir.")
        return entry

    def finite_checkpoint(self):
        """After a non-finite loss: the newest checkpoint whose weights give a finite loss on a test batch, or None.
        Newer, diverged checkpoints are renamed `diverged-ckpt-N.*` (kept, but no longer resumed from)."""
        batch = next(iter(self._dataset(self.problem.eval_split, train=False)))
        self._eval_fn = self._eval_fn or self._build_eval_fn()
        paths = list(reversed(self.manager.checkpoints))
        for i, path in enumerate(paths):
            try:
                self.checkpoint.restore(path).expect_partial()
                finite = all(bool(tf.reduce_all(tf.math.is_finite(v))) for v in self.model.trainable_variables)
                finite = finite and math.isfinite(float(self._eval_fn(batch)[0]))
            except (tf.errors.OpError, ValueError, AssertionError):
                finite = False
            if finite:
                for bad in paths[:i]:
                    for name in tf.io.gfile.glob(bad + ".*"):
                        renamed = os.path.join(os.path.dirname(name), "diverged-" + os.path.basename(name))
                        tf.io.gfile.rename(name, renamed, overwrite=True)
                write_checkpoint_index(self.output_dir, [p for p in self.manager.checkpoints if p not in paths[:i]])
                return path
        return None


def load_trained(output_dir, data_dir=None, checkpoint_path=None):
    """A Trainer for the run in `output_dir` with its latest (or the given) checkpoint restored."""
    from imgtf.train import run_dir

    spec = run_dir.load(output_dir)
    if spec is None:
        raise TrainingError(f"{output_dir} is not a run directory (no {run_dir.RUN_FILE}); train first.")
    trainer = Trainer(spec, output_dir, data_dir)
    if not trainer.restore(checkpoint_path):
        raise TrainingError(f"no checkpoint in {output_dir}; train first (imgtf-trainer --schedule=train).")
    return trainer
