"""Behaviour of the Image Transformer: causality, normalisation, blocked == dense attention, save/reload."""
import numpy as np
import pytest
from keras import ops

from imgtf.data import cifar
from imgtf.layers import geometry
from imgtf.layers.attention import MaskedSelfAttention
from imgtf.layers.attention_spec import AttentionSpec
from imgtf.models.image_transformer import ImageTransformer


def build(hp, image_shape=(32, 32, 3), **overrides):
    hp = hp.copy()
    hp.update(**overrides)
    return ImageTransformer(hp, {"image_shape": list(image_shape), "num_classes": None, "input_shape": None})


@pytest.fixture(scope="module")
def real_images(cifar_dir):
    return cifar.read_split(cifar_dir, "test").images[:2]


def dense_reference_mask(length, query_length, memory_length):
    """allowed[i, m] straight from the definition of 1D local attention, position by position."""
    lq = min(query_length, length)
    flange = memory_length - lq
    allowed = np.zeros((length, length), bool)
    for i in range(length):
        start = (i // lq) * lq
        for m in range(max(0, start - flange), i + 1):
            allowed[i, m] = True
    return allowed


@pytest.mark.parametrize("length,lq,lm", [(48, 8, 16), (50, 8, 16), (50, 8, 20), (50, 8, 8), (3072, 256, 512), (10, 16, 32)])
def test_local_1d_mask_equals_definition(length, lq, lm):
    np.testing.assert_array_equal(geometry.local_1d(1, length, lq, lm).dense_mask(), dense_reference_mask(length, lq, lm))


def test_global_mask_is_lower_triangular():
    np.testing.assert_array_equal(geometry.global_causal(3, 7).dense_mask(), np.tril(np.ones((21, 21), bool)))


def dense_reference_2d(rows, cols, hq, wq, hm, wm):
    """Order and mask of 2D local attention from the paper's description, cell by cell."""
    cells = []
    for bi in range(-(-rows // hq)):
        for bj in range(-(-cols // wq)):
            for r in range(bi * hq, (bi + 1) * hq):
                for c in range(bj * wq, (bj + 1) * wq):
                    if r < rows and c < cols:
                        cells.append((r, c, bi, bj))
    step = {(r, c): t for t, (r, c, _, _) in enumerate(cells)}
    allowed = np.zeros((len(cells), len(cells)), bool)
    for t, (r, c, bi, bj) in enumerate(cells):
        for (r2, c2), u in step.items():
            in_memory = bi * hq - hm <= r2 < (bi + 1) * hq and bj * wq - wm <= c2 < (bj + 1) * wq + wm
            allowed[t, u] = in_memory and u <= t
    return np.array([r * cols + c for r, c, _, _ in cells]), allowed


@pytest.mark.parametrize("rows,cols,query,flange", [(8, 12, (2, 4), (2, 2)), (7, 10, (3, 4), (2, 3)), (4, 6, (4, 6), (0, 0)),
                                                    (32, 96, (8, 32), (8, 16))])
def test_local_2d_order_and_mask_equal_definition(rows, cols, query, flange):
    g = geometry.local_2d(rows, cols, query, flange)
    order, allowed = dense_reference_2d(rows, cols, *query, *flange)
    np.testing.assert_array_equal(g.order, order)
    np.testing.assert_array_equal(g.dense_mask(), allowed)


@pytest.mark.parametrize("attention_type,grid,lq,lm", [("local_1d", (5, 10), 8, 20), ("local_1d", (4, 16), 16, 32),
                                                       ("global", (1, 37), 8, 8), ("local_2d", (7, 10), 0, 0)])
def test_blocked_attention_equals_dense_masked_attention(attention_type, grid, lq, lm):
    """The blocked, parallel kernel equals attention computed position by position with the same mask."""
    rng = np.random.RandomState(0)
    spec = AttentionSpec(attention_type, num_heads=2, query_block_length=lq, memory_length=lm, query_shape=(3, 4),
                         memory_flange=(2, 3))
    layer = MaskedSelfAttention(16, spec, grid)
    g = layer.geometry
    x = rng.randn(2, g.num_slots, 16).astype("float32")
    out = ops.convert_to_numpy(layer(x))
    wq, wk, wv, wo = (ops.convert_to_numpy(p.kernel) for p in (layer.q_proj, layer.k_proj, layer.v_proj, layer.o_proj))
    steps = x[:, g.real_slots]  # generation order
    allowed = g.dense_mask()
    q, k, v = (np.einsum("bld,de->ble", steps, w).reshape(2, g.length, 2, 8) for w in (wq, wk, wv))
    logits = np.einsum("bihd,bmhd->bhim", q, k) / np.sqrt(8)
    logits = np.where(allowed[None, None], logits, -np.inf)
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    ref = np.einsum("bhim,bmhd->bihd", weights, v).reshape(2, g.length, 16) @ wo
    np.testing.assert_allclose(out[:, g.real_slots], ref, atol=2e-5)


def flat_logits(model, images):
    return ops.convert_to_numpy(model({"targets": images})).reshape(len(images), -1, 256)


@pytest.mark.parametrize("attention_type", ["local_1d", "global"])
def test_causality_on_real_images(tiny_hparams, real_images, attention_type):
    """Changing sub-pixel t never changes the prediction of any sub-pixel <= t, and does change t+1."""
    model = build(tiny_hparams, attention_type=attention_type, dropout=0.1)  # dropout is off at inference
    base = flat_logits(model, real_images)
    lq = tiny_hparams.query_block_length
    for t in [0, 1, 2, lq - 1, lq, 2 * lq - 1, 2 * lq, 1537, 3070, 3071]:
        changed = real_images.reshape(2, -1).copy()
        changed[:, t] = (changed[:, t].astype(int) + 128) % 256
        diff = np.abs(flat_logits(model, changed.reshape(real_images.shape)) - base).max(axis=(0, 2))
        assert diff[: t + 1].max() <= 1e-5, f"sub-pixel {t} leaked into earlier predictions"
        if t + 1 < len(diff):
            assert diff[t + 1] > 1e-4, f"prediction {t + 1} ignores sub-pixel {t}"


@pytest.mark.parametrize("overrides", [dict(query_block_length=16, memory_length=40),
                                       dict(attention_type="local_2d", query_shape=[2, 4], memory_flange=[1, 3]),
                                       dict(attention_type="local_2d", query_shape=[2, 4], memory_flange=[1, 3],
                                            likelihood="dmol", num_mixtures=2)])
def test_causality_when_blocks_do_not_tile_the_image(tiny_hparams, overrides):
    """A 5x7 image: neither 1D blocks of 16 nor 2D blocks of 2x4 tile it; padding must not leak or hide."""
    from model_harness import change_unit, predictions

    model = build(tiny_hparams, image_shape=(5, 7, 3), **overrides)
    images = np.random.RandomState(1).randint(0, 256, (2, 5, 7, 3)).astype(np.uint8)
    base = predictions(model, {"targets": images})
    length = base.shape[1]
    for step in range(length):
        diff = np.abs(predictions(model, {"targets": change_unit(model, images, step, 2)}) - base).max(axis=(0, 2))
        assert diff[: step + 1].max() <= 1e-5, f"step {step} leaked"
        if step + 1 < length:
            assert diff[step + 1] > 1e-4, f"step {step + 1} ignores step {step}"


def test_local_attention_covering_everything_equals_global(tiny_hparams, real_images):
    small = real_images[:, :4, :4]
    local = build(tiny_hparams, image_shape=(4, 4, 3), query_block_length=48, memory_length=48)
    full = build(tiny_hparams, image_shape=(4, 4, 3), attention_type="global")
    local({"targets": small}), full({"targets": small})
    full.set_weights(local.get_weights())
    np.testing.assert_allclose(flat_logits(local, small), flat_logits(full, small), atol=1e-5)


def test_distributions_are_normalised(tiny_hparams, real_images):
    model = build(tiny_hparams)
    logits = model({"targets": real_images})
    # log p(v) for every one of the 256 values, summed in probability space, is 1 for every sub-pixel
    all_values = np.stack([model.likelihood.log_prob(logits, np.full(real_images.shape, v, np.uint8))
                           for v in range(256)], axis=-1)
    np.testing.assert_allclose(np.exp(all_values).sum(-1), 1.0, atol=1e-5)
    log_prob = ops.convert_to_numpy(model.log_prob({"targets": real_images}))
    assert log_prob.shape == (2, 32, 32, 3) and np.all(log_prob <= 0)


def test_keras_save_and_reload_gives_identical_outputs(tiny_hparams, real_images, tmp_path):
    import keras

    model = build(tiny_hparams, position_encoding="learned")
    expected = flat_logits(model, real_images)
    path = str(tmp_path / "model.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, ImageTransformer) and restored.hparams == model.hparams
    np.testing.assert_array_equal(flat_logits(restored, real_images), expected)


def test_bad_hparams_give_clear_errors(tiny_hparams):
    with pytest.raises(ValueError, match="attention_type"):
        build(tiny_hparams, attention_type="local_3d")
    with pytest.raises(ValueError, match="query_block_length"):
        build(tiny_hparams, memory_length=8)({"targets": np.zeros((1, 32, 32, 3), np.uint8)})
