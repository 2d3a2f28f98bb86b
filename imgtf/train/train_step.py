"""The compiled training call: one step per replica under any tf.distribute strategy, or a loop of steps in one call.

One step: per-replica loss = sum of sub-pixel NLL / (global batch * H*W*C), i.e. the global mean in nats per
dimension; gradients are summed across replicas by the strategy. With XLA the per-replica computation is compiled
(reading the input iterator cannot be); where compilation fails under a strategy, the step falls back to the plain
graph with a notice."""
import logging

import tensorflow as tf

from imgtf.errors import TrainingError

log = logging.getLogger("imgtf")


class TrainStep:
    """`step(iterator, num_steps, loop)` -> the numpy losses of `num_steps` steps of the run's state
    (imgtf.train.state), run in one compiled call (one host round trip): a tf.range loop of steps with `loop`, else
    one plain step. A run keeps to one of the two (its --steps_per_loop > 1 or not), so its weights do not depend on
    where its calls end."""

    def __init__(self, state, global_batch_size, xla):
        self.state, self.global_batch_size, self.xla = state, global_batch_size, xla
        self._calls = {}  # by whether the call loops
        self._xla_checked = False

    def _build(self, loop):
        """The call, a loop of steps or (without `loop`) a plain step. A step inside a tf.while_loop is a different
        graph: at paper size TensorFlow's memory optimiser rewrites some gradient sums of the Diagonal BiLSTM's scan
        there into temporary variables that outlive the call (the second call fails with AlreadyExistsError); the
        plain step avoids that."""
        model, optimizer, strategy = self.state.model, self.state.optimizer, self.state.strategy
        denominator, step = self.global_batch_size * model.dims, self.state.step

        @tf.autograph.experimental.do_not_convert  # plain ops: converting the model's code only costs tracing time
        def replica_step(features):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(model.negative_log_likelihood(features, training=True)) / denominator
                scaled = optimizer.scale_loss(loss)  # identity unless float16 loss scaling is on
            grads = tape.gradient(scaled, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return loss

        replica_fn = tf.function(replica_step, jit_compile=True, autograph=False) if self.xla else replica_step

        def one_step(iterator):
            loss = strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(replica_fn, args=(next(iterator),)),
                                   axis=None)
            step.assign_add(1)
            return tf.cast(loss, tf.float32)

        @tf.function(autograph=False)
        def train_step(iterator, num_steps):
            return one_step(iterator)[None]

        @tf.function
        def train_loop(iterator, num_steps):
            """Their losses, float32 [num_steps]. No early exit on a non-finite loss (a conditional break measured
            slower here); the caller stops at the first one."""
            losses = tf.TensorArray(tf.float32, size=0, dynamic_size=True)
            for i in tf.range(num_steps):
                # one step after the other: the default lets up to 10 iterations overlap, which measured slower here
                tf.autograph.experimental.set_loop_options(parallel_iterations=1)
                losses = losses.write(i, one_step(iterator))
            return losses.stack()

        return train_loop if loop else train_step

    def __call__(self, iterator, num_steps, loop):
        if loop not in self._calls:
            self._calls[loop] = self._build(loop)
        num_steps = tf.constant(num_steps, tf.int32)
        if not self.xla or self._xla_checked:
            try:
                return self._calls[loop](iterator, num_steps).numpy()
            except tf.errors.AlreadyExistsError as e:
                if not loop or "TemporaryVariable" not in str(e):
                    raise
                raise TrainingError(
                    "TensorFlow cannot run this model's step inside a loop of steps (--steps_per_loop > 1): its memory "
                    f"optimiser leaves a temporary variable of a recurrent layer's gradient alive between calls "
                    f"({str(e).strip().splitlines()[-1][:160]}...). Rerun with --steps_per_loop=1 (the default); the "
                    "run resumes from its last checkpoint.") from None
        try:  # XLA compilation fails at the first call, before any data is consumed
            result = self._calls[loop](iterator, num_steps)
        except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError, tf.errors.InternalError) as e:
            log.warning("XLA compilation failed under %s (%s); training without XLA.",
                        type(self.state.strategy).__name__, str(e).splitlines()[0][:200])
            self.xla, self._calls = False, {}
            self._calls[loop] = self._build(loop)
            result = self._calls[loop](iterator, num_steps)
        self._xla_checked = True
        return result.numpy()
