"""The hparams every model and the trainer share: batch, optimiser, schedule, checkpoints."""
from imgtf.hparams.hparams import HParams


def basic_params():
    """Adam with the warm-up + inverse-square-root schedule of "Attention Is All You Need".

    learning rate at step s = learning_rate * hidden_size**-0.5 * min(s * warmup**-1.5, s**-0.5)
    (`learning_rate` is a multiplier; 1.0 gives Vaswani et al.'s schedule).
    """
    return HParams(
        batch_size=8,  # images per replica per step; global batch = batch_size * replicas
        learning_rate=1.0,
        learning_rate_schedule="rsqrt_decay",  # rsqrt_decay | constant
        learning_rate_warmup_steps=4000,
        optimizer="adam",  # adam | rmsprop
        optimizer_adam_beta1=0.9,
        optimizer_adam_beta2=0.98,
        optimizer_adam_epsilon=1e-9,
        optimizer_rmsprop_rho=0.9,  # decay of the running mean of squared gradients
        optimizer_rmsprop_momentum=0.0,
        optimizer_rmsprop_epsilon=1e-7,
        clip_grad_norm=0.0,  # 0 = no clipping
    )
