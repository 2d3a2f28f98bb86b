"""Gated PixelCNN, PixelCNN++ and PixelSNAIL: causality of every stream, the row-cached sampler against the whole
model, class conditioning, and clear errors. (Normalisation, save/reload and overfitting real images are in
test_model_family, which runs every `_tiny` set.)"""
import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from imgtf import catalog, registry
from model_harness import build, change_unit, predictions, real_features

SETS = ["gated_pixelcnn_cifar10_tiny", "pixelcnn_pp_cifar10_tiny", "pixelsnail_cifar10_tiny"]
SIZE = 8  # real 8x8 crops: two halvings for PixelCNN++, several rows and columns for every kernel


@pytest.mark.parametrize("set_name", SETS)
def test_causality_over_units_and_channels(cifar_dir, set_name):
    """Changing the unit generated at step s (a sub-pixel, or one channel of a DMOL pixel) changes no prediction
    made before it, nor the pixel's own channels up to the changed one, and changes some later prediction."""
    model, problem = build(set_name, image_size=SIZE)
    features = real_features(problem, cifar_dir, size=SIZE)
    base = predictions(model, features)
    length = base.shape[1]
    per_row = length // SIZE
    channels = [0, 2] if model.likelihood.unit == "pixel" else [0]
    for step in sorted({0, 1, per_row - 1, per_row, per_row + 1, length // 2, length - 2}):
        for channel in channels:
            changed = dict(features, targets=change_unit(model, features["targets"], step, channel))
            diff = np.abs(predictions(model, changed) - base).max(axis=0)  # [L, units]
            assert diff[:step].max(initial=0) <= 1e-5, f"step {step} leaked into earlier predictions"
            seen = (channel + 1) * 256 if channels != [0] else 256
            assert diff[step, :seen].max() <= 1e-5, f"step {step} channel {channel} leaked into itself"
            later = np.concatenate([diff[step, seen:], diff[step + 1:].ravel()])
            assert later.max() > 1e-4, f"no prediction after step {step} depends on it"


def small_model(set_name, shape=(4, 4, 3), overrides="", num_classes=None):
    """A seeded micro model: the sampling checks below (enough distinct values, a label changing the draws) hold for
    most initialisations but not all (unseeded, PixelSNAIL once drew only 5 distinct values), so every run of the
    suite tests the same weights."""
    keras.utils.set_random_seed(0)
    catalog.load_builtins()
    model_name, _ = registry.model_and_problem_of(set_name)
    hp = registry.hparams(set_name)
    hp.parse(overrides)
    model = registry.model(model_name)(hp, {"image_shape": list(shape), "num_classes": num_classes,
                                            "input_shape": None})
    model.build_variables()
    return model


def teacher_forced_params(model, images, features=None):
    """Every step's parameters from the cached sampler's `step`, fed the real image's values: [B, L, P]."""
    units = images.reshape(len(images), model.num_units, -1)[..., 0] if model.likelihood.unit == "subpixel" else \
        images.reshape(len(images), model.num_units, 3)
    units = units.astype(np.int32)
    step = tf.function(model.step)
    cache = model.empty_cache(features, len(images))
    previous, out = np.zeros_like(units[:, 0]), []
    for t in range(model.num_units):
        params, cache = step(cache, tf.constant(previous), tf.constant(t), features)
        out.append(params.numpy())
        previous = units[:, t]
    return np.stack(out, axis=1)


@pytest.mark.parametrize("set_name,shape,overrides", [
    ("gated_pixelcnn_cifar10_tiny", (4, 6, 3), ""),
    ("gated_pixelcnn_cifar10_tiny", (4, 6, 3), "skip_connections=false,class_conditional=true"),
    ("pixelcnn_pp_cifar10_tiny", (4, 8, 3), "class_conditional=true"),
    ("pixelsnail_cifar10_tiny", (4, 6, 3), ""),
])
def test_row_cached_steps_equal_the_full_model(set_name, shape, overrides):
    """At every step the cached sampler's `step` (one row of every layer, earlier rows from the caches, the row
    above recomputed when a row starts) gives the whole model's parameters for that unit."""
    num_classes = 10 if "class_conditional=true" in overrides else None
    model = small_model(set_name, shape, overrides, num_classes)
    rng = np.random.RandomState(4)
    for weight in model.trainable_weights:  # zero-initialised class biases: give them values
        if "class_bias" in weight.path:
            weight.assign(rng.randn(*weight.shape).astype("float32"))
    images = rng.randint(0, 256, (2, *shape)).astype(np.uint8)
    features = {"label": np.array([3, 7])} if num_classes else None
    full = ops.convert_to_numpy(model({"targets": images, **(features or {})}))
    full = full.reshape(2, model.num_units, model.likelihood.params_per_unit)
    np.testing.assert_allclose(teacher_forced_params(model, images, features), full, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("set_name", SETS)
def test_cached_sampling_equals_naive(set_name):
    """Images, not only parameters: in float64 (see test_sampling.small_model) the cached sampler draws exactly the
    naive sampler's images for the same seed, and a class-conditional model draws different images per label."""
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float64")
    try:
        model = small_model(set_name, (4, 4, 3), "class_conditional=true", num_classes=10)
    finally:
        keras.config.set_dtype_policy(policy)
    for weight in model.trainable_weights:  # strong class biases: a label must change the draws, not only the odds
        if "class_bias" in weight.path:
            weight.assign(3 * np.random.RandomState(1).randn(*weight.shape))
    from imgtf.sampling import cached_sample, naive_sample

    features = {"label": np.array([1, 8])}
    cached = cached_sample(model, 2, 1.0, 3, features=features, jit_compile=False).numpy()
    np.testing.assert_array_equal(cached, naive_sample(model, 2, 1.0, 3, features=features).numpy())
    assert len(np.unique(cached)) > 5  # really sampled, not a constant image
    other = cached_sample(model, 2, 1.0, 3, features={"label": np.array([2, 8])}, jit_compile=False).numpy()
    assert not np.array_equal(cached[0], other[0]) and np.array_equal(cached[1], other[1])


def test_pixelcnn_pp_needs_sizes_it_can_halve():
    with pytest.raises(ValueError, match="multiples of 4"):
        small_model("pixelcnn_pp_cifar10_tiny", (6, 6, 3))


def test_class_conditional_needs_labels(builtins):
    with pytest.raises(ValueError, match="needs a problem with labels"):
        small_model("gated_pixelcnn_cifar10_tiny", overrides="class_conditional=true")


@pytest.mark.parametrize("set_name", ["gated_pixelcnn_cifar10_tiny"])
def test_trains_decodes_classes_and_exports_by_name(builtins, cifar_dir, tmp_path, set_name):
    """By name, class-conditional: the trainer trains and evaluates, the decoder draws labelled samples, and the
    SavedModel's bits/dim and samples equal the trainer's and the cached sampler's. (PixelCNN++ and PixelSNAIL take
    the same code paths; compiling their 32x32 samplers twice costs about 100 s, too much for the suite.)"""
    from imgtf.export.saved_model import export_saved_model
    from imgtf.sampling import cached_sample, decode
    from imgtf.train import run_dir
    from imgtf.train.trainer import Trainer

    model_name, _ = registry.model_and_problem_of(set_name)
    spec = run_dir.resolve(str(tmp_path / "run"), "image_cifar10", model_name, set_name,
                           "batch_size=4,eval_batch_size=4,class_conditional=true")
    trainer = Trainer(spec, str(tmp_path / "run"), cifar_dir)
    assert trainer.train(2, log_every=1) == 2
    entry = trainer.evaluate("test", eval_steps=1)
    assert entry["num_images"] == 4 and 5.0 < entry["bits_per_dim"] < 9.0
    decoded = decode.sample_classes(trainer.model, trainer.problem, labels=[3, 5], num_samples=2, seed=2)
    assert decoded.labels == [3, 5] and decoded.samples.shape[-3:] == (32, 32, 3)
    loaded = tf.saved_model.load(export_saved_model(trainer.model, str(tmp_path / "export")))
    batch = next(iter(trainer.problem.dataset("test", cifar_dir, 4)))
    exported = loaded.signatures["bits_per_dim"](images=batch["targets"], label=batch["label"])["bits_per_dim"]
    assert np.mean(exported.numpy()) == pytest.approx(entry["bits_per_dim"], rel=1e-5)
    label = tf.constant([3])
    sample = loaded.signatures["sample"](num_samples=tf.constant(1), temperature=tf.constant(1.0), seed=tf.constant(3),
                                         label=label)["images"].numpy()
    np.testing.assert_array_equal(sample, cached_sample(trainer.model, 1, 1.0, 3, features={"label": label}).numpy())
