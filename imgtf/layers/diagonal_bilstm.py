"""The Diagonal BiLSTM layer (van den Oord et al., ICML 2016, section 3.2): two LSTMs sweep the skewed image's
diagonals (left-to-right and, mirrored, right-to-left, the latter shifted down a row), so each pixel sees the whole
context above it. Also computes one pixel at a time from diagonal buffers, for sampling."""
import keras
import numpy as np
from keras import ops

from imgtf.layers.masked_conv import MaskedConv2D
from imgtf.layers.scan import scan_states
from imgtf.layers.slicing import leading_part
from imgtf.layers.recurrent import (broadcast_state, initial_state_weights, lstm_cell, residual_add, shift_down, skew,
                                    unskew)


def _skewed_validity(rows, cols):
    """[H, W+H-1] bool: True where skewed position (i, d) is a real pixel (i, d-i)."""
    d = np.arange(rows + cols - 1)[None, :] - np.arange(rows)[:, None]
    return (d >= 0) & (d < cols)


@keras.saving.register_keras_serializable("imgtf")
class DiagonalBiLSTMLayer(keras.layers.Layer):
    """One Diagonal BiLSTM layer over [B, H, W, 2h] feature maps (residual unless residual=False)."""

    def __init__(self, hidden_size, residual=True, learn_initial_state=False, groups=3, **kwargs):
        super().__init__(**kwargs)
        self.hidden_size = h = hidden_size
        self.residual, self.learn_initial_state, self.groups = residual, learn_initial_state, groups
        # gate-major outputs (o, f, i, g), each gate's h features in one group per image channel (R, G, B)
        self.left_input = MaskedConv2D(4 * h, 1, "B", out_group_repeat=4, groups=groups, name="left_input_to_state")
        # the right direction reaches a pixel only from the row above (shifted), so nothing in it needs a mask
        self.right_input = keras.layers.Dense(4 * h, name="right_input_to_state")
        self.output_conv = MaskedConv2D(2 * h, 1, "B", groups=groups, name="output_1x1")

    def build(self, input_shape):
        h = self.hidden_size
        self.left_input.build(input_shape)
        self.right_input.build(input_shape)
        self.output_conv.build((*input_shape[:3], h))
        # 2x1 state-to-state kernels as one [2h, 4h] matrix over (upper neighbour, left neighbour) states
        self.left_state = self.add_weight(name="left_state_to_state", shape=(2 * h, 4 * h), initializer="glorot_uniform")
        self.right_state = self.add_weight(name="right_state_to_state", shape=(2 * h, 4 * h), initializer="glorot_uniform")
        # the state of every neighbour outside the image: above row 0, left of column 0 (per direction)
        learned = self.learn_initial_state
        self.left_initial = initial_state_weights(self, "left_initial_state", h) if learned else None
        self.right_initial = initial_state_weights(self, "right_initial_state", h) if learned else None

    @staticmethod
    def cell(gates_in, kernel, h_up, h_left, c_left):
        """One position (or a column of them): gates from the input plus both neighbours' states."""
        gates = gates_in + ops.matmul(ops.concatenate([h_up, h_left], axis=-1), ops.cast(kernel, gates_in.dtype))
        return lstm_cell(gates, c_left)

    def direction(self, gates, kernel, initial):
        """Left-to-right diagonal LSTM over gates [B, H, W, 4h] -> hidden states [B, H, W, h]: one scan over
        the skewed map's columns (a loop, not an unrolled graph: compile time stays flat in the image size).
        Neighbours outside the image (above row 0, left of column 0) hold the initial state."""
        rows, cols = gates.shape[1], gates.shape[2]
        columns = ops.moveaxis(skew(gates), 2, 0)  # [W+H-1, B, H, 4h]
        valid = np.transpose(_skewed_validity(rows, cols))[:, None, :, None]  # [W+H-1, 1, H, 1]
        h0, c0 = broadcast_state(initial, (ops.shape(gates)[0], rows, self.hidden_size), gates.dtype)

        def column(state, gates_d):
            h, c, d = state
            keep = ops.take(valid, d, axis=0)
            # row i of h_up: row i-1 of column d-1, the pixel above (row 0: the initial state)
            above = leading_part(h, (ops.shape(h)[0], rows - 1, ops.shape(h)[2]))
            h_up = ops.concatenate([leading_part(h0, (ops.shape(h0)[0], 1, ops.shape(h0)[2])), above], axis=1)
            h, c = self.cell(gates_d, kernel, h_up, h, c)  # column d-1, row i: the pixel on the left
            h, c = ops.where(keep, h, h0), ops.where(keep, c, c0)  # outside the image: the initial state
            return h, c, d + 1

        _, (hidden, _, _) = scan_states(column, (h0, c0, 0), columns)
        return unskew(ops.moveaxis(hidden, 0, 2), cols)

    def call(self, x):
        left = self.direction(self.left_input(x), self.left_state, self.left_initial)
        right = ops.flip(self.direction(self.right_input(ops.flip(x, axis=2)), self.right_state, self.right_initial),
                         axis=2)
        return residual_add(x, self.output_conv(left + shift_down(right)), self.residual)

    # -- incremental sampling -------------------------------------------------------------------------
    def sampling_state(self, batch, width, dtype):
        """Row buffers: left h, c (columns < j: current row; >= j: the row above; before row 0: the initial
        state), right h of the row above (zeros before row 0: the shifted map's first row), and this layer's
        inputs on the current row (for the right-to-left sweep once the row is complete)."""
        h, c = broadcast_state(self.left_initial, (batch, width, self.hidden_size), dtype)
        zeros = ops.zeros((batch, width, self.hidden_size), dtype)
        return {"h": h, "c": c, "right_h": zeros, "x": ops.zeros((batch, width, 2 * self.hidden_size), dtype)}

    def pixel(self, x, state, col):
        """This layer at pixel (current row, col) from its buffers: x [B, 2h] -> (output [B, 2h], h, c)."""
        h_up = ops.take(state["h"], col, axis=1)  # not yet overwritten: still the row above
        h0, c0 = broadcast_state(self.left_initial, ops.shape(h_up), x.dtype)
        h_left = ops.where(col > 0, ops.take(state["h"], ops.maximum(col - 1, 0), axis=1), h0)
        c_left = ops.where(col > 0, ops.take(state["c"], ops.maximum(col - 1, 0), axis=1), c0)
        gates = self.left_input(x[:, None, None])[:, 0, 0]
        h, c = self.cell(gates, self.left_state, h_up, h_left, c_left)
        mixed = h + ops.take(state["right_h"], col, axis=1)  # right direction, shifted down: the row above
        return residual_add(x, self.output_conv(mixed[:, None, None])[:, 0, 0], self.residual), h, c

    def commit(self, state, col, x, h, c):
        def put(buffer, value):
            return ops.slice_update(buffer, (0, col, 0), value[:, None])

        return {"h": put(state["h"], h), "c": put(state["c"], c), "right_h": state["right_h"], "x": put(state["x"], x)}

    def end_row(self, state, row):
        """Sweep the finished row right to left: its right-direction states, from its inputs and the right
        states of the row above, which the next row reads (shifted down)."""
        gates = self.right_input(state["x"])
        four_h = gates.shape[-1]
        h0, c0 = broadcast_state(self.right_initial, ops.shape(state["right_h"]), gates.dtype)
        above = ops.where(row > 0, state["right_h"], h0)
        # per column: its gates and the right state of the pixel above, scanned from the last column back
        columns = ops.moveaxis(ops.concatenate([gates, above], axis=-1), 1, 0)

        def column(carry, inputs):
            return self.cell(inputs[..., :four_h], self.right_state, inputs[..., four_h:], *carry)

        _, (hidden, _) = scan_states(column, (h0[:, 0], c0[:, 0]), columns, reverse=True)
        return {**state, "right_h": ops.moveaxis(hidden, 0, 1)}

    def get_config(self):
        return {**super().get_config(), "hidden_size": self.hidden_size, "residual": self.residual,
                "learn_initial_state": self.learn_initial_state, "groups": self.groups}
