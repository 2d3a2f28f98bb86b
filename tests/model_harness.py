"""Shared helpers for model tests: build any registered set for its problem, and read its predictions
in generation order so causality can be asserted the same way for every model."""
from keras import ops

from imgtf import registry
from imgtf.data import cifar


def model_and_problem(set_name):
    """Which registered model and (CIFAR-sized) problem exercise an hparams set."""
    from imgtf.hparams import default_model_and_problem

    return default_model_and_problem(set_name)


def build(set_name, overrides="", problem=None):
    registry.load_builtins()
    model_name, problem_name = model_and_problem(set_name)
    hp = registry.hparams(set_name)
    hp.parse(overrides)
    problem = registry.problem(problem or problem_name)
    return registry.model(model_name)(hp, problem.info), problem


def real_features(problem, cifar_dir, n=2, split="test"):
    """The first n real CIFAR-10 images of `split`, as the problem's pipeline yields them."""
    batch = next(iter(problem.dataset(split, cifar_dir, n)))
    return {k: v.numpy() for k, v in batch.items()}


def predictions(model, features):
    """Every unit's predicted distribution(s) in generation order: [B, L, units_channels * 256] log-probs."""
    params = model(features)
    dist = ops.convert_to_numpy(model.likelihood.channel_distributions(params, features["targets"]))
    batch = dist.shape[0]
    if model.likelihood.unit == "subpixel":
        dist = dist.reshape(batch, -1, 256)  # raster over [H, W*3]
    else:
        dist = dist.reshape(batch, -1, 3 * 256)  # raster over [H, W], 3 channels each
    return dist[:, model.geometry.order]


def change_unit(model, targets, step, channel=0):
    """Copy of targets with the unit generated at `step` (its `channel` for pixel units) changed."""
    changed = targets.copy()
    raster = model.geometry.order[step]
    if model.likelihood.unit == "subpixel":
        flat = changed.reshape(len(changed), -1)
        flat[:, raster] = (flat[:, raster].astype(int) + 128) % 256
    else:
        pixels = changed.reshape(len(changed), -1, 3)
        pixels[:, raster, channel] = (pixels[:, raster, channel].astype(int) + 128) % 256
    return changed


def load_cifar_test_images(cifar_dir, n):
    return cifar.read_split(cifar_dir, "test").images[:n]
