"""Autoregressive sampling: a cached incremental sampler, and the naive reference it is tested against.

cached_sample: one compiled tf.while_loop over generation steps; each step runs every layer on the *one*
  new unit, reading keys/values of earlier units from per-layer caches (and encoder keys/values computed
  once), so a 32x32x3 image costs 3,072 single-position steps instead of 3,072 full forward passes.
naive_sample: re-runs the whole model on the partial image at every step (what Tensor2Tensor does).

Both follow the model's generation order (raster, or block-raster for 2D local attention), draw with the
likelihood's `sample` and its stateless randomness (imgtf.likelihoods.random_numbers), and so produce identical images
for the same seed. A model holds its own compiled sampler (`model.sample`); `cached_sample` is that call.
`known` / `known_mask` force units to given values (completion: condition on the top half of a real image).
"""
import logging
import math

import numpy as np
import tensorflow as tf

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
    """A compiled function (num_samples, temperature, seed, conditioning, known, known_mask) -> uint8 images."""
    order = tf.constant(model.geometry.order.astype(np.int32))
    num_units = model.num_units

    def sample(num_samples, temperature, seed, conditioning, known_units, known_mask):
        cache = model.empty_cache(conditioning, num_samples)
        canvas = tf.zeros(_unit_layout(model, num_samples), tf.int32)
        previous = canvas[:, 0]

        def body(t, canvas, previous, cache):
            params, cache = model.step(cache, previous, t, conditioning)
            raster = tf.gather(order, t)
            values = _force(model.likelihood.sample(params, t, seed, temperature), known_units, known_mask, raster)
            return t + 1, _dynamic_update(canvas, values, raster), values, cache

        _, canvas, _, _ = tf.while_loop(lambda t, *_: t < num_units, body, (tf.constant(0), canvas, previous, cache),
                                        maximum_iterations=num_units)
        return _to_images(model, canvas)

    # autograph off: the loop is an explicit tf.while_loop and the models' code is plain ops (converting it is most
    # of the tracing time)
    return tf.function(sample, jit_compile=jit_compile, reduce_retracing=True, autograph=False)


def check_sampling_settings(num_samples=1, temperature=1.0, batch_size=1, samples_per_input=1, seed=0, style="flag"):
    """Refuse settings that would sample nonsense, before a checkpoint is loaded or a file written. Temperature 0
    is refused rather than taken as greedy: dividing logits by 0 is not argmax, and argmax decoding of pixels gives
    flat, unrepresentative images. Messages name command-line flags (style "flag") or Python arguments ("python")."""
    from imgtf.errors import InputError
    from imgtf.models.inputs import seed_value, whole_number

    def name(setting):
        return f"--{setting}" if style == "flag" else setting

    real = isinstance(temperature, (int, float, np.integer, np.floating)) and not isinstance(temperature, bool)
    value = float(temperature) if real else math.nan
    if not (math.isfinite(value) and value > 0):
        raise InputError(f"{name('temperature')}={temperature!r}: must be a finite number > 0 (1.0 samples the model; "
                         "the paper uses 0.8-1.0; lower values give more conservative images).")
    for setting, value in (("num_samples", num_samples), ("batch_size", batch_size),
                           ("samples_per_input", samples_per_input)):
        whole_number(name(setting), value)
    seed_value(seed, name("seed"))


def cached_sample(model, num_samples=1, temperature=1.0, seed=0, features=None, known=None, known_mask=None,
                  jit_compile=True):
    """Sample uint8 images [num_samples, H, W, 3] with the model's cached incremental sampler (a tf.Tensor).

    features: conditioning (`label` [N] or scalar, `inputs` [N, h, w, 3]); known/known_mask: images and a
    boolean mask [N, H, W, 3] (or [N, H, W] for pixel models) of values to keep instead of sampling.
    The compiled sampler is kept on the model (`model.samplers`), so it is traced once per model and freed with it."""
    check_sampling_settings(num_samples, temperature, seed=seed, style="python")
    samplers = model.samplers
    if jit_compile not in samplers:
        samplers[jit_compile] = make_cached_sampler(model, jit_compile)
    conditioning = _conditioning(features, num_samples)
    known_units, mask = _known(model, known, known_mask, num_samples)
    args = (tf.constant(num_samples), tf.constant(float(temperature)), tf.constant(int(seed)), conditioning,
            known_units, mask)
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

    for t in range(model.num_units):
        params = unit_params(canvas, tf.constant(t))
        values = _force(model.likelihood.sample(params, tf.constant(t), tf.constant(seed), tf.constant(float(temperature))),
                        known_units, mask, int(order[t]))
        canvas = _dynamic_update(canvas, values, int(order[t]))
    return _to_images(model, canvas)
