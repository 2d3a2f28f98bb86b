"""Generation orders and attention neighbourhoods: which position is generated when, and what it may see.

A Geometry describes a decoder over a grid of `rows x cols` generation units (sub-pixels on an
[H, W*3] grid for categorical models, pixels on [H, W] for DMOL). It fixes:

  order      [L]            raster index of the unit generated at step t (the factorisation order)
  slots      [S]            the blocked sequence the layers run on: slot s holds step slots[s], or -1 (padding)
  memory     [nb, M]        for each query block, the slots it may attend to (-1: nothing there)
  mask       [nb, lq, M]    True where query may attend key: key exists and was generated no later

Every attention type is one Geometry, and the mask always comes from the same rule — a key is visible
iff it is a real position generated at or before the query — so causality cannot depend on a call site.

  local_1d : raster order; blocks of l_q consecutive steps; memory = the block plus the previous
             `memory_length - l_q` steps (paper 3.3, 1D).
  local_2d : blocks of h_q x w_q units in raster order of blocks, raster order inside each block; memory =
             the block extended by h_m rows above and w_m columns left and right (paper 3.3, 2D).
  global   : raster order, one block, memory = everything before (full causal attention).

Models that do not attend (the PixelRNN family) need only the order: a GenerationOrder.
"""
import functools

import numpy as np



class Geometry:
    def __init__(self, order, slots, memory, query_length, flange_blocks=None):
        self.order = np.asarray(order, np.int64)
        self.length = len(self.order)
        self.slots = np.asarray(slots, np.int64)
        self.memory = np.asarray(memory, np.int64)
        self.query_length = query_length
        self.num_blocks = len(self.slots) // query_length
        # 1D geometries: memory = `flange_blocks` whole blocks before + own block, so shifted slices suffice
        self.flange_blocks = flange_blocks
        step = np.where(self.slots >= 0, self.slots, np.iinfo(np.int64).max)  # generation step of each slot
        queries = step.reshape(self.num_blocks, query_length)
        keys = np.where(self.memory >= 0, step[np.maximum(self.memory, 0)], np.iinfo(np.int64).max)
        # padding queries may see anything: their outputs are never read, and padding keys are hidden
        self.mask = (self.memory[:, None, :] >= 0) & (keys[:, None, :] <= queries[:, :, None])
        self.inverse_order = np.argsort(self.order)
        self.real_slots = np.nonzero(self.slots >= 0)[0][np.argsort(self.slots[self.slots >= 0])]

    @property
    def num_slots(self):
        return len(self.slots)

    def dense_mask(self):
        """[L, L] boolean over generation steps, for tests: allowed[t, u] iff step t attends to step u."""
        allowed = np.zeros((self.length, self.length), bool)
        for j in range(self.num_blocks):
            for a in range(self.query_length):
                t = self.slots[j * self.query_length + a]
                if t < 0:
                    continue
                for b, slot in enumerate(self.memory[j]):
                    if self.mask[j, a, b]:
                        allowed[t, self.slots[slot]] = True
        return allowed


class GenerationOrder:
    """Only the factorisation order (and its inverse) of a model without attention: convolutional and
    recurrent models enforce causality in their own layers and need no slot layout."""

    def __init__(self, order):
        self.order = np.asarray(order, np.int64)
        self.length = len(self.order)
        self.inverse_order = np.argsort(self.order)


def raster_order(length):
    return GenerationOrder(np.arange(length))


def _check_positive(name, values):
    if any(int(v) <= 0 for v in values):
        raise ValueError(f"{name} must be positive; got {list(values)}.")


