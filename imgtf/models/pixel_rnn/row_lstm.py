"""Row LSTM (van den Oord et al., ICML 2016, section 3.1): rows are processed top to bottom; each layer's
state for a whole row comes from an input-to-state masked 1 x k convolution along the row (computed for
the whole image at once in training) plus a state-to-state 1 x k convolution of the previous row's hidden
state, giving a triangular receptive field above each pixel.

Layer (paper 3.4, residual): 2h features -> input-to-state (4h gates: o, f, i, g) -> LSTM over rows -> h
-> 1x1 mask-B convolution back to 2h, + input. The first layer is a 7x7 mask-A convolution; the output
is ReLU + 1x1 mask-B layers and a 256-way softmax per channel, as in PixelCNN.

A conditioning map (Multi-Scale PixelRNN) is added to every layer's input-to-state gates.

Sampling runs pixel by pixel, carrying states: a step computes every layer at one pixel only, from the
buffered states of the row above and the current row's inputs to its left (RecurrentImageModel).
"""
import keras

from imgtf.layers.row_lstm import RowLSTMLayer
from imgtf.models.pixel_rnn.base import RecurrentImageModel
from imgtf.registry import register_model


@register_model("row_lstm")
@keras.saving.register_keras_serializable("imgtf")
class RowLSTM(RecurrentImageModel):
    """Row LSTM: 7x7 mask-A convolution, residual Row LSTM layers, ReLU + 1x1 outputs, 256-way softmax.
    With conditioning_channels > 0, every layer is biased by a 1x1 unmasked projection of a conditioning map."""

    def __init__(self, hparams, problem_info, conditioning_channels=0, **kwargs):
        self.conditioning_channels = conditioning_channels
        super().__init__(hparams, problem_info, **kwargs)

    def build_body(self, hidden):
        self.lstm_layers = [RowLSTMLayer(hidden, self.hparams.kernel_size, self.residual, self.learn_initial_state,
                                         groups=self.image_shape[-1], name=f"row_lstm_{i}")
                            for i in range(self.hparams.num_layers)]
        self.bias_layers = [keras.layers.Dense(4 * hidden, name=f"conditioning_bias_{i}")
                            for i in range(self.hparams.num_layers if self.conditioning_channels else 0)]

    def body(self, x, conditioning=None, training=False):
        outputs = []
        for i, layer in enumerate(self.lstm_layers):
            if conditioning is None:
                x = self.checkpointed(lambda x, layer=layer: layer(x, None), x, training=training)
            else:
                x = self.checkpointed(layer, x, self.bias_layers[i](conditioning), training=training)
            outputs.append(x)
        return outputs

    def get_config(self):
        return {**super().get_config(), "conditioning_channels": self.conditioning_channels}
