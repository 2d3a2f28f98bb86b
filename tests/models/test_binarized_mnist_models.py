"""The convolutional binarized-MNIST sets (and PixelCNN++ given a categorical) on real binary digits: each with a
2-way categorical (PixelCNN++ and PixelSNAIL, per-pixel networks, take it on one-channel images), causal in every
unit, normalised, its sampler's steps equal to the whole model, cached sampling drawing the naive sampler's images;
and the PixelCNN set has the size of the configuration its docstring cites."""
import types

import numpy as np
import pytest
from keras import ops

from helpers.models import assert_causal, enliven, full_params, smallest, teacher_forced_params
from imgtf.data import amat

# the convolutional families on one binary channel (PixelCNN++: no MNIST set, given a categorical by hparam); the
# recurrent models' and the Image Transformer's binary one-channel paths are tested in test_pixel_rnn.py and
# tests/e2e/test_user_images.py (the suite's time budget)
SETS = ["pixelcnn_binarized_mnist", "gated_pixelcnn_binarized_mnist", "pixelsnail_binarized_mnist",
        "pixelcnn_pp_cifar10_tiny"]
# PixelCNN++ at one resolution: what is tested here is its output head (a categorical per pixel on one channel); its
# halvings are the harness's
OVERRIDES = {"pixelcnn_pp_cifar10_tiny": "likelihood=categorical,num_resolutions=1"}
SIZE = 8  # real 8x8 crops of binary digits: 64 units


def build(set_name, size=SIZE, smaller=True, num_levels=2):
    import keras

    from imgtf import catalog, registry

    catalog.load_builtins()
    hp = registry.hparams(set_name)
    overrides = OVERRIDES.get(set_name, "")
    hp.parse(smallest(set_name, overrides, narrow=True) if smaller else overrides)
    info = {"image_shape": [size, size, 1], "input_shape": None, "num_classes": None, "num_levels": num_levels}
    keras.utils.set_random_seed(0)
    model = registry.model(registry.model_and_problem_of(set_name)[0])(hp, info)
    model.build_variables()
    return model


@pytest.fixture(scope="module", params=SETS)
def binary(request, mnist_dir):
    import keras

    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float64")  # see tests/models/test_every_tiny_set.py: leaks of 1e-5 stay visible
    try:
        model = enliven(build(request.param))
    finally:
        keras.config.set_dtype_policy(policy)
    digits = amat.read_split(mnist_dir, "train").images[:2, 10:10 + SIZE, 10:10 + SIZE]  # the digits' centres
    assert 0 < digits.mean() < 1
    return types.SimpleNamespace(name=request.param, model=model, features={"targets": digits})


def test_causal_and_normalised_on_binary_digits(binary):
    model, features = binary.model, binary.features
    assert model.likelihood.num_levels == 2
    assert_causal(model, features)
    dist = ops.convert_to_numpy(model.likelihood.channel_distributions(model(features), features["targets"]))
    assert dist.shape[-1] == 2
    np.testing.assert_allclose(np.exp(dist).sum(-1), 1.0, atol=1e-6)


def test_sampler_steps_equal_the_whole_model_and_cached_equals_naive(binary):
    from imgtf.sampling import cached_sample, naive_sample

    model, features = binary.model, binary.features
    np.testing.assert_allclose(teacher_forced_params(model, features["targets"]), full_params(model, features),
                               rtol=1e-6, atol=1e-6)
    cached = cached_sample(model, 2, 1.0, 3, jit_compile=False).numpy()
    np.testing.assert_array_equal(cached, naive_sample(model, 2, 1.0, 3).numpy())
    assert set(np.unique(cached)) == {0, 1}


def test_pixelcnn_set_is_pytorch_generatives_pixelcnn():
    """53,569 parameters in pytorch-generative's PixelCNN (7x7 input 1,600; 15 blocks of 3,392; head 1,056 + 33 for
    its one Bernoulli logit); the 2-way softmax here has 2 logits: 33 more."""
    assert build("pixelcnn_binarized_mnist", size=28, smaller=False).count_params() == 53_569 + 33


def test_a_per_pixel_network_refuses_a_per_sub_pixel_likelihood_on_colour_images():
    with pytest.raises(ValueError, match="predicts one pixel per step"):
        from imgtf import catalog, registry

        catalog.load_builtins()
        hp = registry.hparams("pixelsnail_binarized_mnist")
        registry.model("pixelsnail")(hp, {"image_shape": [8, 8, 3], "input_shape": None, "num_classes": None})
