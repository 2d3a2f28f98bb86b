"""Weight normalisation (imgtf.layers.weight_norm): every layer of the gated family that takes it computes with
w = g * v / ||v|| exactly, and data-dependent initialisation standardises its outputs on the initialisation batch."""
import keras
import numpy as np
import pytest
from keras import ops

from imgtf.layers.masked_conv import MaskedConv2D
from imgtf.layers.nin import NiN
from imgtf.layers.shifted_conv import ShiftedConv2D, ShiftedConvTranspose2D

# (constructor, input shape, the kernel's output axis): the transposed kernel is [kh, kw, out, in]
LAYERS = {
    "shifted_down": (lambda **kw: ShiftedConv2D(6, (2, 3), "down", **kw), (2, 6, 6, 4), 3),
    "shifted_masked": (lambda **kw: ShiftedConv2D(6, (1, 2), "down_right", mask="B", groups=3, **kw), (2, 6, 6, 3), 3),
    "shifted_strided": (lambda **kw: ShiftedConv2D(5, (2, 2), "down_right", strides=2, **kw), (2, 6, 6, 4), 3),
    "transposed": (lambda **kw: ShiftedConvTranspose2D(5, (2, 3), "down", **kw), (2, 3, 3, 4), 2),
    "masked_conv": (lambda **kw: MaskedConv2D(6, 3, "B", groups=3, **kw), (2, 6, 6, 3), 3),
    "nin": (lambda **kw: NiN(7, **kw), (2, 6, 6, 4), 1),
}


def _built(make, shape, **kwargs):
    layer = make(**kwargs)
    layer(np.zeros(shape, np.float32))
    return layer


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_the_normalised_layer_equals_its_formula(name):
    """Outputs with (v, g, b) equal the plain layer's with kernel g * v / ||v|| (the norm over every axis but the
    output's, of the masked kernel where there is a mask) and bias b."""
    make, shape, out_axis = LAYERS[name]
    rng = np.random.RandomState(0)
    normalized, plain = _built(make, shape, weight_norm=True), _built(make, shape)
    v = rng.randn(*normalized.kernel.shape).astype(np.float32)
    g = rng.uniform(0.5, 2.0, normalized.scale.shape).astype(np.float32)
    b = rng.randn(*normalized.bias.shape).astype(np.float32)
    normalized.kernel.assign(v), normalized.scale.assign(g), normalized.bias.assign(b)
    mask = getattr(normalized, "_mask", None)
    masked = v if mask is None else v * mask
    axes = tuple(a for a in range(v.ndim) if a != out_axis)
    expand = [1] * v.ndim
    expand[out_axis] = -1
    w = masked / np.sqrt((masked.astype(np.float64) ** 2).sum(axis=axes, keepdims=True)) * g.reshape(expand)
    plain.kernel.assign(w.astype(np.float32)), plain.bias.assign(b)
    x = rng.randn(*shape).astype(np.float32)
    np.testing.assert_allclose(ops.convert_to_numpy(normalized(x)), ops.convert_to_numpy(plain(x)), rtol=1e-5,
                               atol=1e-5)
    assert normalized.scale.shape == (normalized.kernel.shape[out_axis],)


@pytest.mark.parametrize("init_scale", [1.0, 0.1])
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_data_dependent_init_gives_zero_mean_and_init_scale_deviation_per_channel(name, init_scale):
    make, shape, _ = LAYERS[name]
    layer = _built(make, shape, weight_norm=True, init_scale=init_scale)
    x = np.random.RandomState(1).uniform(-1, 1, shape).astype(np.float32) + 0.3  # not centred: the bias must move
    layer.initializing = True
    y = ops.convert_to_numpy(layer(x)).astype(np.float64)
    assert not layer.initializing  # once per layer
    channels = y.reshape(-1, y.shape[-1])
    np.testing.assert_allclose(channels.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(channels.std(axis=0), init_scale, rtol=1e-4)
    np.testing.assert_allclose(ops.convert_to_numpy(layer(x)), y, rtol=1e-6, atol=1e-6)  # later calls: same weights


def test_weight_norm_is_in_the_config_and_needs_a_bias():
    layer = NiN(3, weight_norm=True, init_scale=0.1, name="n")
    config = layer.get_config()
    assert config["weight_norm"] is True and config["init_scale"] == 0.1
    assert keras.layers.deserialize(keras.layers.serialize(layer)).weight_norm
    with pytest.raises(ValueError, match="use_bias must be True"):
        MaskedConv2D(4, 3, "B", use_bias=False, weight_norm=True)(np.zeros((1, 4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="init_scale"):
        NiN(3, weight_norm=True, init_scale=0.0)
