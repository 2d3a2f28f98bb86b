"""What Gated PixelCNN, PixelCNN++ and PixelSNAIL share: a network of shifted convolutions written once as
`network(run, images, label)` and run by imgtf.layers.row_pass either on whole images (training, evaluation, the
naive sampler) or on one image row per sampling step (the cached sampler).

Cached sampling: a step generates one unit (a sub-pixel for categorical models, a pixel for DMOL) of row i by
computing every layer on row i only, reading the rows above from per-layer caches of their inputs; the first step
of a row first recomputes row i-1 from the finished canvas, so the caches hold every earlier row as the whole
network computes it. A step costs one row of the network instead of the image: about H times less work.
"""
from keras import ops

from imgtf.layers import geometry as geometry_lib
from imgtf.layers.row_pass import FullPass, RowPass, empty_caches
from imgtf.models.base import AutoregressiveImageModel


class RowCachedImageModel(AutoregressiveImageModel):
    """Subclasses set `self.likelihood` and build their layers, then define `network(run, images, label, training)`:
    images scaled to [-1, 1] ([B, rows, W, C]; one row when sampling), label one-hot [B, K] or None -> the
    likelihood's parameters for those rows, [B, rows, W, P] (per pixel) or [B, rows, W, C * P] (per sub-pixel)."""

    def init_conditioning(self):
        """hparam class_conditional: a one-hot label `h` that every layer projects to its own bias (V^T h)."""
        if not self.hparams.class_conditional:
            return 0
        num_classes = self.problem_info.get("num_classes")
        if not num_classes:
            raise ValueError("hparam class_conditional=True needs a problem with labels (num_classes), e.g. "
                             "image_cifar10; this problem has none.")
        self.uses_label, self.num_classes = True, num_classes
        return num_classes

    def init_geometry(self):
        h, w, c = self.image_shape
        self.likelihood.check_image_shape(self.image_shape)
        self.units_per_pixel = c if self.likelihood.unit == "subpixel" else 1
        self.geometry = geometry_lib.raster_order(h * w * self.units_per_pixel)

    def network(self, run, images, label, training=False):
        raise NotImplementedError

    def scaled(self, images):
        half = (self.num_levels - 1) / 2.0
        return ops.cast(images, self.compute_dtype) / half - 1.0

    def one_hot(self, features):
        if not self.uses_label:
            return None
        if features is None or "label" not in features:
            raise ValueError("this model is class-conditional: features need a 'label'.")
        return ops.one_hot(ops.cast(features["label"], "int32"), self.num_classes, dtype=self.compute_dtype)

    def call(self, features, training=False):
        """features["targets"] uint8 [B, H, W, C] (and "label" if class-conditional) -> likelihood parameters."""
        if not isinstance(features, dict):
            features = {"targets": features}
        images = ops.reshape(features["targets"], (-1, *self.image_shape))
        params = self.network(FullPass(), self.scaled(images), self.one_hot(features), training=training)
        return ops.reshape(ops.cast(params, "float32"), (-1, *self.likelihood.params_shape(self.image_shape)))

    # -- cached sampling -------------------------------------------------------------------------------
    def _row_pass(self, canvas, row, caches, label):
        h, w, c = self.image_shape
        images = ops.reshape(canvas, (-1, h, w, c))
        row_images = ops.slice(images, (0, row, 0, 0), (ops.shape(images)[0], 1, w, c))
        run = RowPass(row, h, caches)
        params = self.network(run, self.scaled(row_images), label, training=False)
        return params, run.caches

    def empty_cache(self, features, batch):
        shape = (batch, self.num_units, *self.likelihood.value_shape(self.image_shape[-1]))
        canvas = ops.zeros(shape, "int32")
        network = lambda run, images, label: self.network(run, images, label, training=False)  # noqa: E731
        return {"canvas": canvas, "rows": empty_caches(network, batch, self.image_shape, self.compute_dtype,
                                                       self.one_hot(features))}

    def step(self, cache, previous, t, features):
        """Parameters of unit t (raster order) from row t's pass, after storing unit t-1's values `previous`."""
        h, w, c = self.image_shape
        label = self.one_hot(features)
        previous = ops.cast(previous, "int32")[:, None]
        start = (0, ops.maximum(t - 1, 0)) + ((0,) if len(cache["canvas"].shape) == 3 else ())
        canvas = ops.slice_update(cache["canvas"], start, previous)
        per_row = w * self.units_per_pixel
        row = t // per_row
        caches = ops.cond((t > 0) & (t % per_row == 0),
                          lambda: self._row_pass(canvas, ops.maximum(row - 1, 0), cache["rows"], label)[1],
                          lambda: cache["rows"])
        params, caches = self._row_pass(canvas, row, caches, label)
        col = (t % per_row) // self.units_per_pixel
        params = ops.take(params[:, 0], col, axis=1)  # [B, P] or [B, C * P]
        if self.units_per_pixel > 1:
            params = ops.take(ops.reshape(params, (-1, c, self.likelihood.params_per_unit)), t % c, axis=1)
        return ops.cast(params, "float32"), {"canvas": canvas, "rows": caches}
