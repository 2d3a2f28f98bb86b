"""The recurrent layers' loop: carry = step(carry, x) over the first axis of x, returning every carry stacked.

keras.ops.scan's TensorFlow loop has no bound (maximum_iterations), and XLA refuses to compile the gradient of an
unbounded loop ("XLA compilation requires a fixed tensor list size"): the Row LSTM, Diagonal BiLSTM and Multi-Scale
PixelRNN could not train under --xla or in Keras `fit` (which compiles with XLA by default on TensorFlow). On
TensorFlow this runs tf.scan, whose loop is bounded by the sequence length; on other backends keras.ops.scan."""
import keras
from keras import ops


def scan_states(step, init, xs, reverse=False):
    """(the last carry, every carry stacked on axis 0 in the order of xs) for carry = step(carry, x); `reverse`
    runs from the last x to the first."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        states = tf.scan(step, xs, initializer=init, reverse=reverse)
        return tf.nest.map_structure(lambda s: s[0] if reverse else s[-1], states), states

    def carry_and_output(carry, x):
        carry = step(carry, x)
        return carry, carry

    return ops.scan(carry_and_output, init, xs, reverse=reverse)
