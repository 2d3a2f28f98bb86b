"""Helpers shared by the model tests: build any registered set for a problem of its kind, feed it real crops, read
its predictions in generation order, and check causality, the sampler's steps and its draws the same way for every
model (tests/models/test_every_tiny_set.py runs them on every registered `_tiny` set)."""
import contextlib

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from imgtf import catalog, registry
from imgtf.data import cifar

LOW_RES_FACTOR = 4  # super-resolution problems: 32x32 targets from 8x8 inputs

# The one shrink rule for tests: every kind of layer a family stacks, each once, and a second layer where the first
# differs from the rest (PixelCNN's mask-A stem then mask-B blocks; the gated stacks' first layer). Causality,
# normalisation, caching and exactness are properties of each layer and of how two compose, not of depth; XLA's
# compile time follows depth. NARROWEST: narrow layers for sets registered at paper width (the binarized-MNIST sets).
# Keys a set does not have are left alone.
SMALLEST = {"num_decoder_layers": 1, "num_layers": 2, "num_resolutions": 2, "num_blocks": 1, "num_resnets": 1}
NARROWEST = {"hidden_size": 8, "output_size": 8, "filter_size": 16, "attention_value_size": 8, "query_block_length": 16,
             "memory_length": 32}


def smallest(set_name, overrides="", narrow=False):
    """The shrink rule's values for the keys `set_name` has (and NARROWEST's, with `narrow`), then `overrides`: a
    comma-separated hparams string for `build`, `run_dir.resolve` or `--hparams`."""
    catalog.load_builtins()
    hp = registry.hparams(set_name)
    rule = {**SMALLEST, **(NARROWEST if narrow else {})}
    return ",".join([f"{key}={value}" for key, value in rule.items() if key in hp] + ([overrides] if overrides else []))


# Keys whose other value a family's own test checks at every step (a full model that read a later unit would differ
# from the step, which cannot see it): the pixel RNNs without residual connections (the paper's ImageNet sets), in
# tests/models/test_pixel_rnn.py::test_incremental_steps_equal_the_full_model. The harness runs one of the two sets.
VARIANT_KEYS = ("residual_connections",)


def tiny_sets():
    """Every registered `_tiny` set, one of each distinct (model, hparams): the harness builds a set on a CIFAR-sized
    problem of its kind, so two sets equal in both (an ImageNet set and its CIFAR-10 twin) are the same model; two
    that differ only in VARIANT_KEYS count as one."""
    catalog.load_builtins()
    names, seen = [], set()
    for name in registry.hparams_sets.names():
        if name.endswith("_tiny"):
            values = {k: v for k, v in registry.hparams(name).values().items() if k not in VARIANT_KEYS}
            key = (model_and_problem(name)[0], repr(sorted(values.items())))
            if key not in seen:
                seen.add(key)
                names.append(name)
    return names


def model_and_problem(set_name):
    """The model a set was registered for, and a CIFAR-10 problem of its kind (the shipped fixtures are CIFAR-10)."""
    catalog.load_builtins()
    model, _ = registry.model_and_problem_of(set_name)
    return model, ("img2img_cifar10" if registry.models.get(model).uses_encoder else "image_cifar10")


@contextlib.contextmanager
def dtype_policy(name):
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(policy)


