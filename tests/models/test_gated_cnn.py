"""Gated PixelCNN, PixelCNN++ and PixelSNAIL beyond the harness (tests/models/test_every_tiny_set.py, which checks the
sets as registered): the row-cached sampler with class biases and without skips, class-conditional sampling, size and
label errors, and a class-conditional model trained by name (its export: tests/unit/export)."""
import keras
import numpy as np
import pytest
from keras import ops

from imgtf import catalog, registry
from imgtf.evaluation.evaluator import Evaluator
from helpers.models import dtype_policy, smallest, teacher_forced_params



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


@pytest.mark.parametrize("set_name,overrides", [
    ("gated_pixelcnn_cifar10_tiny", "skip_connections=false,class_conditional=true"),
    # one resolution: the class bias is each gated ResNet's, whatever its resolution (the row caches of the halved
    # resolution are the harness's, on the set at two)
    ("pixelcnn_pp_cifar10_tiny", "class_conditional=true,num_resolutions=1"),
    ("pixelsnail_cifar10_tiny", "class_conditional=true"),
])
def test_class_conditional_steps_equal_the_full_model_and_sampling_is_exact(set_name, overrides):
    """Class biases in every layer (and, for Gated PixelCNN, no skips): at every step of a 4x4 image the row-cached
    `step` (one row of every layer, earlier rows from the caches, the row above recomputed when a row starts) gives the
    whole model's parameters for the unit; in float64 (see tests/models/test_every_tiny_set.py) the cached sampler
    draws exactly the naive sampler's images, and a label changes only its own image's draws."""
    from imgtf.sampling import cached_sample, naive_sample

    with dtype_policy("float64"):
        model = small_model(set_name, (4, 4, 3), smallest(set_name, overrides), num_classes=10)
    for weight in model.trainable_weights:  # strong class biases: a label must change the draws, not only the odds
        if "class_bias" in weight.path:
            weight.assign(3 * np.random.RandomState(1).randn(*weight.shape))
    images = np.random.RandomState(4).randint(0, 256, (2, 4, 4, 3)).astype(np.uint8)
    features = {"label": np.array([1, 8])}
    full = ops.convert_to_numpy(model({"targets": images, **features}))
    full = full.reshape(2, model.num_units, model.likelihood.params_per_unit)
    np.testing.assert_allclose(teacher_forced_params(model, images, features), full, rtol=1e-4, atol=1e-4)
    # seed 5: at some seeds (3, 4 and 6 of 0-7) labels 1 and 2 happen to give image 0 the same draws on 4x4 images
    cached = cached_sample(model, 2, 1.0, 5, features=features, jit_compile=False).numpy()
    np.testing.assert_array_equal(cached, naive_sample(model, 2, 1.0, 5, features=features).numpy())
    assert len(np.unique(cached)) > 5  # really sampled, not a constant image
    other = cached_sample(model, 2, 1.0, 5, features={"label": np.array([2, 8])}, jit_compile=False).numpy()
    assert not np.array_equal(cached[0], other[0]) and np.array_equal(cached[1], other[1])


def test_pixelcnn_pp_needs_sizes_it_can_halve():
    with pytest.raises(ValueError, match="multiples of 4"):
        small_model("pixelcnn_pp_cifar10_tiny", (6, 6, 3))


def test_class_conditional_needs_labels(builtins):
    with pytest.raises(ValueError, match="needs a problem with labels"):
        small_model("gated_pixelcnn_cifar10_tiny", overrides="class_conditional=true")


def test_class_conditional_model_trains_and_evaluates_by_name(builtins, cifar_dir, tmp_path):
    from imgtf.train import run_dir
    from imgtf.train.trainer import Trainer

    spec = run_dir.resolve(str(tmp_path / "run"), "image_cifar10", "gated_pixelcnn", "gated_pixelcnn_cifar10_tiny",
                           "batch_size=4,eval_batch_size=4,class_conditional=true")
    trainer = Trainer(spec, str(tmp_path / "run"), cifar_dir)
    assert trainer.train(2, log_every=1) == 2
    entry = Evaluator.of(trainer).evaluate("test", eval_steps=1)
    assert entry["num_images"] == 4 and 5.0 < entry["bits_per_dim"] < 9.0
