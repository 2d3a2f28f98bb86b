"""The model harness: every registered `_tiny` set, whatever its family, on real CIFAR-10 crops, at the depth of the
suite's shrink rule (helpers.models.SMALLEST: every kind of layer the set stacks, the first and one more).

For each set: causality of every unit and channel (and the conditioning reaching the first unit), normalised
distributions, the sampler's incremental step equal to the whole model at every step, cached sampling (compiled with
XLA) drawing exactly the naive sampler's images, the `.keras` round trip, Keras `fit` lowering the loss, loss and
gradients compiled with XLA equal to the plain ones and a bfloat16 loss close to them, and, where the family has it,
recomputation giving the same loss and gradients. A new model family is covered by registering its tiny set."""
import types

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from imgtf import registry
from imgtf.train.optimization import Adam
from helpers.models import (assert_causal, build, conditioning, dtype_policy, enliven, full_params, predictions,
                            real_features, smallest, teacher_forced_params, tiny_sets)

SIZE = 8  # real 8x8 crops (2x2 low-resolution inputs): two halvings for PixelCNN++, several rows for every kernel
SAMPLE_SIZE = 4  # the naive sampler runs the whole model once per unit: 48 units
# Keras fit's steps on the fixed batch (the last step's bits/dim is measured after 15 updates): measured in float64
# at seed 0, every set's bits/dim had fallen by 1.44 (PixelCNN++) to 4.20 (the Image Transformers) after 15 updates,
# past the 1.0 the test asks (after 10: 1.23 to 3.37; after 29: 2.53 to 6.19)
FIT_STEPS = 16

SETS = tiny_sets()


@pytest.fixture(scope="module", params=SETS)
def tiny(request, cifar_dir):
    """One set's model at SIZE, in float64, with every all-zero weight made random (see enliven), and real features for
    it; shared by every check below (pytest groups this module's tests by set). Float64: in
    float32 one image's predictions move by up to ~1e-4 with the batch it is computed in (the kernels differ by batch
    shape), which would hide a leak of that size; in float64 they agree to ~1e-12. With recompute=true where the family
    has it (recomputation only acts in training: the test of it switches it off and on). The test that trains the
    model (Keras fit) puts its weights back."""
    overrides = smallest(request.param, "recompute=true" if "recompute" in registry.hparams(request.param) else "")
    model, problem = build(request.param, overrides, image_size=SIZE, seed=0, dtype="float64")
    enliven(model)
    features = real_features(problem, cifar_dir, size=SIZE)
    return types.SimpleNamespace(name=request.param, overrides=overrides, model=model, problem=problem,
                                 features=features)


def test_causal_in_every_unit_and_channel(tiny):
    model, features = tiny.model, tiny.features
    base = assert_causal(model, features)
    for key, value in conditioning(model, features).items():  # the conditioning reaches even the first unit
        other = dict(features, **{key: (value + 1) % 10 if key == "label" else 255 - value})
        moved = np.abs(predictions(model, {k: v[:1] for k, v in other.items()})[0] - base)
        assert moved[0].max() > 1e-4, f"the first unit ignores {key}"


def test_distributions_are_normalised_and_log_prob_is_their_entry(tiny):
    model, features = tiny.model, tiny.features
    params = model(features)
    dist = ops.convert_to_numpy(model.likelihood.channel_distributions(params, features["targets"]))
    np.testing.assert_allclose(np.exp(dist).sum(-1), 1.0, atol=1e-4)
    log_prob = ops.convert_to_numpy(model.log_prob(features))  # the chosen value's entry (the chain rule, for DMOL)
    chosen = np.take_along_axis(dist, features["targets"][..., None].astype(int), axis=-1)[..., 0]
    np.testing.assert_allclose(log_prob, chosen, atol=1e-4)


def test_sampler_steps_equal_the_whole_model(tiny):
    """At every step the incremental `step` (caches, carried states) gives the whole model's parameters for the unit,
    fed the real image's values."""
    model, features = tiny.model, tiny.features
    stepped = teacher_forced_params(model, features["targets"], conditioning(model, features))
    np.testing.assert_allclose(stepped, full_params(model, features), rtol=1e-4, atol=1e-4)


def test_keras_save_and_reload_identical(tiny, tmp_path):
    model, features = tiny.model, tiny.features
    path = str(tmp_path / f"{tiny.name}.keras")
    model.save(path)
    with dtype_policy("float64"):  # the policy it was built under (its layers take the global one)
        restored = keras.saving.load_model(path)
    assert type(restored) is type(model) and restored.hparams == model.hparams
    np.testing.assert_array_equal(ops.convert_to_numpy(restored(features)), ops.convert_to_numpy(model(features)))


