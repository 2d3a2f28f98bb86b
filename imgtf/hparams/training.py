"""Training settings: what the trainer (and `fit`) reads, as opposed to what the model is. Every hparams set starts
from `training_params()` and adds its model's settings; `model_settings` / `training_settings` split a set, so a
model never sees (nor saves in its Keras config) a batch size or an optimiser, and the optimiser never reads the
model's settings."""
from imgtf.hparams.hparams import HParams


def training_params():
    """Adam with the warm-up + inverse-square-root schedule of "Attention Is All You Need".

    learning rate at step s = learning_rate * hidden_size**-0.5 * min(s * warmup**-1.5, s**-0.5)
    (`learning_rate` is a multiplier; 1.0 gives Vaswani et al.'s schedule; hidden_size is the model's width,
    which the trainer passes to the schedule).
    """
    return HParams(
        batch_size=8,  # images per replica per step; global batch = batch_size * replicas
        eval_batch_size=0,  # images per replica per evaluation batch; 0 = 4 x batch_size (no gradients to keep)
        learning_rate=1.0,
        learning_rate_schedule="rsqrt_decay",  # rsqrt_decay | constant | exponential_decay
        learning_rate_warmup_steps=4000,
        learning_rate_decay_rate=1.0,  # exponential_decay: the rate is multiplied by this at every step
        optimizer="adam",  # adam | rmsprop
        optimizer_adam_beta1=0.9,
        optimizer_adam_beta2=0.98,
        optimizer_adam_epsilon=1e-9,
        optimizer_rmsprop_rho=0.9,  # decay of the running mean of squared gradients
        optimizer_rmsprop_momentum=0.0,
        optimizer_rmsprop_epsilon=1e-7,
        clip_grad_norm=0.0,  # 0 = no clipping
        # Polyak averaging: a = ema_decay * a + (1 - ema_decay) * w after every step (a = w after the first); the
        # averages are saved in checkpoints and used by evaluation, sampling, load_run and export. 0 = off
        ema_decay=0.0,
    )


TRAINING_KEYS = frozenset(training_params().values())


def training_settings(hp):
    """The training settings of a set (HParams or dict) as HParams."""
    values = hp.values() if isinstance(hp, HParams) else dict(hp)
    return HParams(**{k: v for k, v in values.items() if k in TRAINING_KEYS})


def model_settings(hp):
    """Everything in a set that is not a training setting, as a plain dict (what a model is built from)."""
    values = hp.values() if isinstance(hp, HParams) else dict(hp)
    return {k: v for k, v in values.items() if k not in TRAINING_KEYS}
