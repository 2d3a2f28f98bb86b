"""The likelihoods against independent float64 references, at the edges and with extreme parameters, and their draws
against their own distributions."""
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from imgtf.likelihoods.categorical import Categorical
from imgtf.likelihoods.dmol import DiscretizedMixtureOfLogistics


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def bin_mass(upper, lower):
    """sigmoid(upper) - sigmoid(lower) without cancellation (upper >= lower)."""
    return sigmoid(-lower) - sigmoid(-upper) if lower > 0 else sigmoid(upper) - sigmoid(lower)


def reference_dmol_joint(params, pixel, k):
    """log p(r, g, b) of one pixel straight from the PixelCNN++ definition, in float64 (no fallbacks)."""
    logits, rest = params[:k], params[k:].reshape(3, 3, k)
    means, log_scales, coeffs = rest[0], np.maximum(rest[1], -7.0), np.tanh(rest[2])
    x = pixel / 127.5 - 1.0
    mean = np.stack([means[0], means[1] + coeffs[0] * x[0], means[2] + coeffs[1] * x[0] + coeffs[2] * x[1]])
    probs = np.ones(k)
    for c in range(3):
        s = np.exp(log_scales[c])
        upper = np.where(pixel[c] == 255, np.inf, (x[c] + 1 / 255 - mean[c]) / s)
        lower = np.where(pixel[c] == 0, -np.inf, (x[c] - 1 / 255 - mean[c]) / s)
        probs = probs * np.array([bin_mass(u, l) for u, l in zip(upper, lower)])
    weights = np.exp(logits - logits.max())
    weights /= weights.sum()
    return np.log((weights * probs).sum())


@pytest.mark.parametrize("k", [1, 5])
def test_dmol_joint_matches_reference(k):
    rng = np.random.RandomState(k)
    dmol = DiscretizedMixtureOfLogistics(k)
    params = rng.randn(64, 10 * k).astype("float32")
    params[:, k + 3 * k:k + 6 * k] = rng.uniform(-3, 0, (64, 3 * k))  # moderate scales: no pdf fallback
    pixels = rng.randint(0, 256, (64, 3))
    pixels[:4] = [[0, 0, 0], [255, 255, 255], [0, 255, 128], [255, 0, 1]]  # edge values
    ours = ops.convert_to_numpy(dmol.log_prob(params, pixels)).sum(-1)
    ref = np.array([reference_dmol_joint(p.astype(np.float64), px, k) for p, px in zip(params, pixels)])
    np.testing.assert_allclose(ours, ref, rtol=1e-3, atol=1e-4)


def test_dmol_channel_distributions_sum_to_one_including_edges():
    rng = np.random.RandomState(0)
    dmol = DiscretizedMixtureOfLogistics(4)
    params = rng.randn(32, 40).astype("float32") * 2
    params[:8, 4:16] = -1.05  # means at the 0 edge
    params[8:16, 4:16] = 1.05  # means at the 255 edge
    params[:16, 16:28] = -6.0  # sharp: almost all mass in the edge bins
    pixels = rng.randint(0, 256, (32, 3))
    dist = np.exp(ops.convert_to_numpy(dmol.channel_distributions(params, pixels)))
    np.testing.assert_allclose(dist.sum(-1), 1.0, atol=1e-4)
    assert dist[:8, 0, 0].min() > 0.5 and dist[8:16, 0, 255].min() > 0.5  # tails give 0 and 255 the edge mass


def test_dmol_is_finite_for_extreme_parameters_and_values():
    dmol = DiscretizedMixtureOfLogistics(2)
    params = tf.constant(np.array([[80.0, -80.0] + [30.0] * 6 + [-30.0] * 6 + [50.0] * 6,
                                   [0.0, 0.0] + [-30.0] * 6 + [20.0] * 6 + [-50.0] * 6], np.float32))
    pixels = np.array([[0, 128, 255], [255, 0, 3]])
    with tf.GradientTape() as tape:
        tape.watch(params)
        lp = dmol.log_prob(params, pixels)
        total = tf.reduce_sum(lp)
    grad = tape.gradient(total, params)
    assert np.all(np.isfinite(lp.numpy())) and np.all(lp.numpy() <= 1e-6)
    assert np.all(np.isfinite(grad.numpy()))


def test_categorical_log_prob_is_log_softmax_entry():
    rng = np.random.RandomState(0)
    logits = rng.randn(2, 3, 256).astype("float32") * 5
    values = rng.randint(0, 256, (2, 3))
    ours = ops.convert_to_numpy(Categorical().log_prob(logits, values))
    shifted = logits - logits.max(-1, keepdims=True)
    ref = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    np.testing.assert_allclose(ours, np.take_along_axis(ref, values[..., None], -1)[..., 0], atol=1e-5)


def test_categorical_over_fewer_levels_and_dmol_refusing_them(builtins):
    """num_levels=2 (binary images): a 2-way softmax, normalised, whose log_prob is the chosen entry; DMOL's bins are
    those of 8-bit intensities, so it refuses other levels with a message naming the alternative."""
    from imgtf.hparams.hparams import HParams
    from imgtf.likelihoods.likelihood import build_likelihood

    binary = build_likelihood(HParams(likelihood="categorical", num_mixtures=3), num_levels=2)
    assert binary.num_levels == binary.params_per_unit == 2
    logits = np.random.RandomState(1).randn(2, 3, 4, 1, 2).astype(np.float32)
    values = np.random.RandomState(2).randint(0, 2, (2, 3, 4, 1))
    dist = ops.convert_to_numpy(binary.channel_distributions(logits, values))
    np.testing.assert_allclose(np.exp(dist).sum(-1), 1.0, atol=1e-6)
    chosen = np.take_along_axis(dist, values[..., None], axis=-1)[..., 0]
    np.testing.assert_allclose(ops.convert_to_numpy(binary.log_prob(logits, values)), chosen, atol=1e-6)
    with pytest.raises(ValueError, match="likelihood=dmol models 8-bit intensities .* num_levels=2: use "
                                         "likelihood=categorical"):
        build_likelihood(HParams(likelihood="dmol", num_mixtures=3), num_levels=2)
    with pytest.raises(ValueError, match="takes 2 to 256 intensity levels"):
        Categorical(1)


def test_categorical_draws_follow_the_tempered_softmax():
    logits = tf.constant(np.log(np.array([[0.5, 0.3, 0.15, 0.05] + [1e-9] * 252], np.float32)))
    many = tf.repeat(logits, 4000, axis=0)  # 4000 rows: independent draws (the hash covers every element)
    draws = registry_likelihood("categorical").sample(many, tf.constant(0), tf.constant(0), tf.constant(1.0)).numpy()
    frequencies = np.bincount(draws, minlength=4)[:4] / len(draws)
    np.testing.assert_allclose(frequencies, [0.5, 0.3, 0.15, 0.05], atol=0.03)
    cold = registry_likelihood("categorical").sample(many, tf.constant(1), tf.constant(0), tf.constant(0.05)).numpy()
    assert np.mean(np.array(cold) == 0) > 0.99  # low temperature concentrates on the mode


def registry_likelihood(name):
    from imgtf import catalog
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
