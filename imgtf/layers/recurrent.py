"""Pieces shared by the PixelRNN paper's models: the LSTM cell on precomputed gates, the learned initial
state, the optional residual connection, and the skew that turns an image's diagonals into columns
(Diagonal BiLSTM, paper 3.2)."""
from keras import ops

from imgtf.layers.slicing import leading_part


def lstm_cell(gates, c_prev):
    """gates [..., 4h] laid out (o, f, i, g) -> (h, c). One cell state per position, as in the paper (eq. 3)."""
    o, f, i, g = ops.split(gates, 4, axis=-1)
    c = ops.sigmoid(f) * c_prev + ops.sigmoid(i) * ops.tanh(g)
    return ops.sigmoid(o) * ops.tanh(c), c


def initial_state_weights(layer, name, size):
    """Learned initial (h, c) vectors [size] of a recurrent layer ("For all the PixelRNN models, we learn the
    initial recurrent state of the network"), starting at zero: an untrained layer begins from the zero state."""
    return tuple(layer.add_weight(name=f"{name}_{part}", shape=(size,), initializer="zeros") for part in ("h", "c"))


def broadcast_state(weights, shape, dtype):
    """(h, c) of `shape` [..., size]: the learned vectors broadcast, or zeros when the layer learns none."""
    if weights is None:
        zeros = ops.zeros(shape, dtype)
        return zeros, zeros
    return tuple(ops.broadcast_to(ops.cast(w, dtype), shape) for w in weights)


def residual_add(x, y, residual):
    """A layer's output y, plus its input x when the layer is residual (paper 3.4)."""
    return x + y if residual else y


def skew(x):
    """[B, H, W, C] -> [B, H, W+H-1, C]: row i shifted right by i, zeros elsewhere. (i, j) lands at (i, i+j),
    so column d holds the diagonal of pixels (i, d-i), whose left and upper neighbours are both in column d-1."""
    batch, rows, cols, channels = ops.shape(x)[0], x.shape[1], x.shape[2], x.shape[3]
    width = cols + rows
    padded = ops.pad(x, [[0, 0], [0, 0], [0, rows], [0, 0]])  # rows of length W+H
    flat = leading_part(ops.reshape(padded, (batch, rows * width, channels)), (batch, rows * (width - 1), channels))
    return ops.reshape(flat, (batch, rows, width - 1, channels))  # element i*(W+H)+j lands at (i, i+j)


def unskew(x, cols):
    """Inverse of skew: [B, H, W+H-1, C] -> [B, H, W, C], (i, j) <- (i, i+j)."""
    batch, rows, skewed, channels = ops.shape(x)[0], x.shape[1], x.shape[2], x.shape[3]
    flat = ops.pad(ops.reshape(x, (batch, rows * skewed, channels)), [[0, 0], [0, rows], [0, 0]])
    return leading_part(ops.reshape(flat, (batch, rows, skewed + 1, channels)), (batch, rows, cols, channels))


def shift_down(x):
    """[B, H, W, C] -> the same map moved down one row (zeros in row 0): row i then holds row i-1."""
    above = leading_part(x, (ops.shape(x)[0], x.shape[1] - 1, *ops.shape(x)[2:]))  # rows 0 .. H-2
    return ops.pad(above, [[0, 0], [1, 0], [0, 0], [0, 0]])
