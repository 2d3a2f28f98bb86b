"""Polyak averaging (hparam ema_decay): the exponential moving averages of the weights that Keras's optimizer keeps
with `use_ema` (a_1 = w_1, a_t = d * a_{t-1} + (1 - d) * w_t), and swapping them into the model for evaluation,
sampling, loading and export while training itself goes on with the raw weights, as PixelCNN++ and PixelSNAIL
evaluate. The averages live in the optimizer, so they are saved in and restored from every checkpoint."""
import contextlib

import tensorflow as tf


def _inner(optimizer):
    return getattr(optimizer, "inner_optimizer", optimizer)  # a float16 LossScaleOptimizer wraps the real one


def averages(optimizer):
    """The averages, one per trained variable in the optimizer's order, or None when averaging is off or no step
    has run yet (the averages are set at the first step)."""
    inner = _inner(optimizer)
    if inner is None or not getattr(inner, "use_ema", False) or not inner.built:
        return None
    if int(inner.iterations.numpy()) == 0:
        return None
    return list(inner._model_variables_moving_average)


def _pairs(optimizer):
    """(trained variable, its average) pairs; none when there are no averages (or `optimizer` is None)."""
    found = averages(optimizer)
    return list(zip(_inner(optimizer)._trainable_variables, found)) if found else []


def use_averages(optimizer):
    """Overwrite the trained variables with their averages (what `load_run` does); returns whether it did."""
    pairs = _pairs(optimizer)
    for variable, average in pairs:
        variable.assign(tf.convert_to_tensor(average))
    return bool(pairs)


@contextlib.contextmanager
def averaged_weights(optimizer):
    """Within the block the trained variables hold their averages; the raw weights come back after it, even on an
    error. Yields whether averages were swapped in."""
    pairs = _pairs(optimizer)
    raw = [tf.identity(tf.convert_to_tensor(variable)) for variable, _ in pairs]
    try:
        for variable, average in pairs:
            variable.assign(tf.convert_to_tensor(average))
        yield bool(pairs)
    finally:
        for (variable, _), value in zip(pairs, raw):
            variable.assign(value)
