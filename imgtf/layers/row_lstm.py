"""The Row LSTM layer (van den Oord et al., ICML 2016, section 3.1): rows top to bottom, each row's state from a
masked 1 x k input-to-state convolution plus a 1 x k state-to-state convolution of the row above, so each pixel sees
a triangle above it. Also computes one pixel at a time from row buffers, for sampling."""
import keras
from keras import ops

from imgtf.layers.masked_conv import MaskedConv2D
from imgtf.layers.recurrent import broadcast_state, initial_state_weights, lstm_cell, residual_add
from imgtf.layers.scan import scan_states


@keras.saving.register_keras_serializable("imgtf")
class RowLSTMLayer(keras.layers.Layer):
    """One Row LSTM layer over [B, H, W, 2h] feature maps (residual unless residual=False)."""

    def __init__(self, hidden_size, kernel_size=3, residual=True, learn_initial_state=False, groups=3, **kwargs):
        super().__init__(**kwargs)
        self.hidden_size, self.kernel_size, self.residual = hidden_size, kernel_size, residual
        self.learn_initial_state, self.groups = learn_initial_state, groups  # groups: the image's channels
        h = hidden_size
        # gate-major output layout (o, f, i, g), each gate's h features in R, G, B groups
        self.input_to_state = MaskedConv2D(4 * h, (1, kernel_size), "B", out_group_repeat=4, groups=groups,
                                           name="input_to_state")
        self.state_to_state = keras.layers.Conv1D(4 * h, kernel_size, padding="same", name="state_to_state")
        self.output_conv = MaskedConv2D(2 * h, 1, "B", groups=groups, name="output_1x1")

    def build(self, input_shape):
        h = self.hidden_size
        self.input_to_state.build(input_shape)
        self.state_to_state.build((None, input_shape[2], h))
        self.output_conv.build((*input_shape[:3], h))
        self.initial = initial_state_weights(self, "initial_state", h) if self.learn_initial_state else None

    def row_step(self, gates_in, state):
        """One row: gates_in [B, W, 4h] from the input, state (h, c) [B, W, h] of the row above."""
        h_prev, c_prev = state
        return lstm_cell(gates_in + self.state_to_state(h_prev), c_prev)

    def initial_state(self, batch, width, dtype):
        """(h, c) [B, W, h] of the row above the first row."""
        return broadcast_state(self.initial, (batch, width, self.hidden_size), dtype)

    def call(self, x, bias=None):
        """x [B, H, W, 2h]; bias: optional [B, H, W, 4h] added to the input-to-state gates."""
        gates = self.input_to_state(x)  # the whole image at once
        if bias is not None:
            gates = gates + bias

        def row(state, gates_row):
            return self.row_step(gates_row, state)

        # one loop over rows (not an unrolled graph: compile time stays flat in the image height)
        start = self.initial_state(ops.shape(x)[0], x.shape[2], x.dtype)
        _, (hidden, _) = scan_states(row, start, ops.moveaxis(gates, 1, 0))
        return residual_add(x, self.output_conv(ops.moveaxis(hidden, 0, 1)), self.residual)

    # -- pixel-by-pixel sampling ------------------------------------------------------------------------
    # A pixel's state needs only the current row's inputs at its left and itself (masked 1 x k) and the row
    # above's states around it (1 x k), so each step computes one pixel per layer, never a whole row.
    def sampling_state(self, batch, width, dtype):
        """Row buffers padded by k//2 columns each side, as the 'same' convolutions pad: h, c of the row above
        (the initial state before row 0), and the current row's h, c and inputs so far."""
        reach = self.kernel_size // 2
        h, c = (ops.pad(v, [[0, 0], [reach, reach], [0, 0]]) for v in self.initial_state(batch, width, dtype))
        zeros = ops.zeros_like(h)
        return {"h": h, "c": c, "h_row": zeros, "c_row": zeros,
                "x": ops.zeros((batch, width + 2 * reach, 2 * self.hidden_size), dtype)}

    def pixel(self, x, state, col, bias=None):
        """This layer at pixel (current row, col): x [B, 2h] -> (output [B, 2h], h, c). Columns right of col
        in the input buffer hold stale values, which the mask gives zero weight."""
        reach, batch = self.kernel_size // 2, ops.shape(x)[0]
        inputs = ops.slice(ops.slice_update(state["x"], (0, col + reach, 0), x[:, None]), (0, col, 0),
                           (batch, self.kernel_size, x.shape[-1]))
        gates = self.input_to_state(inputs[:, None])[:, 0, reach]
        if bias is not None:
            gates = gates + bias
        above = ops.slice(state["h"], (0, col, 0), (batch, self.kernel_size, self.hidden_size))
        gates = gates + self.state_to_state(above)[:, reach]
        h, c = lstm_cell(gates, ops.take(state["c"], col + reach, axis=1))
        return residual_add(x, self.output_conv(h[:, None, None])[:, 0, 0], self.residual), h, c

    def commit(self, state, col, x, h, c):
        reach = self.kernel_size // 2

        def put(buffer, value):
            return ops.slice_update(buffer, (0, col + reach, 0), value[:, None])

        return {**state, "x": put(state["x"], x), "h_row": put(state["h_row"], h), "c_row": put(state["c_row"], c)}

    def end_row(self, state, row):
        """The finished row becomes the row above."""
        return {**state, "h": state["h_row"], "c": state["c_row"]}

    def get_config(self):
        return {**super().get_config(), "hidden_size": self.hidden_size, "kernel_size": self.kernel_size,
                "residual": self.residual, "learn_initial_state": self.learn_initial_state, "groups": self.groups}
