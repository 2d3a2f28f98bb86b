"""Autoregressive sampling: a cached incremental sampler, and the naive reference it is tested against.

cached_sample: one compiled tf.while_loop over generation steps; each step runs every layer on the *one*
  new unit, reading keys/values of earlier units from per-layer caches (and encoder keys/values computed
  once), so a 32x32x3 image costs 3,072 single-position steps instead of 3,072 full forward passes.
naive_sample: re-runs the whole model on the partial image at every step (what Tensor2Tensor does).

Both follow the model's generation order (raster, or block-raster for 2D local attention), draw with the
likelihood's `sample` and its stateless randomness (imgtf.likelihoods.random_numbers), and so produce identical images
for the same seed. A model holds its own compiled sampler: `model.sample` checks its settings once
(imgtf.sampling.settings) and calls `sample_images`, which the decoder's modes call per batch with settings already
checked; `cached_sample` draws from raw features. `known` / `known_mask` force units to given values (completion:
condition on the top half of a real image). Models are read by duck typing (no import of imgtf.models).
"""
import logging

import numpy as np
import tensorflow as tf

from imgtf.errors import InputError
from imgtf.likelihoods import random_numbers
from imgtf.sampling.settings import SamplingSettings, sampling_conditioning

log = logging.getLogger("imgtf")


def _unit_layout(model, num_samples):
    """Canvas shape in units (raster order of the model's grid) and the per-unit value shape."""
    return [num_samples, model.num_units, *model.likelihood.value_shape(model.image_shape[-1])]


def _to_units(model, images):
    images = tf.cast(images, tf.int32)
    return tf.reshape(images, _unit_layout(model, tf.shape(images)[0]))


def _conditioning(features, num_samples):
    """Conditioning features (label, inputs) broadcast to num_samples; targets are not used."""
    out = {}
    for key in ("label", "inputs"):
        if features is not None and key in features:
            value = tf.convert_to_tensor(features[key])
            if value.shape.rank == (0 if key == "label" else 3):
                value = value[None]
            out[key] = tf.broadcast_to(value, [num_samples, *value.shape[1:]]) if value.shape[0] == 1 else value
    return out


def _known(model, known, known_mask, num_samples):
    if known is None:
        shape = _unit_layout(model, num_samples)
        return tf.zeros(shape, tf.int32), tf.zeros(shape[:2], tf.bool)
    units = _to_units(model, known)
    mask = tf.reshape(tf.cast(known_mask, tf.bool), [num_samples, model.num_units, -1])[..., 0]
    return units, mask


def _force(values, known_units, known_mask, raster):
    """Keep the known value of the unit at `raster` where the mask says so."""
    keep = tf.gather(known_mask, raster, axis=1)
    if values.shape.rank == 2:
        keep = keep[:, None]
    return tf.where(keep, tf.gather(known_units, raster, axis=1), values)


def _dynamic_update(canvas, values, raster):
    from keras import ops

    start = (0, raster, 0) if canvas.shape.rank == 3 else (0, raster)
    return ops.slice_update(canvas, start, tf.expand_dims(values, 1))


def _to_images(model, units):
    return tf.cast(tf.reshape(units, [-1, *model.image_shape]), tf.uint8)


def make_cached_sampler(model, jit_compile=True):
    """A compiled function (num_samples, temperature, seed, conditioning, known, known_mask, first=0) -> uint8 images;
    `first`: the index in the whole draw of the call's first image (a decoder's batch)."""
    order = tf.constant(model.geometry.order.astype(np.int32))
    num_units = model.num_units

    def sample(num_samples, temperature, seed, conditioning, known_units, known_mask, first=0):
        # image i of the draw (this call's images are first, first + 1, ...) has a seed of its own, whatever the batch
        seeds = random_numbers.image_seeds(seed, num_samples, first)
        cache = model.empty_cache(conditioning, num_samples)
        canvas = tf.zeros(_unit_layout(model, num_samples), tf.int32)
        previous = canvas[:, 0]

        def body(t, canvas, previous, cache):
            params, cache = model.step(cache, previous, t, conditioning)
            raster = tf.gather(order, t)
            values = _force(model.likelihood.sample(params, t, seeds, temperature), known_units, known_mask, raster)
            return t + 1, _dynamic_update(canvas, values, raster), values, cache

        _, canvas, _, _ = tf.while_loop(lambda t, *_: t < num_units, body, (tf.constant(0), canvas, previous, cache),
                                        maximum_iterations=num_units)
        return _to_images(model, canvas)

    # autograph off: the loop is an explicit tf.while_loop and the models' code is plain ops (converting it is most
    # of the tracing time)
    return tf.function(sample, jit_compile=jit_compile, reduce_retracing=True, autograph=False)


