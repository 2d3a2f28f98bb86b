"""Sampling: the cached sampler equals the naive reference exactly, completions keep what they condition on,
and draws follow the model's distributions."""
import numpy as np
import pytest
import keras
import tensorflow as tf
from keras import ops

from imgtf import catalog, registry
from imgtf.likelihoods.dmol import DiscretizedMixtureOfLogistics
from imgtf.sampling import cached_sample, naive_sample

MICRO = ("hidden_size=16,filter_size=32,num_heads=2,num_decoder_layers=2,attention_key_channels=0,"
         "query_block_length=8,memory_length=16,query_shape=[2,4],memory_flange=[1,2],num_mixtures=3")


def small_model(attention_type, likelihood, conditioning="none", image_shape=(4, 5, 3), num_levels=256):
    """A micro model computing in float64. The cached and naive passes sum in different orders; in float32 their
    parameters differ in the last bits (~2e-7), enough to move a DMOL draw across a rounding boundary now and then
    (it happened once, on CI's CPU). In float64 the float32 parameters the sampler draws from come out
    bit-identical, so equal images test the caching logic rather than rounding luck."""
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float64")
    try:
        return _small_model(attention_type, likelihood, conditioning, image_shape, num_levels)
    finally:
        keras.config.set_dtype_policy(policy)


def _small_model(attention_type, likelihood, conditioning, image_shape, num_levels):
    keras.utils.set_random_seed(0)  # the same weights in every run: the "really sampled" check is then not luck
    catalog.load_builtins()
    set_name = {"none": "imagetransformer_cifar10_tiny", "class": "imagetransformer_cifar10_cond_tiny",
                "low_res": "img2img_transformer_celeba_1d_tiny"}[conditioning]
    hp = registry.hparams(set_name)
    hp.parse(f"{MICRO},attention_type={attention_type},likelihood={likelihood}")
    info = {"image_shape": list(image_shape), "num_classes": 10 if conditioning == "class" else None,
            "input_shape": [2, 2, 3] if conditioning == "low_res" else None}
    if num_levels != 256:
        info["num_levels"] = num_levels
    model = registry.model("img2img_transformer" if conditioning == "low_res" else "image_transformer")(hp, info)
    features = {"label": np.array([3, 7])} if conditioning == "class" else {}
    if conditioning == "low_res":
        features["inputs"] = np.random.RandomState(0).randint(0, 256, (2, 2, 2, 3)).astype(np.uint8)
    model({**features, "targets": np.zeros((2, *image_shape), np.uint8)})
    return model, features


@pytest.mark.parametrize("conditioning", ["none", "class", "low_res"])
@pytest.mark.parametrize("likelihood", ["categorical", "dmol"])
@pytest.mark.parametrize("attention_type", ["local_1d", "local_2d", "global"])
def test_cached_sampling_equals_naive_sampling(attention_type, likelihood, conditioning):
    model, features = small_model(attention_type, likelihood, conditioning)
    cached = cached_sample(model, 2, temperature=0.9, seed=11, features=features).numpy()
    naive = naive_sample(model, 2, temperature=0.9, seed=11, features=features).numpy()
    np.testing.assert_array_equal(cached, naive)
    assert cached.dtype == np.uint8 and cached.shape == (2, 4, 5, 3)
    assert len(np.unique(cached)) > 10  # really sampled, not a constant image
    again = cached_sample(model, 2, temperature=0.9, seed=11, features=features).numpy()
    np.testing.assert_array_equal(cached, again)
    other = cached_sample(model, 2, temperature=0.9, seed=12, features=features).numpy()
    assert not np.array_equal(cached, other)


def test_cached_sampling_without_xla_is_identical():
    model, _ = small_model("local_2d", "categorical")
    np.testing.assert_array_equal(cached_sample(model, 2, seed=5).numpy(),
                                  cached_sample(model, 2, seed=5, jit_compile=False).numpy())


@pytest.mark.parametrize("attention_type,likelihood", [("local_1d", "categorical"), ("local_2d", "dmol")])
def test_completion_keeps_the_top_half_and_matches_naive(attention_type, likelihood):
    model, _ = small_model(attention_type, likelihood, image_shape=(4, 8, 3))
    real = np.random.RandomState(3).randint(0, 256, (2, 4, 8, 3)).astype(np.uint8)
    mask = np.zeros((2, 4, 8, 3), bool)
    mask[:, :2] = True  # condition on the top half
    cached = cached_sample(model, 2, seed=4, known=real, known_mask=mask).numpy()
    naive = naive_sample(model, 2, seed=4, known=real, known_mask=mask).numpy()
    np.testing.assert_array_equal(cached, naive)
    np.testing.assert_array_equal(cached[:, :2], real[:, :2])
    assert not np.array_equal(cached[:, 2:], real[:, 2:])


def test_categorical_draws_follow_the_tempered_softmax():
    logits = tf.constant(np.log(np.array([[0.5, 0.3, 0.15, 0.05] + [1e-9] * 252], np.float32)))
    many = tf.repeat(logits, 4000, axis=0)  # 4000 rows: independent draws (the hash covers every element)
    draws = registry_likelihood("categorical").sample(many, tf.constant(0), tf.constant(0), tf.constant(1.0)).numpy()
    frequencies = np.bincount(draws, minlength=4)[:4] / len(draws)
    np.testing.assert_allclose(frequencies, [0.5, 0.3, 0.15, 0.05], atol=0.03)
    cold = registry_likelihood("categorical").sample(many, tf.constant(1), tf.constant(0), tf.constant(0.05)).numpy()
    assert np.mean(np.array(cold) == 0) > 0.99  # low temperature concentrates on the mode


