"""Optimiser and learning-rate schedule built from hparams."""
import keras
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
        return keras.optimizers.Adam(
            learning_rate=learning_rate(hp, model_width), beta_1=hp.optimizer_adam_beta1, beta_2=hp.optimizer_adam_beta2,
            epsilon=hp.optimizer_adam_epsilon, global_clipnorm=clip, **ema)
    if hp.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(
            learning_rate=learning_rate(hp, model_width), rho=hp.optimizer_rmsprop_rho, momentum=hp.optimizer_rmsprop_momentum,
            epsilon=hp.optimizer_rmsprop_epsilon, global_clipnorm=clip, **ema)
    raise ValueError(f"hparam optimizer={hp.optimizer!r}: use adam or rmsprop.")
