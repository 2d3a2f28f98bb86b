"""What a likelihood is: one registered object that owns its parameter layout, its log-probability and its draw.

A model asks its likelihood how many numbers to output per generation unit (`params_per_unit`), what a unit is
(`unit`: "subpixel", one channel of one pixel, generated channel by channel; or "pixel", a pixel's channels
jointly) and how to score and sample values; nothing else in imgtf looks inside the parameters. Adding a likelihood
is one module with a `@register_likelihood` class (and its tests): `imgtf.catalog` finds it, and hparam
`likelihood=<its name>` selects it.
"""
import numpy as np

from imgtf import registry

UNITS = ("subpixel", "pixel")


class Likelihood:
    """Base class. Subclasses set `unit` and `params_per_unit` and implement `log_prob`, `channel_distributions`
    and `sample`; `from_hparams` builds one from a model's hparams and the data's intensity levels (override it to
    read settings; a likelihood that cannot model `num_levels` raises a ValueError saying what to use instead)."""

    unit = "subpixel"
    params_per_unit = 0
    num_levels = 256  # values of a sub-pixel: 0 .. num_levels - 1

    @classmethod
    def from_hparams(cls, hp, num_levels=256):
        if num_levels != 256:
            raise ValueError(f"likelihood {cls.__name__} models 256 intensity levels; this problem has num_levels="
                             f"{num_levels}: use likelihood=categorical.")
        return cls()

    # -- layout: derived from `unit`, so no caller branches on it -------------------------------------------------
    def check_image_shape(self, image_shape):
        """Raise a ValueError naming the problem if this likelihood cannot model images of this shape."""

    @classmethod
    def grid(cls, image_shape):
        """(rows, columns) of the generation-unit grid: [H, W*C] sub-pixels or [H, W] pixels (a property of the
        class: the memory bound asks it before any model exists)."""
        h, w, c = image_shape
        return (h, w * c) if cls.unit == "subpixel" else (h, w)

    def params_shape(self, image_shape):
        """Shape of one image's parameters: [H, W, C, P] (one set per sub-pixel) or [H, W, P] (per pixel)."""
        return (*image_shape, self.params_per_unit) if self.unit == "subpixel" else (*image_shape[:2],
                                                                                     self.params_per_unit)

    def value_shape(self, channels):
        """Shape of one unit's values: () for a sub-pixel, (channels,) for a pixel."""
        return () if self.unit == "subpixel" else (channels,)

    def unit_mask(self, mask):
        """A per-sub-pixel mask [N, H, W, C] (numpy) reduced to one entry per unit: [N, H, W, C] or [N, H, W] (a
        pixel is known when its first channel is); a mask already per unit is returned as it is."""
        mask = np.asarray(mask, bool)
        return mask[..., 0] if self.unit == "pixel" and mask.ndim == 4 else mask

    # -- the distribution --------------------------------------------------------------------------------------
    def log_prob(self, params, values):
        """log p of each sub-pixel of `values` ([..., H, W, C] integers) in nats, [..., H, W, C], in float32; for
        pixel units, by the chain rule over the channels so that the sum is the joint log-probability."""
        raise NotImplementedError

    def channel_distributions(self, params, values):
        """log p(sub-pixel = v | the pixel's earlier channels = values) for all levels v: [..., C, num_levels]."""
        raise NotImplementedError

    def sample(self, params, step, seed, temperature):
        """Values of one generation unit from its parameters [B, P]: int32 [B] (sub-pixel) or [B, C] (pixel), drawn
        with imgtf.likelihoods.random_numbers so that equal (params, step, seed) give equal values in every sampler."""
        raise NotImplementedError


def build_likelihood(hp, num_levels=256):
    """The likelihood named by hparam `likelihood`, configured from the same hparams, for `num_levels` intensities."""
    cls = registry.likelihoods.get(hp.likelihood)
    if cls.unit not in UNITS:
        raise ValueError(f"likelihood {hp.likelihood!r} declares unit {cls.unit!r}; use one of {', '.join(UNITS)}.")
    return cls.from_hparams(hp, num_levels)