@functools.lru_cache(maxsize=64)
def local_1d(rows, cols, query_length, memory_length):
    length = rows * cols
    _check_positive("query_block_length", [query_length])
    if memory_length < query_length:
        raise ValueError(f"need query_block_length <= memory_length; got query_block_length={query_length}, "
                         f"memory_length={memory_length}.")
    lq = min(query_length, length)
    flange = min(memory_length - query_length, length)
    nb = -(-length // lq)
    fb = -(-flange // lq)
    slots = np.full(nb * lq, -1)
    slots[:length] = np.arange(length)
    starts = np.arange(nb)[:, None] * lq
    memory = starts - fb * lq + np.arange((fb + 1) * lq)[None, :]
    valid = (memory >= 0) & (memory >= starts - flange) & (memory < nb * lq)
    return Geometry(np.arange(length), slots, np.where(valid, memory, -1), lq, flange_blocks=fb)


@functools.lru_cache(maxsize=64)
def global_causal(rows, cols):
    length = rows * cols
    return local_1d(rows, cols, length, length)


@functools.lru_cache(maxsize=64)
def local_2d(rows, cols, query_shape, memory_flange):
    hq, wq = query_shape
    hm, wm = memory_flange
    _check_positive("query_shape", query_shape)
    if hm < 0 or wm < 0:
        raise ValueError(f"memory_flange must be >= 0; got {list(memory_flange)}.")
    hq, wq = min(hq, rows), min(wq, cols)
    nbr, nbc = -(-rows // hq), -(-cols // wq)
    rows_p, cols_p = nbr * hq, nbc * wq
    # padded grid cells in block-raster order, raster order inside each block
    r = (np.arange(nbr)[:, None, None, None] * hq + np.arange(hq)[None, None, :, None])
    c = (np.arange(nbc)[None, :, None, None] * wq + np.arange(wq)[None, None, None, :])
    r, c = np.broadcast_arrays(r, c)
    r, c = r.reshape(-1), c.reshape(-1)
    real = (r < rows) & (c < cols)
    order = (r * cols + c)[real]  # raster index generated at step t
    slots = np.full(rows_p * cols_p, -1)
    slots[real] = np.arange(real.sum())
    slot_of_cell = np.full((rows_p, cols_p), -1)
    slot_of_cell[r, c] = np.arange(rows_p * cols_p)
    memory = []
    for bi in range(nbr):
        for bj in range(nbc):
            mr = np.arange(bi * hq - hm, (bi + 1) * hq)
            mc = np.arange(bj * wq - wm, (bj + 1) * wq + wm)
            mr, mc = np.meshgrid(mr, mc, indexing="ij")
            inside = (mr >= 0) & (mr < rows_p) & (mc >= 0) & (mc < cols_p)
            memory.append(np.where(inside, slot_of_cell[np.clip(mr, 0, rows_p - 1), np.clip(mc, 0, cols_p - 1)], -1).ravel())
    return Geometry(order, slots, np.stack(memory), hq * wq)


# attention type -> its Geometry over a rows x cols grid, from the type's parameters (any object with them as
# attributes, e.g. an AttentionSpec); a new attention type is its constructor above plus one entry here
BUILDERS = {
    "local_1d": lambda rows, cols, p: local_1d(rows, cols, p.query_block_length, p.memory_length),
    "local_2d": lambda rows, cols, p: local_2d(rows, cols, tuple(p.query_shape), tuple(p.memory_flange)),
    "global": lambda rows, cols, p: global_causal(rows, cols),
}
ATTENTION_TYPES = tuple(BUILDERS)


def num_logits(params, rows, cols):
    """The [query, key] logits one head computes over a rows x cols grid (num_blocks x query_length x memory width of
    the Geometry that `geometry_for(params, rows, cols)` builds), counted without building it: the memory bound
    (imgtf.models.footprint) asks this of sizes whose masks would not fit in memory."""
    length = rows * cols
    if params.attention_type == "global":
        return length * length
    if params.attention_type == "local_2d":
        (hq, wq), (hm, wm) = params.query_shape, params.memory_flange
        hq, wq = min(hq, rows), min(wq, cols)
        return -(-rows // hq) * -(-cols // wq) * hq * wq * (hq + hm) * (wq + 2 * wm)
    if params.attention_type == "local_1d":
        lq = min(params.query_block_length, length)
        flange = min(params.memory_length - params.query_block_length, length)
        return -(-length // lq) * lq * (-(-flange // lq) + 1) * lq
    raise ValueError(f"attention_type must be one of {', '.join(ATTENTION_TYPES)}; not {params.attention_type!r}.")


def geometry_for(params, rows, cols):
    """The Geometry of attention type `params.attention_type` with its parameters read from `params`."""
    if params.attention_type not in BUILDERS:
        raise ValueError(f"attention_type must be one of {', '.join(ATTENTION_TYPES)}; not {params.attention_type!r}.")
    return BUILDERS[params.attention_type](rows, cols, params)
