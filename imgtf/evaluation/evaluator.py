"""Evaluating a run on a split: every image's negative log-likelihood from one compiled step, the mean in bits/dim
with its standard error and 95% interval over images, the per-image file (imgtf.evaluation.per_image), and the record
in metrics.jsonl. `imgtf-trainer` (after training, and `--schedule=eval`) and `imgtf-compare` evaluate through here."""
import logging
import math
import os
import time

import numpy as np
import tensorflow as tf

from imgtf import units
from imgtf.data.errors import reraise_from_pipeline
from imgtf.errors import NonFiniteLossError, TrainingError
from imgtf.evaluation import per_image
from imgtf.evaluation.statistics import interval_fields
from imgtf.hparams.training import training_settings
from imgtf.progress import Progress
from imgtf.train import polyak

log = logging.getLogger("imgtf")


def eval_batch_size(hparams):
    """Images per replica per evaluation batch: hparam eval_batch_size, or 4 x batch_size when it is 0 or absent (a
    forward pass keeps no activations for gradients, so larger batches fit and run faster)."""
    training = training_settings(hparams)
    return training.get("eval_batch_size", 0) or 4 * training.batch_size


class Evaluator:
    """Evaluates the model of a run's state (imgtf.train.state.RunState) on the splits of `problem` (data in
    `data_dir`), recording each evaluation in `metrics` (a MetricsLog). Its compiled step is traced once: its input
    signature has an unknown batch dimension, so the last, smaller batch of a split and every later evaluation reuse
    the same graph instead of tracing and optimising the model's forward pass again."""

    def __init__(self, state, problem, data_dir, metrics):
        self.state, self.problem, self.data_dir, self.metrics = state, problem, data_dir, metrics
        self.batch_size = eval_batch_size(state.spec.hparams)
        self.step_fn = None

    @classmethod
    def of(cls, trainer):
        """The evaluator of a Trainer's run: its state, problem, data and metrics log."""
        return cls(trainer.state, trainer.problem, trainer.data_dir, trainer.metrics)

    def dataset(self, split):
        """The split's batches in file order under the model's input contract, distributed over the replicas."""
        strategy, model = self.state.strategy, self.state.model
        batches = self.problem.dataset(split, self.data_dir, self.batch_size * strategy.num_replicas_in_sync)
        return strategy.experimental_distribute_dataset(model.input_contract.checked_dataset(
            batches, where=f"problem {self.problem.name!r} ({split} split)"))

    def _build_step(self, element_spec):
        model, strategy = self.state.model, self.state.strategy
        weights = tf.constant(per_image.fingerprint_weights(model.dims))

        def replica_eval(features):
            nll = model.negative_log_likelihood(features, training=False)
            pixels = tf.cast(features["targets"], tf.int64)
            return nll, tf.reduce_sum(tf.reshape(pixels, [tf.shape(pixels)[0], -1]) * weights, axis=1)

        @tf.function(input_signature=[element_spec], autograph=False)
        def eval_step(features):
            """Each image's nats and fingerprint (imgtf.evaluation.per_image), the replicas' in batch order."""
            nll, fingerprint = strategy.run(replica_eval, args=(features,))
            return strategy.gather(nll, axis=0), strategy.gather(fingerprint, axis=0)

        return eval_step

    def evaluate(self, split=None, eval_steps=0, averaged=True):
        """Bits/dim over the whole `split` (or its first `eval_steps` batches) with its standard error and 95% interval
        over images, appended to metrics.jsonl (the returned record); each image's nats go to a per-image file beside
        it (the record's `per_image`). With hparam ema_decay the Polyak averages of the weights are evaluated unless
        `averaged` is False (the record's `weights` says which)."""
        split = split or self.problem.eval_split
        replicas = self.state.strategy.num_replicas_in_sync
        nlls, fingerprints, start = [], [], time.time()
        split_size = self.problem.split_size(split, self.data_dir)  # None when unknown
        size = min(split_size or math.inf, eval_steps * self.batch_size * replicas) if eval_steps else split_size
        with reraise_from_pipeline(), Progress(f"eval {split}", None if size == math.inf else size) as progress, \
                polyak.averaged_weights(self.state.optimizer if averaged else None) as averaged:
            dataset = self.dataset(split)
            self.step_fn = self.step_fn or self._build_step(dataset.element_spec)
            for i, features in enumerate(dataset):
                if eval_steps and i >= eval_steps:
                    break
                nll, fingerprint = self.step_fn(features)
                nlls.append(nll.numpy().astype(np.float64))
                fingerprints.append(fingerprint.numpy())
                progress.update(len(nlls[-1]))
        return self._record(split, nlls, fingerprints, time.time() - start, averaged, eval_steps, split_size)

    def checkpoint_source(self):
        """The checkpoint evaluated: its name (`ckpt-200`) when it is the run's own, its absolute path when it was
        named from elsewhere (`--checkpoint_path=OTHER_RUN/ckpt-10`: recorded with its source, and not counted as
        this run's newest evaluation), None for weights not restored from a checkpoint (a training in progress)."""
        restored = self.state.restored
        if restored is None:
            return None
        if os.path.realpath(os.path.dirname(restored)) == os.path.realpath(self.metrics.output_dir):
            return os.path.basename(restored)
        return os.path.abspath(restored)

    def _record(self, split, nlls, fingerprints, seconds, averaged, eval_steps, split_size):
        """Show the evaluation, then write its per-image file and metrics.jsonl record; returns the record."""
        skipped = getattr(self.problem, "skipped", None)
        if skipped is not None and skipped.count:
            log.warning("%d unreadable images were skipped so far (first: %s)", skipped.count,
                        ", ".join(skipped.names[:5]))
        nll = np.concatenate(nlls) if nlls else np.zeros([0])
        images, problem = int(nll.size), self.problem
        if images == 0:
            raise TrainingError(f"split {split!r} of {problem.name} yielded no images to evaluate.")
        fields = interval_fields(nll, problem.image_shape)
        step, weights = self.state.step_number, "polyak_average" if averaged else "raw"
        source = self.checkpoint_source()
        # the result is shown before any file is written: a failing write must not lose it
        log.info("eval %s @ step %d%s: %s over %d images (%.1f images/s%s)", split, step,
                 f" of {source}" if os.sep in (source or "") else "",
                 units.record_text({**fields, "reported": problem.reported_metric}), images,
                 images / max(seconds, 1e-9), ", Polyak-averaged weights" if averaged else "")
        try:
            evaluation = per_image.ImageEvaluation(nll, np.arange(images), np.concatenate(fingerprints), split, step,
                                                   weights, problem.name, tuple(problem.image_shape))
            entry = self.metrics.record(
                step, split, **fields, reported=problem.reported_metric, **problem.result_fields, num_images=images,
                weights=weights, checkpoint=source, per_image=per_image.save(self.metrics.output_dir, evaluation),
                images_per_sec=images / max(seconds, 1e-9), seconds=round(seconds, 3),
                whole_split=not eval_steps or images == (split_size or -1))
            self.metrics.flush()
        except OSError as e:
            raise TrainingError(f"evaluation finished ({fields['bits_per_dim']:.4f} bits/dim on {split}, {images} "
                                f"images, step {step}; printed above) but could not be recorded in "
                                f"{self.metrics.output_dir}: {e}. Make the run directory writable to keep evaluations "
                                "in metrics.jsonl.") from e
        if not math.isfinite(fields["bits_per_dim"]):
            raise NonFiniteLossError(
                f"evaluation of step {step} gave {fields['bits_per_dim']} bits/dim: these weights have diverged "
                "(recorded as null in metrics.jsonl). Evaluate an earlier checkpoint (imgtf-trainer --schedule=eval "
                "--checkpoint_path) or retrain with a lower learning rate in a new --output_dir.")
        return entry
