"""Run one network definition on whole images (training, evaluation) or on one image row (cached sampling).

A model written as `network(run, ...)` applies each causal layer as `run(layer, x, level)`, `level` being how many
times its input was halved (0: full resolution). `FullPass` just calls the layer. `RowPass` computes only the row
of each map that holds image row `row` (row >> level at that level): causal layers store that input row in their
cache and read the rows above from it (`layer.row`, imgtf.layers.shifted_conv / causal_attention); pointwise work
(1x1 layers, gates, additions) is applied to the row as it is. Because every output row depends on input rows at or
above it, a row computed after the rows above it were stored is the whole network's row, exactly.
"""
import keras
from keras import ops


class FullPass:
    """Whole maps: `run(layer, x)` is `layer(x)`."""

    row = None

    def __call__(self, layer, x, level=0, **kwargs):
        return layer(x, **kwargs)

    def rows(self, height):
        """Row indices of a map of `height` rows that this pass computes: all of them."""
        return ops.arange(height)


class RowPass:
    """One row at every level, with per-layer caches of earlier input rows.

    height: the image's height; caches: the list returned by an earlier pass over the same network, or None to
    create zero caches (then `batch` is needed; `empty` keeps them as created, before this pass wrote its row).
    Causal layers are matched to caches by call order."""

    def __init__(self, row, height, caches=None, batch=None):
        self.row, self.height, self.batch = row, height, batch
        self.create = caches is None
        self.caches = [] if caches is None else list(caches)
        self.empty = []
        self.index = 0

    def __call__(self, layer, x, level=0, **kwargs):
        row_in = self.row // (2 ** level)
        row_out = self.row // (2 ** (level + layer.level_change))
        if not layer.needs_cache:
            y, _ = layer.row(x, None, row_in, row_out, **kwargs)
            return y
        if self.create:
            self.empty.append(layer.empty_row_cache(self.batch, self.height // (2 ** level), x.shape[2], x.shape[-1],
                                                    x.dtype))
            self.caches.append(self.empty[-1])
        y, self.caches[self.index] = layer.row(x, self.caches[self.index], row_in, row_out, **kwargs)
        self.index += 1
        return y

    def rows(self, height):
        """The one row index this pass computes at a level of `height` rows: [1]."""
        return ops.reshape(self.row // (self.height // height), (1,))


def empty_caches(network, batch, image_shape, dtype, label=None):
    """Zero caches for every causal layer of `network(run, images, label)` on images of `image_shape` (H, W, C).

    The pass that finds their shapes runs on symbolic tensors (keras.KerasTensor) for one image: it computes
    nothing, so a compiled sampler holds no network copy for it (the first step writes every layer's row 0)."""
    height, width, channels = image_shape
    run = RowPass(0, height, None, 1)
    label = None if label is None else keras.KerasTensor((1, label.shape[-1]), label.dtype)
    network(run, keras.KerasTensor((1, 1, width, channels), dtype), label)
    return keras.tree.map_structure(lambda t: ops.zeros((batch, *t.shape[1:]), t.dtype), run.empty)