def build(set_name, overrides="", image_size=None, num_classes=None, seed=None, dtype=None):
    """A set's model for a problem of its kind; with `image_size`, for square crops of that size (low-resolution
    inputs a quarter of it): causality, normalisation and fitting do not depend on 32x32, and small images keep the
    suite fast. Feed it `real_features(..., size=image_size)`. Returns (model, problem)."""
    catalog.load_builtins()
    model_name, problem_name = model_and_problem(set_name)
    hp = registry.hparams(set_name)
    hp.parse(overrides)
    problem = registry.problem(problem_name)
    info = dict(problem.info)
    if image_size:
        info["image_shape"] = [image_size, image_size, 3]
        if info.get("input_shape"):
            info["input_shape"] = [image_size // LOW_RES_FACTOR, image_size // LOW_RES_FACTOR, 3]
    if num_classes is not None:
        info["num_classes"] = num_classes
    if seed is not None:
        keras.utils.set_random_seed(seed)
    with dtype_policy(dtype) if dtype else contextlib.nullcontext():
        model = registry.model(model_name)(hp, info)
        model.build_variables()
    return model, problem


def real_features(problem, cifar_dir, n=2, split="test", size=None):
    """The first n real CIFAR-10 images of `split`, as the problem's pipeline yields them; with `size`, their
    top-left size x size crops (low-resolution inputs: the crops' rounded 4x4 block means, i.e. area resizing)."""
    batch = {k: v.numpy() for k, v in next(iter(problem.dataset(split, cifar_dir, n))).items()}
    if size:
        batch["targets"] = np.ascontiguousarray(batch["targets"][:, :size, :size])
        if "inputs" in batch:
            f, low = LOW_RES_FACTOR, size // LOW_RES_FACTOR
            blocks = batch["targets"].reshape(n, low, f, low, f, 3).astype(np.float64).mean(axis=(2, 4))
            batch["inputs"] = np.round(blocks).astype(np.uint8)
    return batch


def conditioning(model, features):
    """The features besides the targets that `model` reads (its label, its low-resolution input)."""
    return {k: features[k] for k in model.conditioning_keys}


def enliven(model, seed=0, scale=0.5):
    """Give every all-zero weight random values: class embeddings, class biases and learned initial states start at
    zero, which would hide whether the paths they feed are causal, cached and conditioned correctly."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        value = ops.convert_to_numpy(weight)
        if value.size and not value.any():
            weight.assign(rng.normal(0.0, scale, value.shape).astype(value.dtype))
    return model


def predictions(model, features):
    """Every unit's predicted distribution(s) in generation order: [B, L, unit_channels * levels] log-probs."""
    params = model(features)
    dist = ops.convert_to_numpy(model.likelihood.channel_distributions(params, features["targets"]))
    per_unit = model.num_levels * int(np.prod(model.likelihood.value_shape(model.image_shape[-1]), dtype=int))
    return dist.reshape(dist.shape[0], -1, per_unit)[:, model.geometry.order]


def change_unit(model, targets, step, channel=0):
    """Copy of targets with the unit generated at `step` (its `channel` for pixel units) moved by half the levels
    (128 of 256; a binary value is flipped)."""
    changed, levels = targets.copy(), model.num_levels
    raster = model.geometry.order[step]
    if model.likelihood.unit == "subpixel":
        flat = changed.reshape(len(changed), -1)
        flat[:, raster] = (flat[:, raster].astype(int) + levels // 2) % levels
    else:
        pixels = changed.reshape(len(changed), -1, model.image_shape[-1])
        pixels[:, raster, channel] = (pixels[:, raster, channel].astype(int) + levels // 2) % levels
    return changed


def assert_causal(model, features, steps=None, channels=None, leak=1e-5, depends=1e-6):
    """Changing the unit generated at step s (each channel of a pixel unit) changes no prediction made before it, nor
    its own pixel's channels up to the changed one, and changes some later prediction. Every step (or `steps`) and
    channel is checked with one forward pass of a batch holding the image and one changed copy per case. Earlier
    predictions are compared as the model's parameters (a unit's distribution is a function of its parameters and of
    its own values, which the change leaves alone); a pixel unit's own channels, as its distributions. Returns the
    image's predictions (see `predictions`)."""
    one = {k: v[:1] for k, v in features.items()}
    length, levels = model.num_units, model.num_levels
    pixel_unit = model.likelihood.unit == "pixel"
    unit_channels = model.image_shape[-1] if pixel_unit else 1
    cases = [(s, c) for s in (range(length) if steps is None else steps) for c in (channels or range(unit_channels))]
    batch = {k: np.repeat(v, len(cases) + 1, axis=0) for k, v in one.items()}
    for i, (step, channel) in enumerate(cases, start=1):
        batch["targets"][i:i + 1] = change_unit(model, one["targets"], step, channel)
    params = full_params(model, batch)  # [1 + cases, L, P], generation order
    if pixel_unit:  # each case's changed unit, and the image's same unit: their channel distributions
        pixels = batch["targets"].reshape(len(params), -1, model.image_shape[-1])[:, model.geometry.order]

        def distributions(rows):  # same-shaped calls: the likelihood's float32 kernels then agree to the last bit
            dist = model.likelihood.channel_distributions(np.stack([params[i, s] for i, s in rows])[:, None, None],
                                                          np.stack([pixels[i, s] for i, s in rows])[:, None, None])
            return ops.convert_to_numpy(dist).reshape(len(rows), -1)

        own = (distributions([(i, s) for i, (s, _) in enumerate(cases, start=1)]),
               distributions([(0, s) for s, _ in cases]))
    for i, (step, channel) in enumerate(cases, start=1):
        diff = np.abs(params[i] - params[0])  # [L, P]
        before = step if pixel_unit else step + 1  # a sub-pixel unit's parameters are its prediction
        assert diff[:before].max(initial=0) <= leak, f"step {step} leaked into earlier predictions"
        later = diff[step + 1:].ravel()
        if pixel_unit:
            own_diff = np.abs(own[0][i - 1] - own[1][i - 1])  # [unit_channels * levels]
            seen = (channel + 1) * levels  # a pixel's channels <= the changed one are predicted before it
            assert own_diff[:seen].max() <= leak, f"step {step} channel {channel} leaked into its own prediction"
            later = np.concatenate([own_diff[seen:], later])
        if later.size:
            assert later.max() > depends, f"no prediction after step {step} channel {channel} depends on it"
    return predictions(model, one)[0]


def teacher_forced_params(model, images, features=None):
    """Every step's parameters from the sampler's incremental `step`, fed the image's own values: [B, L, P]."""
    value_shape = model.likelihood.value_shape(model.image_shape[-1])
    units = images.reshape(len(images), model.num_units, *value_shape).astype(np.int32)  # raster order
    step = tf.function(model.step, autograph=False)
    cache = model.empty_cache(features or None, len(images))
    previous, out = np.zeros_like(units[:, 0]), []
    for t in range(model.num_units):
        params, cache = step(cache, tf.constant(previous), tf.constant(t), features or None)
        out.append(ops.convert_to_numpy(params))
        previous = units[:, model.geometry.order[t]]
    return np.stack(out, axis=1)


def full_params(model, features):
    """The whole model's parameters of every unit, in generation order: [B, L, P]."""
    params = ops.convert_to_numpy(model(features))
    flat = params.reshape(len(params), model.num_units, model.likelihood.params_per_unit)
    return flat[:, model.geometry.order]


def load_cifar_test_images(cifar_dir, n):
    return cifar.read_split(cifar_dir, "test").images[:n]
