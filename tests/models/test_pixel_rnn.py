"""The PixelRNN paper's models beyond the harness (tests/models/test_every_tiny_set.py): steps without residual and
skip connections, skips reaching the output from every layer, learned initial states, receptive fields (the Row
LSTM's triangle, the Diagonal BiLSTM's whole context), the multi-scale model's likelihood split, and one-channel and
binary images, and completions in the multi-scale order."""
import numpy as np
import pytest
from keras import ops

from helpers.models import assert_causal


def randomise_initial_states(model, seed=0):
    """Learned initial states start at zero; random ones show whether every path really uses them."""
    rng = np.random.RandomState(seed)
    states = [v for v in model.weights if "initial_state" in v.path]
    for variable in states:
        variable.assign(rng.randn(*variable.shape).astype("float32"))
    return states


def small_model(model_name, shape=(4, 6, 3), overrides="", num_levels=256):
    from imgtf import catalog, registry

    catalog.load_builtins()
    hp = registry.hparams(f"{model_name}_cifar10_tiny")
    hp.parse(overrides)
    info = {"image_shape": list(shape), "num_classes": None, "input_shape": None}
    if num_levels != 256:
        info["num_levels"] = num_levels
    model = registry.model(model_name)(hp, info)
    model({"targets": np.zeros((1, *shape), np.uint8)})
    return model


def teacher_forced_logits(model, images):
    """Every step's logits from the sampler's incremental `step`, fed the real image's values: [B, L, 256]."""
    import tensorflow as tf

    units = images.reshape(len(images), -1).astype(np.int32)  # raster sub-pixels
    step = tf.function(model.step, autograph=False)
    cache, previous, logits = model.empty_cache(None, len(images)), np.zeros(len(images), np.int32), []
    for t in range(model.num_units):
        params, cache = step(cache, tf.constant(previous), tf.constant(t), None)
        logits.append(params.numpy())
        previous = units[:, model.geometry.order[t]]
    return np.stack(logits, axis=1)


