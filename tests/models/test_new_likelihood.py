"""docs/extending.md's "files you touch" for a new likelihood, shown true: a module with one `@register_likelihood`
class (here, as a user's module would hold it) and hparam `likelihood=<its name>` serve every model whose family can
take the likelihood's unit, with no other file changed: causal in every unit and channel, normalised, `log_prob`
finite (on one tiny set per model: a likelihood reaches a model through its family's code), and its draws in the
cached sampler equal the naive sampler's (one model per unit). A family that cannot take the unit is refused with
a message naming what it predicts per step."""
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from helpers.models import assert_causal, build, enliven, real_features, smallest, tiny_sets
from imgtf.likelihoods.likelihood import Likelihood
from imgtf.registry import likelihoods, register_likelihood
from imgtf.likelihoods import random_numbers

SIZE = 4  # 4x4 crops: 16 pixels, 48 sub-pixels
SAMPLED = ("pixelcnn_cifar10_tiny", "pixelsnail_cifar10_tiny")  # one model per unit


class TemperedCategorical(Likelihood):
    """A sub-pixel likelihood with its own parameter layout: num_levels logits and a temperature per sub-pixel."""

    unit = "subpixel"

    def __init__(self, num_levels=256):
        self.num_levels, self.params_per_unit = int(num_levels), int(num_levels) + 1

    @classmethod
    def from_hparams(cls, hp, num_levels=256):
        return cls(num_levels)

    def logits(self, params):
        params = ops.cast(params, "float32")
        return params[..., :-1] * ops.softplus(params[..., -1:])

    def log_prob(self, params, values):
        logp = ops.log_softmax(self.logits(params), axis=-1)
        return ops.sum(logp * ops.one_hot(ops.cast(values, "int32"), self.num_levels, dtype="float32"), axis=-1)

    def channel_distributions(self, params, values=None):
        return ops.log_softmax(self.logits(params), axis=-1)

    def sample(self, params, step, seed, temperature):
        logits = self.logits(params)
        noise = random_numbers.gumbel(tf.shape(logits), seed, step, 0)
        return tf.argmax(logits / temperature + noise, axis=-1, output_type=tf.int32)


class LinkedChannels(Likelihood):
    """A whole-pixel likelihood: a softmax per channel whose logits are tilted by the pixel's earlier channels
    (G by R, B by R and G, with coefficients among the parameters), as DMOL links its channel means."""

    unit = "pixel"

    def __init__(self, num_levels=256):
        self.num_levels, self.params_per_unit = int(num_levels), 3 * int(num_levels) + 3

    @classmethod
    def from_hparams(cls, hp, num_levels=256):
        return cls(num_levels)

    def check_image_shape(self, image_shape):
        if image_shape[-1] != 3:
            raise ValueError("this likelihood models RGB pixels.")

    def tilted(self, params, values):
        """Logits [..., 3, L] given the earlier channels' values [..., 3] (a channel's own value is not read)."""
        params, levels = ops.cast(params, "float32"), self.num_levels
        logits = ops.reshape(params[..., :3 * levels], (*ops.shape(params)[:-1], 3, levels))
        coeffs, x = params[..., 3 * levels:], ops.cast(values, "float32") / (levels - 1) * 2.0 - 1.0
        ramp = ops.linspace(-1.0, 1.0, levels)
        g = logits[..., 1, :] + (coeffs[..., 0:1] * x[..., 0:1]) * ramp
        b = logits[..., 2, :] + (coeffs[..., 1:2] * x[..., 0:1] + coeffs[..., 2:3] * x[..., 1:2]) * ramp
        return ops.stack([logits[..., 0, :], g, b], axis=-2)

    def channel_distributions(self, params, values):
        return ops.log_softmax(self.tilted(params, values), axis=-1)

    def log_prob(self, params, values):
        onehot = ops.one_hot(ops.cast(values, "int32"), self.num_levels, dtype="float32")
        return ops.sum(self.channel_distributions(params, values) * onehot, axis=-1)

    def sample(self, params, step, seed, temperature):
        """R, then G given R, then B given R and G: int32 [B, 3]."""
        values = tf.zeros([tf.shape(params)[0], 3], tf.int32)
        for c in range(3):
            logits = self.tilted(params, values)[:, c]
            noise = random_numbers.gumbel(tf.shape(logits), seed, step, c)
            drawn = tf.argmax(logits / temperature + noise, axis=-1, output_type=tf.int32)
            values = tf.tensor_scatter_nd_update(values, tf.stack([tf.range(tf.shape(values)[0]),
                                                                   tf.fill(tf.shape(drawn), c)], axis=1), drawn)
        return values


NEW = {"subpixel": "test_tempered_categorical", "pixel": "test_linked_channels"}


@pytest.fixture(scope="module", autouse=True)
def registered():
    register_likelihood(NEW["subpixel"])(TemperedCategorical)
    register_likelihood(NEW["pixel"])(LinkedChannels)
    yield
    for name in NEW.values():
        likelihoods.unregister(name)


EXPECTED_UNITS = {  # model: the units it can take (docs/extending.md says why)
    "image_transformer": ["subpixel", "pixel"], "img2img_transformer": ["subpixel", "pixel"],
    "pixelcnn": ["subpixel"], "row_lstm": ["subpixel"], "diagonal_bilstm": ["subpixel"],
    "multiscale_pixelrnn": ["subpixel"], "gated_pixelcnn": ["subpixel"],
    "pixelcnn_pp": ["pixel"], "pixelsnail": ["pixel"],
}


def one_set_per_model():
    """The first tiny set of each registered model: a likelihood reaches a model through its family's code, which
    its other tiny sets share."""
    from imgtf import registry

    sets = {}
    for name in tiny_sets():
        sets.setdefault(registry.model_and_problem_of(name)[0], name)
    return sorted(sets.values())


@pytest.mark.parametrize("set_name", one_set_per_model())
def test_a_new_likelihood_serves_every_family_that_can_take_its_unit(set_name, cifar_dir):
    from imgtf import registry
    from imgtf.sampling import cached_sample, naive_sample

    model_name = registry.model_and_problem_of(set_name)[0]
    units = []
    for unit, name in NEW.items():
        try:
            model, problem = build(set_name, smallest(set_name, f"likelihood={name}"), image_size=SIZE, seed=0, dtype="float64")
        except ValueError as e:  # refused: the message names what the family predicts per step
            assert f"models one {unit} per step" in str(e) and "predicts one" in str(e), str(e)
            continue
        units.append(unit)
        enliven(model)
        assert type(model.likelihood) is (TemperedCategorical if unit == "subpixel" else LinkedChannels)
        features = real_features(problem, cifar_dir, size=SIZE)
        base = assert_causal(model, features)
        np.testing.assert_allclose(np.exp(base).reshape(len(base), -1, model.num_levels).sum(-1), 1.0, atol=1e-4)
        log_prob = ops.convert_to_numpy(model.log_prob(features))
        assert log_prob.shape == features["targets"].shape and np.isfinite(log_prob).all()
        if set_name in SAMPLED:  # the likelihood's own draw in the samplers (the harness: every family's sampler)
            cached = cached_sample(model, 1, 1.0, 3, jit_compile=False).numpy()
            np.testing.assert_array_equal(cached, naive_sample(model, 1, 1.0, 3).numpy())
    assert units == EXPECTED_UNITS[model_name]