def cached_sample(model, num_samples=1, temperature=1.0, seed=0, features=None, known=None, known_mask=None,
                  jit_compile=True):
    """Sample uint8 images [num_samples, H, W, 3] with the model's cached incremental sampler (a tf.Tensor).

    features: conditioning (`label` [N] or scalar, `inputs` [N, h, w, 3]); known/known_mask: images and a
    boolean mask [N, H, W, 3] (or [N, H, W] for pixel models) of values to keep instead of sampling.
    The compiled sampler is kept on the model (`model.samplers`), so it is traced once per model and freed with it."""
    settings = SamplingSettings.one_batch(num_samples, temperature, seed, jit_compile)
    return _draw(model, settings, features, known, known_mask)


def sample_images(model, settings, label=None, inputs=None, known=None, known_mask=None):
    """`model.sample` for checked `settings` (a SamplingSettings; the decoder's modes call it per batch): uint8 numpy
    images [settings.num_samples, H, W, C], with the conditioning and known values checked against the model's input
    contract (`known_mask` per sub-pixel, reduced here to one entry per generation unit)."""
    num_samples = settings.num_samples
    settings.check_memory(model.image_shape)
    model.build_variables()
    contract = model.input_contract
    features = sampling_conditioning(contract, num_samples, label, inputs, model_name=type(model).__name__)
    if (known is None) != (known_mask is None):
        raise InputError("sample: pass known= and known_mask= together (the values to keep and where they are).")
    if known is not None:
        known = np.asarray(known)
        contract.check({"targets": known}, where="sample(known=...)")
        mask = np.asarray(known_mask)
        if known.shape[0] != num_samples or mask.shape not in (known.shape, known.shape[:-1]):
            raise InputError(f"sample: known= must be [num_samples={num_samples}, "
                             f"{', '.join(map(str, model.image_shape))}] and known_mask= booleans of its shape; got "
                             f"known {list(known.shape)}, known_mask {list(mask.shape)}.")
        known_mask = model.likelihood.unit_mask(mask)
    return _draw(model, settings, features or None, known, known_mask).numpy()


def _draw(model, settings, features, known, known_mask):
    """The compiled sampler's images for checked `settings`; falls back to no XLA where XLA cannot compile it."""
    samplers = model.samplers
    jit_compile = settings.jit_compile
    if jit_compile not in samplers:
        samplers[jit_compile] = make_cached_sampler(model, jit_compile)
    conditioning = _conditioning(features, settings.num_samples)
    known_units, mask = _known(model, known, known_mask, settings.num_samples)
    args = (tf.constant(settings.num_samples), tf.constant(settings.temperature), tf.constant(settings.seed),
            conditioning, known_units, mask, tf.constant(settings.first))
    try:
        return samplers[jit_compile](*args)
    except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError) as e:
        if not jit_compile:
            raise
        log.warning("XLA compilation of the sampler failed (%s); sampling without XLA.", str(e).splitlines()[0])
        samplers[True] = samplers[False] = samplers.get(False) or make_cached_sampler(model, jit_compile=False)
        return samplers[True](*args)


def naive_sample(model, num_samples=1, temperature=1.0, seed=0, features=None, known=None, known_mask=None):
    """Reference sampler: the whole model re-run on the partial image for every unit (slow; for tests)."""
    conditioning = _conditioning(features, num_samples)
    known_units, mask = _known(model, known, known_mask, num_samples)
    order = model.geometry.order
    canvas = tf.zeros(_unit_layout(model, num_samples), tf.int32)

    @tf.function(autograph=False)
    def unit_params(canvas, t):
        return model.unit_params(model({**conditioning, "targets": _to_images(model, canvas)}), t)

    seeds = random_numbers.image_seeds(seed, num_samples)
    for t in range(model.num_units):
        params = unit_params(canvas, tf.constant(t))
        values = _force(model.likelihood.sample(params, tf.constant(t), seeds, tf.constant(float(temperature))),
                        known_units, mask, int(order[t]))
        canvas = _dynamic_update(canvas, values, int(order[t]))
    return _to_images(model, canvas)
