"""Lower bounds of the memory a model's weights and a training step need, checked before anything is built or written.

`--hparams=batch_size=100000` or `hidden_size=1000000000` would otherwise build the model and fail 20-40 s later in
TensorFlow's words, out of memory; so would a `.keras` file or `build_model` call whose config asks for such sizes
(the weights are checked whenever a model is constructed). The bounds count only what every family must hold: per
layer a hidden x hidden weight matrix (for a step, with its gradient and Adam's two moments), per layer one activation
of every pixel of the batch, for a categorical likelihood the logits of every sub-pixel with their gradient, and for
masked self-attention its [query, key] weights: kept by every layer for the backward pass (by one at a time with
recompute) and one layer's gradient of them, as many as its attention type's query blocks and memories hold (global
attention: the square of the generation units). Real steps need several times more, so a configuration refused here
cannot train on this machine; one that passes may still not fit."""
from imgtf import registry
from imgtf.machine import physical_memory_bytes
from imgtf.errors import TrainingError
from imgtf.hparams.hparams import HParamsError
from imgtf.layers import geometry

FLOAT_BYTES = 4


def weight_floats(hparams):
    """Floats the model's weights hold at least: per layer a hidden x hidden matrix. Returns (floats, layers)."""
    hidden = int(hparams.get("hidden_size") or 1)
    layers = max([int(hparams.get(k) or 0) for k in ("num_decoder_layers", "num_layers")] +
                 [int(hparams.get("num_blocks") or 0) * int(hparams.get("num_resnets") or 1), 1])
    return hidden * hidden * layers, layers


def lower_bound_bytes(hparams, image_shape, num_levels, global_batch):
    """Bytes a training step needs at least, and the largest part's name."""
    hidden = int(hparams.get("hidden_size") or 1)
    weights, layers = weight_floats(hparams)
    height, width, channels = (int(d) for d in image_shape)
    parts = {
        "weights, gradients and Adam moments": 4 * weights,
        "one activation per layer and pixel": global_batch * height * width * hidden * layers,
    }
    if hparams.get("likelihood", "categorical") == "categorical":
        parts["the logits of every sub-pixel and their gradient"] = 2 * global_batch * height * width * channels * \
            num_levels
    if hparams.get("attention_type"):
        kept = 1 if hparams.get("recompute") else layers
        parts["the attention weights of every layer"] = (kept + 1) * global_batch * int(hparams.get("num_heads") or 1) \
            * geometry.num_logits(hparams, *registry.likelihoods.get(hparams.likelihood).grid((height, width, channels)))
    largest = max(parts, key=parts.get)
    return FLOAT_BYTES * sum(parts.values()), largest


def check_fits(hparams, problem_info, global_batch, source="--hparams"):
    """TrainingError, with the estimate, when even the lower bound exceeds the machine's memory (for a step on the
    CPU: on GPUs and TPUs the step is in their memory, which the host's does not bound)."""
    available = physical_memory_bytes()
    needed, largest = lower_bound_bytes(hparams, problem_info["image_shape"], problem_info.get("num_levels", 256),
                                        global_batch)
    if available and needed > available:
        raise TrainingError(
            f"batch_size={hparams.get('batch_size')} (global batch {global_batch}), hidden_size="
            f"{hparams.get('hidden_size')}: a training step needs at least {needed / 2 ** 30:,.1f} GiB (mostly "
            f"{largest}), more than this machine's {available / 2 ** 30:,.1f} GiB. Lower them in {source}; nothing was "
            "built or written.")


def check_weights_fit(hparams, source):
    """HParamsError, with the estimate, when even the weights' lower bound exceeds the machine's memory: such a model
    cannot be built here (its weights pass through the host's memory when they are loaded or saved)."""
    available = physical_memory_bytes()
    floats, layers = weight_floats(hparams)
    needed = FLOAT_BYTES * floats
    if available and needed > available:
        plural = "s" if layers > 1 else ""
        raise HParamsError(
            f"hidden_size={hparams.get('hidden_size')} in {layers} layer{plural}: the model's weights "
            f"alone need at least {needed / 2 ** 30:,.1f} GiB, more than this machine's {available / 2 ** 30:,.1f} "
            f"GiB. Lower them in {source}; nothing was built.")
