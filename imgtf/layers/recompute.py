"""Activation recomputation (hparam `recompute`): a layer keeps only its input for the backward pass and recomputes
its activations there (`keras.remat`; `tf.recompute_grad` under TensorFlow). Peak training memory then holds one
layer's activations at a time instead of every layer's, for about one more forward pass of compute.

Dropout must draw the same masks in the forward pass and in its recomputation, or the gradients belong to another
network. Keras's Dropout layers draw from a stateful SeedGenerator that advances with every draw, so a recomputation
would draw new masks. Here one seed is drawn per layer call, outside the recomputed function, and handed in; inside
it every Dropout sub-layer draws from that seed (the k-th draw of the call uses seed + [0, k]), so both passes draw
identical masks. `tests/test_recompute.py` checks the gradients against those of the same call without recomputation.
"""
import contextlib

import keras
from keras import ops


class _CallSeeds(keras.random.SeedGenerator):
    """The seeds of one recomputed call: the k-th draw returns seed + [0, k]. Built per trace of the function (so the
    forward pass and the recomputation count alike); holds no state variable, unlike a SeedGenerator."""

    def __init__(self, seed):  # deliberately not SeedGenerator.__init__: no variable is created inside a trace
        self._seed, self._count = seed, 0

    def next(self, ordered=True):
        self._count += 1
        return self._seed + ops.cast(ops.convert_to_tensor([0, self._count]), self._seed.dtype)


def _dropout_layers(layer):
    """The Dropout layers inside `layer` that draw masks (Keras gives a Dropout of rate 0 no seed generator)."""
    return [sub for sub in layer._flatten_layers(include_self=True)
            if isinstance(sub, keras.layers.Dropout) and sub.rate > 0]


@contextlib.contextmanager
def _seeded(layer, seed):
    """Every Dropout inside `layer` draws from `seed` while the context is open (its own generator afterwards)."""
    dropouts = _dropout_layers(layer)
    saved = [d.seed_generator for d in dropouts]
    seeds = _CallSeeds(seed)
    try:
        for dropout in dropouts:
            object.__setattr__(dropout, "seed_generator", seeds)  # past Keras's tracking: not layer state
        yield
    finally:
        for dropout, generator in zip(dropouts, saved):
            object.__setattr__(dropout, "seed_generator", generator)


def recomputed(fn, *tensors, dropout_in=None, seed_generator=None, training=False):
    """fn(*tensors), its activations recomputed in the backward pass instead of kept: `tensors` are what the gradient
    flows through (settings and constant masks belong in fn's closure). `dropout_in`: the layer whose Dropout
    sub-layers fn runs; when training with dropout their masks come from one seed per call, drawn from
    `seed_generator` (a keras.random.SeedGenerator of the model), so that the recomputation draws the same ones."""
    if dropout_in is None or not training or not _dropout_layers(dropout_in):
        return keras.remat(fn)(*tensors)
    seed = seed_generator.next()  # drawn once, outside: both passes read this tensor (not a gradient input)

    def forward(*tensors):
        with _seeded(dropout_in, seed):
            return fn(*tensors)

    return keras.remat(forward)(*tensors)
