"""Shared helpers for model tests: build any registered set for its problem, and read its predictions
in generation order so causality can be asserted the same way for every model."""
import numpy as np
from keras import ops

from imgtf import catalog, registry
from imgtf.data import cifar


def model_and_problem(set_name):
    """The model an hparams set was registered for, and a CIFAR-sized problem of its kind (the fixtures are CIFAR)."""
    catalog.load_builtins()
    model, _ = registry.model_and_problem_of(set_name)
    return model, ("img2img_cifar10" if model == "img2img_transformer" else "image_cifar10")


def build(set_name, overrides="", problem=None, image_size=None):
    """A set's model for its problem; with `image_size`, for square crops of that size (and low-resolution
    inputs a quarter of it) instead: causality, normalisation and fitting do not depend on 32x32, and small
    images keep the suite fast. Feed it `real_features(..., size=image_size)`."""
    catalog.load_builtins()
    model_name, problem_name = model_and_problem(set_name)
    hp = registry.hparams(set_name)
    hp.parse(overrides)
    problem = registry.problem(problem or problem_name)
    info = dict(problem.info)
    if image_size:
        info["image_shape"] = [image_size, image_size, 3]
        if info.get("input_shape"):
            info["input_shape"] = [image_size // LOW_RES_FACTOR, image_size // LOW_RES_FACTOR, 3]
    return registry.model(model_name)(hp, info), problem


LOW_RES_FACTOR = 4  # 32x32 targets, 8x8 inputs


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


def predictions(model, features):
    """Every unit's predicted distribution(s) in generation order: [B, L, unit_channels * levels] log-probs."""
    params = model(features)
    dist = ops.convert_to_numpy(model.likelihood.channel_distributions(params, features["targets"]))
    batch = dist.shape[0]
    levels = model.num_levels
    per_unit = levels * int(np.prod(model.likelihood.value_shape(3), dtype=int))  # 256 per sub-pixel, 768 per pixel
    dist = dist.reshape(batch, -1, per_unit)  # raster over the unit grid
    return dist[:, model.geometry.order]


def change_unit(model, targets, step, channel=0):
    """Copy of targets with the unit generated at `step` (its `channel` for pixel units) changed (by half the levels:
    128 of 256; a binary value is flipped)."""
    changed, levels = targets.copy(), model.num_levels
    raster = model.geometry.order[step]
    if model.likelihood.unit == "subpixel":
        flat = changed.reshape(len(changed), -1)
        flat[:, raster] = (flat[:, raster].astype(int) + levels // 2) % levels
    else:
        pixels = changed.reshape(len(changed), -1, 3)
        pixels[:, raster, channel] = (pixels[:, raster, channel].astype(int) + levels // 2) % levels
    return changed


def load_cifar_test_images(cifar_dir, n):
    return cifar.read_split(cifar_dir, "test").images[:n]
