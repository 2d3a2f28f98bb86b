"""Optimiser and learning-rate schedule built from hparams.

Adam and RMSProp are Keras's, with the per-variable update written in TensorFlow ops directly: Keras's generic
update costs about 20 `keras.ops` calls per variable to trace (for a 108-variable PixelCNN++ more than half of its
training step's tracing), and Adam's is one fused kernel (`ResourceApplyAdam`, the same formula). The slots, the
schedule, clipping, Polyak averages and loss scaling stay Keras's."""
import keras
import tensorflow as tf
from keras import ops


@keras.saving.register_keras_serializable("imgtf")
class RsqrtDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up then inverse-square-root decay ("Attention Is All You Need", eq. 3):
    lr(s) = scale * hidden_size**-0.5 * min(s * warmup**-1.5, s**-0.5), with s counted from 1."""

    def __init__(self, scale, hidden_size, warmup_steps):
        self.scale, self.hidden_size, self.warmup_steps = float(scale), int(hidden_size), int(warmup_steps)

    def __call__(self, step):
        s = ops.cast(step, "float32") + 1.0
        warm = float(max(self.warmup_steps, 1))
        return self.scale * self.hidden_size ** -0.5 * ops.minimum(s * warm ** -1.5, ops.rsqrt(s))

    def get_config(self):
        return {"scale": self.scale, "hidden_size": self.hidden_size, "warmup_steps": self.warmup_steps}


class _StepScalars:
    """Mixin: the scalars every variable's update shares in a step (learning rate, the bias corrections, ...) made once
    per step and dtype (`scalars(dtype, learning_rate)`, from the subclass's `make_scalars`) instead of once per
    variable: each is a graph op to trace."""

    _scalars = None

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        self._scalars = {}
        try:
            super()._backend_update_step(grads, trainable_variables, learning_rate)
        finally:
            self._scalars = None

    def scalars(self, dtype, learning_rate):
        if self._scalars is None:  # update_step called on its own
            return self.make_scalars(dtype, learning_rate)
        if dtype not in self._scalars:
            self._scalars[dtype] = self.make_scalars(dtype, learning_rate)
        return self._scalars[dtype]


@keras.saving.register_keras_serializable("imgtf")
class Adam(_StepScalars, keras.optimizers.Adam):
    """Keras's Adam; each variable's update is TensorFlow's fused kernel, which computes Keras's formula
    (m += (g - m)(1 - b1), v += (g^2 - v)(1 - b2), w -= a m / (sqrt(v) + eps), a = lr sqrt(1 - b2^t) / (1 - b1^t))."""

    def make_scalars(self, dtype, learning_rate):
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.constant(self.beta_1, dtype), tf.constant(self.beta_2, dtype)
        return dict(beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step),
                    lr=tf.cast(learning_rate, dtype), beta1=beta_1, beta2=beta_2,
                    epsilon=tf.constant(self.epsilon, dtype))

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad:
            return super().update_step(gradient, variable, learning_rate)
        index = self._get_variable_index(variable)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle, m=self._momentums[index].value.handle, v=self._velocities[index].value.handle,
            grad=tf.cast(tf.convert_to_tensor(gradient), variable.dtype),
            **self.scalars(variable.dtype, learning_rate))


@keras.saving.register_keras_serializable("imgtf")
class RMSprop(_StepScalars, keras.optimizers.RMSprop):
    """Keras's RMSProp; each variable's update is Keras's own formula in the same order, in TensorFlow ops
    (v = rho v + (1 - rho) g^2, w -= lr g / sqrt(v + eps), through the momentum when it is set)."""

    def make_scalars(self, dtype, learning_rate):
        return tf.cast(learning_rate, dtype)

    def update_step(self, gradient, variable, learning_rate):
        if self.centered:
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        index = self._get_variable_index(variable)
        gradient = tf.cast(tf.convert_to_tensor(gradient), dtype)
        velocity = self._velocities[index].value
        velocity.assign(self.rho * velocity + (1 - self.rho) * tf.square(gradient))
        increment = self.scalars(dtype, learning_rate) * gradient / tf.sqrt(velocity + self.epsilon)
        if self.momentum > 0:
            momentum = self._momentums[index].value
            momentum.assign(self.momentum * momentum + increment)
            increment = momentum
        variable.assign_sub(increment)


def learning_rate(hp, model_width=512):
    """The schedule of training settings `hp`; rsqrt_decay scales with `model_width` (the model's hidden_size)."""
    if hp.learning_rate_schedule == "rsqrt_decay":
        if not model_width:
            raise ValueError("learning_rate_schedule=rsqrt_decay scales with the model's width (hparam hidden_size), "
                             "and this model has none: use learning_rate_schedule=constant (learning_rate is then "
                             "the rate itself).")
        return RsqrtDecay(hp.learning_rate, model_width, hp.learning_rate_warmup_steps)
    if hp.learning_rate_schedule == "constant":
        return hp.learning_rate
    if hp.learning_rate_schedule == "exponential_decay":  # PixelCNN++ / PixelSNAIL: lr * rate**step
        rate = hp.get("learning_rate_decay_rate", 1.0)
        if not 0.0 < rate <= 1.0:
            raise ValueError(f"hparam learning_rate_decay_rate={rate}: the per-step factor must be in (0, 1].")
        return keras.optimizers.schedules.ExponentialDecay(hp.learning_rate, decay_steps=1, decay_rate=rate)
    raise ValueError(f"hparam learning_rate_schedule={hp.learning_rate_schedule!r}: use rsqrt_decay, constant or "
                     "exponential_decay.")


def build_optimizer(hp, model_width=512):
    """Adam (the Image Transformer's) or RMSProp (the PixelRNN paper's: "RMSProp gives best convergence
    performance and is used for all experiments"), from training settings `hp`; `model_width` scales rsqrt_decay.
    hparam ema_decay > 0: the optimiser also keeps Polyak averages of the weights (imgtf.train.polyak)."""
    clip = hp.clip_grad_norm or None
    decay = float(hp.get("ema_decay", 0.0))
    ema = dict(use_ema=decay > 0, ema_momentum=decay if decay > 0 else 0.99)
    if hp.optimizer == "adam":
        return Adam(
            learning_rate=learning_rate(hp, model_width), beta_1=hp.optimizer_adam_beta1, beta_2=hp.optimizer_adam_beta2,
            epsilon=hp.optimizer_adam_epsilon, global_clipnorm=clip, **ema)
    if hp.optimizer == "rmsprop":
        return RMSprop(
            learning_rate=learning_rate(hp, model_width), rho=hp.optimizer_rmsprop_rho, momentum=hp.optimizer_rmsprop_momentum,
            epsilon=hp.optimizer_rmsprop_epsilon, global_clipnorm=clip, **ema)
    raise ValueError(f"hparam optimizer={hp.optimizer!r}: use adam or rmsprop.")