def registry_likelihood(name):
    from imgtf.hparams.hparams import HParams
    from imgtf.likelihoods.likelihood import build_likelihood

    catalog.load_builtins()
    return build_likelihood(HParams(likelihood=name, num_mixtures=3))


def test_dmol_draws_follow_the_discretised_mixture():
    """Empirical frequencies of 6000 draws of one pixel match the likelihood's own distributions."""
    dmol = DiscretizedMixtureOfLogistics(2)
    params = np.array([[0.3, -0.2, -0.5, 0.1, 0.4, 0.6, -0.3, 0.2, -2.0, -2.5, -2.2, -1.8, -2.1, -2.4,
                        0.5, -0.4, 0.8, 0.3, -0.6, 0.2]], np.float32)
    draws = dmol.sample(tf.constant(np.repeat(params, 6000, 0)), tf.constant(0), tf.constant(1), tf.constant(1.0)).numpy()
    # marginal of R, bucketed into 16 bins, against the model's p(R)
    p_r = np.exp(ops.convert_to_numpy(dmol.channel_distributions(params, np.zeros((1, 3), np.int32)))[0, 0])
    expected = p_r.reshape(16, 16).sum(-1)
    observed = np.bincount(draws[:, 0] // 16, minlength=16) / len(draws)
    np.testing.assert_allclose(observed, expected, atol=0.025)
    # the mean log-probability of the draws matches the model's entropy estimate within noise
    logp = ops.convert_to_numpy(dmol.log_prob(np.repeat(params, len(draws), 0), draws)).sum(-1)
    assert np.isfinite(logp).all()


@pytest.mark.parametrize("attention_type,likelihood", [("local_2d", "categorical"), ("local_2d", "dmol"),
                                                       ("local_1d", "categorical"), ("global", "dmol")])
def test_parallel_likelihood_equals_position_by_position_reference(attention_type, likelihood, zebra):
    """The blocked, parallel log-likelihood equals the one computed one position at a time (teacher forcing
    through the incremental path, which applies each position's own mask row), on a real image."""
    model, _ = small_model(attention_type, likelihood, image_shape=(6, 7, 3))
    zebra = zebra[:2, 5:11, 3:10]  # real pixels, 6x7
    parallel = ops.convert_to_numpy(model.log_prob({"targets": zebra})).sum(axis=(1, 2, 3))
    units = zebra.reshape(2, model.num_units, -1)[..., 0] if likelihood == "categorical" else zebra.reshape(2, -1, 3)
    cache, previous, total = model.empty_cache({}, 2), np.zeros(units.shape[:1] + units.shape[2:], np.int32), 0.0
    for t in range(model.num_units):
        params, cache = model.step(cache, previous, t, {})
        current = units[:, model.geometry.order[t]]
        log_prob = ops.convert_to_numpy(model.likelihood.log_prob(params, current))  # [2, 3] (DMOL) or [2]
        total = total + (log_prob.sum(-1) if likelihood == "dmol" else log_prob)
        previous = current
    np.testing.assert_allclose(total, parallel, rtol=1e-5)


@pytest.mark.parametrize("attention_type", ["local_1d", "local_2d", "global"])
@pytest.mark.parametrize("image_shape,num_levels", [((4, 5, 1), 2), ((3, 7, 3), 256)])
def test_binary_grayscale_and_non_square_images_are_causal_and_sample_exactly(attention_type, image_shape, num_levels):
    """C = 1 with binary values, and H != W, for every attention type: the distributions are normalised over the
    levels, no prediction sees its own or a later unit, and the cached sampler draws the naive sampler's images."""
    from model_harness import change_unit, predictions

    model, _ = small_model(attention_type, "categorical", image_shape=image_shape, num_levels=num_levels)
    images = np.random.RandomState(6).randint(0, num_levels, (2, *image_shape)).astype(np.uint8)
    base = predictions(model, {"targets": images})
    assert base.shape[-1] == num_levels
    np.testing.assert_allclose(np.exp(base).sum(-1), 1.0, atol=1e-5)
    for step in (0, 3, model.num_units // 2, model.num_units - 1):
        changed = predictions(model, {"targets": change_unit(model, images, step)})
        assert np.abs(changed - base).max(axis=(0, 2))[: step + 1].max() <= 1e-5, f"unit {step} leaked"
    cached = cached_sample(model, 2, temperature=0.9, seed=2).numpy()
    assert cached.shape == (2, *image_shape) and cached.max() < num_levels
    np.testing.assert_array_equal(cached, naive_sample(model, 2, temperature=0.9, seed=2).numpy())


def test_dmol_refuses_images_that_are_not_rgb():
    with pytest.raises(ValueError, match="likelihood=dmol models RGB pixels .* 1 channel"):
        small_model("local_1d", "dmol", image_shape=(4, 5, 1))
