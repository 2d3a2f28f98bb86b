"""Attention layouts and kernels: 1D local, 2D local and global masks equal their definitions position by position,
and the blocked, parallel kernel equals dense masked attention."""
import numpy as np
import pytest
from keras import ops

from imgtf.layers import geometry
from imgtf.layers.attention import MaskedSelfAttention
from imgtf.layers.attention_spec import AttentionSpec


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


@pytest.mark.parametrize("spec", [AttentionSpec("global"), AttentionSpec("local_1d", query_block_length=128,
                                                                          memory_length=256),
                                  AttentionSpec("local_1d", query_block_length=100, memory_length=250),
                                  AttentionSpec("local_2d", query_shape=(4, 24), memory_flange=(4, 12)),
                                  AttentionSpec("local_2d", query_shape=(8, 32), memory_flange=(8, 16))])
def test_the_logits_counted_without_a_geometry_are_those_it_lays_out(spec):
    """geometry.num_logits (what the memory bound counts) equals num_blocks x query_length x memory width of the
    Geometry built, on grids smaller than, equal to and larger than a block, square or not."""
    for rows, cols in ((5, 21), (16, 48), (32, 96), (6, 7)):
        g = spec.geometry(rows, cols)
        assert geometry.num_logits(spec, rows, cols) == g.memory.shape[0] * g.query_length * g.memory.shape[1]
