"""Row LSTM (van den Oord et al., ICML 2016, section 3.1): rows are processed top to bottom; each layer's
state for a whole row comes from an input-to-state masked 1 x k convolution along the row (computed for
the whole image at once in training) plus a state-to-state 1 x k convolution of the previous row's hidden
state, giving a triangular receptive field above each pixel.

Layer (paper 3.4, residual): 2h features -> input-to-state (4h gates: o, f, i, g) -> LSTM over rows -> h
-> 1x1 mask-B convolution back to 2h, + input. The first layer is a 7x7 mask-A convolution; the output
is ReLU + 1x1 mask-B layers and a 256-way softmax per channel, as in PixelCNN.

A conditioning map (Multi-Scale PixelRNN) is added to every layer's input-to-state gates.

Sampling runs row by row: each step recomputes only the current row in every layer from the cached hidden
and cell states of the previous row, never the whole image. No state depends on its own pixel's B
sub-pixel (masks A then B), so the row's states computed at its last step are final and are kept then.
"""
import keras
from keras import ops

from imgtf.layers.masked_conv import MaskedConv2D
from imgtf.layers.recurrent import initial_state, initial_state_weights, lstm_cell, residual_add
from imgtf.models.base import MaskedConvImageModel
from imgtf.registry import register_model


@keras.saving.register_keras_serializable("imgtf")
class RowLSTMLayer(keras.layers.Layer):
    """One Row LSTM layer over [B, H, W, 2h] feature maps (residual unless residual=False)."""

    def __init__(self, hidden_size, kernel_size=3, residual=True, learn_initial_state=False, **kwargs):
        super().__init__(**kwargs)
        self.hidden_size, self.kernel_size, self.residual = hidden_size, kernel_size, residual
        self.learn_initial_state = learn_initial_state
        h = hidden_size
        # gate-major output layout (o, f, i, g), each gate's h features in R, G, B groups
        self.input_to_state = MaskedConv2D(4 * h, (1, kernel_size), "B", out_group_repeat=4, name="input_to_state")
        self.state_to_state = keras.layers.Conv1D(4 * h, kernel_size, padding="same", name="state_to_state")
        self.output_conv = MaskedConv2D(2 * h, 1, "B", name="output_1x1")

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
        return initial_state(self.initial, (batch, width, self.hidden_size), dtype)

    def call(self, x, bias=None):
        """x [B, H, W, 2h]; bias: optional [B, H, W, 4h] added to the input-to-state gates."""
        gates = self.input_to_state(x)  # the whole image at once
        if bias is not None:
            gates = gates + bias

        def row(state, gates_row):
            state = self.row_step(gates_row, state)
            return state, state  # (keras' TensorFlow scan wants outputs shaped like the carry)

        # one loop over rows (not an unrolled graph: compile time stays flat in the image height)
        _, (hidden, _) = ops.scan(row, self.initial_state(ops.shape(x)[0], x.shape[2], x.dtype), ops.moveaxis(gates, 1, 0))
        return residual_add(x, self.output_conv(ops.moveaxis(hidden, 0, 1)), self.residual)

    def row(self, x_row, state, bias_row=None):
        """This layer on one row given the state of the row above: x_row [B, W, 2h] -> (out row, new state)."""
        gates = self.input_to_state(x_row[:, None])[:, 0]
        if bias_row is not None:
            gates = gates + bias_row
        new_state = self.row_step(gates, state)
        return residual_add(x_row, self.output_conv(new_state[0][:, None])[:, 0], self.residual), new_state

    def get_config(self):
        return {**super().get_config(), "hidden_size": self.hidden_size, "kernel_size": self.kernel_size,
                "residual": self.residual, "learn_initial_state": self.learn_initial_state}


@register_model("row_lstm")
@keras.saving.register_keras_serializable("imgtf")
class RowLSTM(MaskedConvImageModel):
    """Row LSTM: 7x7 mask-A convolution, residual Row LSTM layers, ReLU + 1x1 outputs, 256-way softmax.
    With conditioning_channels > 0, every layer is biased by a 1x1 unmasked projection of a conditioning map."""

    def __init__(self, hparams, problem_info, conditioning_channels=0, **kwargs):
        self.conditioning_channels = conditioning_channels
        super().__init__(hparams, problem_info, **kwargs)

    def build_body(self, hidden):
        self.lstm_layers = [RowLSTMLayer(hidden, self.hparams["kernel_size"], self.residual, self.learn_initial_state,
                                         name=f"row_lstm_{i}")
                            for i in range(self.hparams["num_layers"])]
        self.bias_layers = [keras.layers.Dense(4 * hidden, name=f"conditioning_bias_{i}")
                            for i in range(self.hparams["num_layers"] if self.conditioning_channels else 0)]

    def body(self, x, conditioning=None):
        outputs = []
        for i, layer in enumerate(self.lstm_layers):
            x = layer(x, None if conditioning is None else self.bias_layers[i](conditioning))
            outputs.append(x)
        return outputs

    def get_config(self):
        return {**super().get_config(), "conditioning_channels": self.conditioning_channels}

    # -- row-by-row sampling --------------------------------------------------------------------------
    def empty_cache(self, features, batch):
        w = self.image_shape[1]
        return {"canvas": ops.zeros((batch, self.num_units), "int32"),
                "states": [layer.initial_state(batch, w, self.compute_dtype) for layer in self.lstm_layers]}

    def row_forward(self, canvas, row, states, conditioning=None):
        """Logits of one image row [B, W*3, 256] and every layer's new state, from the states of the row above.
        conditioning: the full conditioning map [B, H, W, c] (its row `row` is used), if the model has one."""
        w, c = self.image_shape[1:]
        x = self.first_at_row(canvas, row)
        cond_row = None if conditioning is None else ops.take(conditioning, row, axis=1)
        new_states, outputs = [], []
        for i, (layer, state) in enumerate(zip(self.lstm_layers, states)):
            x, state = layer.row(x, state, None if cond_row is None else self.bias_layers[i](cond_row))
            new_states.append(state)
            outputs.append(x[:, None])
        logits = self.head(self.top(outputs))[:, 0]
        return ops.reshape(ops.cast(logits, "float32"), (-1, w * c, 256)), new_states

    def step(self, cache, previous, t, features):
        """Unit t's logits: only the current row is computed, from the cached states of the row above; at the
        row's last step its states are final and replace them."""
        per_row = self.image_shape[1] * self.image_shape[2]
        canvas = ops.slice_update(cache["canvas"], (0, ops.maximum(t - 1, 0)), ops.cast(previous, "int32")[:, None])
        logits, states = self.row_forward(canvas, t // per_row, cache["states"])
        states = ops.cond(t % per_row == per_row - 1, lambda: states, lambda: cache["states"])
        return ops.take(logits, t % per_row, axis=1), {"canvas": canvas, "states": states}