@pytest.mark.parametrize("model_name,overrides", [
    (name, "residual_connections=false,skip_connections=false") for name in ("pixelcnn", "row_lstm", "diagonal_bilstm")
] + [("multiscale_pixelrnn", "residual_connections=false")])
def test_incremental_steps_equal_the_full_model(model_name, overrides):
    """Without the paper's residual (and skip) connections, as its ImageNet sets train (the harness checks the CIFAR
    sets, with them; helpers.models.VARIANT_KEYS): at every one of the 72 steps of a 4x6 image the sampler's step
    computes the full model's logits for that sub-pixel, from random learned initial states. The full model sees the
    whole image and the step only the units before it, so the equality is also the full model's causality."""
    model = small_model(model_name, overrides=overrides)
    randomise_initial_states(model)
    images = np.random.RandomState(4).randint(0, 256, (2, 4, 6, 3)).astype(np.uint8)
    full = ops.convert_to_numpy(model({"targets": images})).reshape(2, -1, 256)[:, model.geometry.order]
    np.testing.assert_allclose(teacher_forced_logits(model, images), full, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("model_name", ["pixelcnn", "row_lstm", "diagonal_bilstm"])
def test_skip_connections_reach_the_output_from_every_layer(model_name):
    """With skip connections the output layers read sum_l skip_l(x_l): zero every skip projection but the last
    layer's, make that one the identity, and the model computes exactly what it computes without skips."""
    import keras

    plain = small_model(model_name, overrides="skip_connections=false")
    skipped = small_model(model_name, overrides="skip_connections=true")
    assert len(skipped.skips) == skipped.hparams.num_layers and not plain.skips
    by_path = {v.path.split("/", 1)[1]: v for v in plain.weights}
    for variable in skipped.weights:
        name = variable.path.split("/", 1)[1]
        if name in by_path:
            variable.assign(by_path[name])
    for skip in skipped.skips:
        skip.kernel.assign(np.zeros(skip.kernel.shape, "float32"))
        skip.bias.assign(np.zeros(skip.bias.shape, "float32"))
    last = skipped.skips[-1]
    last.kernel.assign(np.eye(last.kernel.shape[-1], dtype="float32")[None, None])
    images = {"targets": np.random.RandomState(2).randint(0, 256, (2, 4, 6, 3)).astype(np.uint8)}
    expected = ops.convert_to_numpy(plain(images))
    np.testing.assert_allclose(ops.convert_to_numpy(skipped(images)), expected, rtol=1e-5, atol=1e-5)
    last.kernel.assign(np.zeros(last.kernel.shape, "float32"))  # now only the zeroed skips reach the output
    skipped.skips[0].kernel.assign(keras.random.normal(skipped.skips[0].kernel.shape, seed=1))
    assert np.abs(ops.convert_to_numpy(skipped(images)) - expected).max() > 1e-3


@pytest.mark.parametrize("model_name", ["row_lstm", "diagonal_bilstm"])
def test_learned_initial_state_reaches_the_first_pixel(model_name):
    """The first pixel's R has no context: what the LSTMs predict for it comes from their initial state."""
    model = small_model(model_name)
    images = {"targets": np.random.RandomState(3).randint(0, 256, (1, 4, 6, 3)).astype(np.uint8)}
    before = ops.convert_to_numpy(model(images))[0, 0, 0, 0]
    states = randomise_initial_states(model)
    assert len(states) == 2 * model.hparams.num_layers * (2 if model_name == "diagonal_bilstm" else 1)
    assert np.abs(ops.convert_to_numpy(model(images))[0, 0, 0, 0] - before).max() > 1e-3
    assert not [v for v in small_model(model_name, overrides="learn_initial_state=false").weights
                if "initial_state" in v.path]


def receptive_field(model, source, target):
    """Does `model`'s prediction of pixel `target` depend on pixel `source`? (Signals through 15 untrained LSTM
    steps fall to ~1e-7, so any change counts; an independent prediction is computed bit for bit the same.)"""
    shape = tuple(model.image_shape)
    images = np.random.RandomState(0).randint(0, 256, (1, *shape)).astype(np.uint8)
    changed = images.copy()
    changed[0][source] = 255 - changed[0][source]
    diff = np.abs(ops.convert_to_numpy(model({"targets": changed})) - ops.convert_to_numpy(model({"targets": images})))
    return diff[0][target].max() > 0.0


def test_row_lstm_sees_the_whole_triangle_above():
    """Through its recurrence over rows, a pixel depends on pixels far above it (not just a 3x3 cone)."""
    assert receptive_field(small_model("row_lstm", (12, 12, 3)), (0, 6), (11, 6))  # beyond any 3x3 stack this shallow


def test_diagonal_bilstm_sees_the_whole_context_where_row_lstm_cannot():
    """On 4x16 images, each model built once: pixels the Diagonal BiLSTM sees and the Row LSTM's triangle misses."""
    diagonal, row = small_model("diagonal_bilstm", (4, 16, 3)), small_model("row_lstm", (4, 16, 3))
    for source, target in [((0, 15), (3, 0)),  # far above-right: the right-to-left direction
                           ((3, 0), (3, 15)),  # far left in the same row: the left direction
                           ((2, 15), (3, 0))]:  # the previous row's far end
        assert receptive_field(diagonal, source, target), (source, target)
        assert not receptive_field(row, source, target), (source, target)  # outside the Row LSTM's triangle


def test_multiscale_likelihood_is_small_image_then_conditional():
    """log p(x) splits exactly into the unconditional network's log p(x[::2, ::2]) and the conditional
    network's terms, and the small image biases the conditional network: a pixel sees subsampled pixels
    that come after it in raster order."""
    model = small_model("multiscale_pixelrnn", (8, 8, 3))
    images = np.random.RandomState(1).randint(0, 256, (2, 8, 8, 3)).astype(np.uint8)
    log_prob = ops.convert_to_numpy(model.log_prob({"targets": images}))
    small = ops.convert_to_numpy(model.unconditional.log_prob({"targets": images[:, ::2, ::2]}))
    np.testing.assert_allclose(log_prob[:, ::2, ::2], small, rtol=1e-5)
    changed = images.copy()
    changed[:, 2, 2] = 255 - changed[:, 2, 2]  # a subsampled pixel: generated before every conditional unit
    moved = np.abs(ops.convert_to_numpy(model.log_prob({"targets": changed})) - log_prob)
    assert moved[:, 0, 1].max() > 0.0  # the first conditional pixel, two rows above the change
    assert model.num_units == 8 * 8 * 3 and list(model.geometry.order[:3]) == [0, 1, 2]
    assert list(model.geometry.order[3:6]) == [6, 7, 8]  # pixel (0, 2): the small image's second pixel


# binary images (num_levels=2) for two of the models, 8-bit for the others: both level counts for C = 1 without
# doubling the matrix (the layers do not depend on the levels; only the input scaling and the output width do)
@pytest.mark.parametrize("model_name,num_levels", [("pixelcnn", 2), ("row_lstm", 256), ("diagonal_bilstm", 2),
                                                   ("multiscale_pixelrnn", 256)])
def test_grayscale_steps_equal_the_full_model_and_cached_sampling_equals_naive(model_name, num_levels):
    """One channel (C = 1): the distributions are normalised over the levels, no prediction sees its own or a later
    pixel (the masks' three colour groups let a grayscale pixel reach its own prediction before), every incremental
    step computes the full model's logits for its sub-pixel, and the cached sampler draws the naive sampler's images
    (the steps assumed three channels before)."""
    from imgtf.sampling import cached_sample, naive_sample

    model = small_model(model_name, shape=(4, 6, 1), num_levels=num_levels)
    randomise_initial_states(model)
    images = np.random.RandomState(5).randint(0, num_levels, (2, 4, 6, 1)).astype(np.uint8)
    base = assert_causal(model, {"targets": images})
    assert base.shape[-1] == num_levels
    np.testing.assert_allclose(np.exp(base).sum(-1), 1.0, atol=1e-5)
    full = ops.convert_to_numpy(model({"targets": images})).reshape(2, -1, num_levels)[:, model.geometry.order]
    np.testing.assert_allclose(teacher_forced_logits(model, images), full, rtol=1e-4, atol=1e-4)
    samples = cached_sample(model, 2, 1.0, 3, jit_compile=False).numpy()
    assert samples.shape == (2, 4, 6, 1) and samples.max() < num_levels
    np.testing.assert_array_equal(samples, naive_sample(model, 2, 1.0, 3).numpy())


def test_multiscale_completion_keeps_what_is_known_and_matches_naive():
    """Completion (imgtf-decoder --mode=completion) with the multi-scale order, which generates the subsampled pixels
    first: the known top half is kept exactly, though some of its pixels come late in the order, and the cached
    sampler draws the naive sampler's images."""
    from imgtf.sampling import cached_sample, naive_sample

    model = small_model("multiscale_pixelrnn", (8, 8, 3))
    randomise_initial_states(model)
    real = np.random.RandomState(3).randint(0, 256, (2, 8, 8, 3)).astype(np.uint8)
    mask = np.zeros((2, 8, 8, 3), bool)
    mask[:, :4] = True
    cached = cached_sample(model, 2, seed=4, known=real, known_mask=mask, jit_compile=False).numpy()
    np.testing.assert_array_equal(cached, naive_sample(model, 2, seed=4, known=real, known_mask=mask).numpy())
    np.testing.assert_array_equal(cached[:, :4], real[:, :4])
    assert not np.array_equal(cached[:, 4:], real[:, 4:])
