"""Masked convolutions: the PixelCNN masks hide the future and keep the colour order inside a pixel."""
import numpy as np
import pytest
from keras import ops

from imgtf.layers.masked_conv import MaskedConv2D, conv_mask, feature_groups


@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_conv_mask_hides_the_future_and_orders_colours(mask_type):
    mask = conv_mask((5, 5), 3, 6, mask_type)
    assert mask[3:].sum() == 0 and mask[2, 3:].sum() == 0  # rows below, and right of the centre
    assert mask[:2].all() and mask[2, :2].all()  # everything before the centre
    centre = mask[2, 2]  # [in R,G,B] x [out R,R,G,G,B,B]
    expected = np.array([[0, 0, 1, 1, 1, 1], [0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 0, 0]]) if mask_type == "A" else \
        np.array([[1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1], [0, 0, 0, 0, 1, 1]])
    np.testing.assert_array_equal(centre, expected)
    assert list(feature_groups(8)) == [0, 0, 0, 1, 1, 1, 2, 2]


@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_masked_conv_causality_per_channel(mask_type):
    """Changing input (row 2, col 3, channel c) changes outputs only at later pixels, or at that pixel in
    output groups after c (mask A) / from c on (mask B)."""
    layer = MaskedConv2D(6, 3, mask_type)
    x = np.random.RandomState(0).randn(1, 5, 6, 3).astype("float32")
    base = ops.convert_to_numpy(layer(x))
    for c in range(3):
        changed = x.copy()
        changed[0, 2, 3, c] += 1.0
        diff = np.abs(ops.convert_to_numpy(layer(changed)) - base)[0]
        flat = diff.reshape(30, 6)
        assert flat[: 2 * 6 + 3].max() == 0.0  # every earlier pixel
        first_group = c + 1 if mask_type == "A" else c
        groups = feature_groups(6)
        assert diff[2, 3, groups < first_group].max(initial=0.0) == 0.0
        if first_group < 3:
            assert diff[2, 3, groups >= first_group].max() > 0.0


def test_mask_a_hides_a_grayscale_pixel_from_itself():
    """With one group per image channel, the first layer's centre tap of a 1-channel image is closed for every output;
    three colour groups (the earlier behaviour for any image) opened it to two thirds of the features: a leak."""
    assert conv_mask((7, 7), 1, 48, "A", groups=1)[3, 3].sum() == 0
    assert conv_mask((7, 7), 1, 48, "A", groups=3)[3, 3].sum() == 32
    np.testing.assert_array_equal(conv_mask((3, 3), 48, 48, "B", groups=1)[1, 1], np.ones((48, 48)))