@pytest.mark.parametrize("set_name", SETS)
def test_cached_sampling_equals_naive_sampling(set_name):
    """In float64 (the cached and naive passes sum in different orders; in float32 their parameters differ in the
    last bits, enough to move a draw across a rounding boundary now and then) the cached sampler, compiled with XLA
    as the decoder and the export run it, draws exactly the naive sampler's images for a seed, another seed others,
    and the conditioning changes the draws."""
    from imgtf.sampling import cached_sample, naive_sample

    model, _ = build(set_name, smallest(set_name), image_size=SAMPLE_SIZE, seed=0, dtype="float64")
    enliven(model)
    features = {}
    if model.uses_label:
        features["label"] = np.array([1, 8])
    if model.uses_encoder:
        features["inputs"] = np.random.RandomState(0).randint(0, 256, (2, *model.problem_info["input_shape"]))
        features["inputs"] = features["inputs"].astype(np.uint8)
    cached = cached_sample(model, 2, 1.0, 3, features=features or None).numpy()  # compiled with XLA, as shipped
    assert False not in model.samplers, "XLA could not compile the sampler: it fell back to the plain graph"
    np.testing.assert_array_equal(cached, naive_sample(model, 2, 1.0, 3, features=features or None).numpy())
    assert cached.dtype == np.uint8 and cached.shape == (2, *model.image_shape)
    assert len(np.unique(cached)) > 5, "not really sampled: nearly constant images"
    assert not np.array_equal(cached, cached_sample(model, 2, 1.0, 4, features=features or None).numpy())
    for key in features:  # change the first image's conditioning only: its draws change, the second's do not
        other = dict(features)
        other[key] = features[key].copy()
        other[key][0] = (other[key][0] + 1) % 10 if key == "label" else 255 - other[key][0]
        moved = cached_sample(model, 2, 1.0, 3, features=other).numpy()
        assert not np.array_equal(moved[0], cached[0]) and np.array_equal(moved[1], cached[1]), key


def test_keras_fit_lowers_the_loss_on_real_images(tiny):
    """Through Keras's own compile/fit, every family trains with its default loss (the negative log-likelihood): the
    fixed batch of two real crops is overfitted, and the training step is traced once. The fixture's weights are put
    back afterwards (the bfloat16 bound was measured at them)."""
    model, features = tiny.model, tiny.features
    weights, recompute = model.get_weights(), model.recompute
    model.recompute = False  # the recomputation is tested on its own below
    model.compile(optimizer=Adam(3e-3))  # imgtf's: Keras's Adam with a fused update (cheaper to trace)
    traces = []
    step = model.train_step
    model.train_step = lambda data: traces.append(1) or step(data)  # runs in Python only while being traced
    try:
        history = model.fit(tf.data.Dataset.from_tensors(features).repeat(), steps_per_epoch=1, epochs=FIT_STEPS,
                            verbose=0)
    finally:
        model.train_step, model.recompute = step, recompute
        model.set_weights(weights)
    losses = history.history["bits_per_dim"]  # one step per epoch: each step's bits/dim before its update
    assert len(losses) == FIT_STEPS and np.allclose(np.array(history.history["loss"]) / np.log(2), losses)
    assert losses[-1] < losses[0] - 1.0, f"bits/dim {losses[0]:.2f} -> {losses[-1]:.2f}"
    assert len(traces) == 1, f"the training step was traced {len(traces)} times"


def test_recompute_gives_the_same_loss_and_gradients(tiny):
    """The model with recompute=true, its loss and gradients computed with the recomputation switched off and on
    (eagerly: the trainer's compiled step with recomputation is tested in tests/unit/train)."""
    model, features = tiny.model, tiny.features
    if not model.recompute:
        pytest.skip(f"{tiny.name}: its family has no hparam recompute")
    results = []
    try:
        for recompute in (False, True):
            model.recompute = recompute
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(model.negative_log_likelihood(features, training=True))
            results.append((float(loss), [ops.convert_to_numpy(g) for g in tape.gradient(loss,
                                                                                         model.trainable_weights)]))
    finally:
        model.recompute = True
    (loss, grads), (loss_recomputed, grads_recomputed) = results
    assert loss == pytest.approx(loss_recomputed, rel=1e-6)
    for g, h in zip(grads, grads_recomputed):
        np.testing.assert_allclose(h, g, rtol=1e-5, atol=1e-6)


def loss_and_gradients(model, features):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(model.negative_log_likelihood(features))
    return loss, tape.gradient(loss, model.trainable_variables)


# bfloat16 keeps 8 bits of mantissa: measured on these sets (real 8x8 crops, randomised float64 weights), its mean
# NLL lay within 1e-6 (multiscale_pixelrnn) to 5.5e-4 (pixelsnail) of the reference's, relative; the bound is 4x that
BFLOAT16_RTOL = 2e-3


def test_xla_gives_the_plain_loss_and_gradients_and_bfloat16_a_close_loss(tiny):
    """The training computation (loss and gradients) compiled with XLA, as `--xla` and Keras `fit` compile it,
    equals the uncompiled one to float32 rounding (the likelihood's precision; through DMOL's logistics, up to
    3e-5 of the largest gradient, measured); computed in mixed bfloat16 (variables float32, likelihood float32)
    with the same weights, the loss is within BFLOAT16_RTOL."""
    model, features = tiny.model, tiny.features
    loss, gradients = loss_and_gradients(model, features)
    compiled = tf.function(lambda f: loss_and_gradients(model, f), jit_compile=True, autograph=False)
    xla_loss, xla_gradients = compiled(features)
    assert float(xla_loss) == pytest.approx(float(loss), rel=1e-5)  # the likelihood is computed in float32
    for g, x in zip(gradients, xla_gradients):
        g, x = ops.convert_to_numpy(g), ops.convert_to_numpy(x)
        np.testing.assert_allclose(x, g, rtol=1e-3, atol=1e-4 * np.abs(g).max())

    half, _ = build(tiny.name, tiny.overrides, image_size=SIZE, seed=0, dtype="mixed_bfloat16")
    for target, source in zip(half.weights, model.weights):
        target.assign(ops.convert_to_numpy(source).astype(target.dtype))
    half_loss = float(tf.reduce_mean(half.negative_log_likelihood(features)))
    assert half_loss == pytest.approx(float(loss), rel=BFLOAT16_RTOL)
