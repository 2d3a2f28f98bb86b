"""Diagonal BiLSTM (van den Oord et al., ICML 2016, section 3.2): each layer runs two LSTMs along the image's
diagonals, so every pixel's state comes from its left and upper neighbours and the receptive field covers
the whole context above and to the left (the Row LSTM sees only a triangle).

Per direction: the input map is skewed so that diagonals become columns (imgtf.layers.recurrent.skew); a 1x1
mask-B input-to-state convolution gives the gates of every position at once; a 2x1 state-to-state
convolution runs over columns, combining the previous column's states at rows i-1 (the upper neighbour) and
i (the left neighbour); the map is unskewed. The right-to-left direction runs on the mirrored image and its
output is shifted down one row, so a pixel only ever sees rows above it from that direction. Layer
(residual): 2h -> both directions -> h_left + shifted h_right -> 1x1 mask-B convolution to 2h, + input.

Sampling (raster order, R, G, B inside a pixel) carries the states instead of re-running the image: each
sub-pixel step runs every layer on one pixel from the stored states of its upper and left neighbours, and
when a row is complete one right-to-left sweep over it updates the right direction's states that the next
row reads (the loop itself is RecurrentImageModel's).
"""
import keras

from imgtf.layers.diagonal_bilstm import DiagonalBiLSTMLayer
from imgtf.models.pixel_rnn.base import RecurrentImageModel
from imgtf.registry import register_model


@register_model("diagonal_bilstm")
@keras.saving.register_keras_serializable("imgtf")
class DiagonalBiLSTM(RecurrentImageModel):
    """Diagonal BiLSTM: 7x7 mask-A convolution, residual Diagonal BiLSTM layers, ReLU + 1x1 outputs,
    256-way softmax per channel."""

    def build_body(self, hidden):
        self.lstm_layers = [DiagonalBiLSTMLayer(hidden, self.residual, self.learn_initial_state,
                                                groups=self.image_shape[-1], name=f"diagonal_bilstm_{i}")
                            for i in range(self.hparams.num_layers)]

    def body(self, x, training=False):
        outputs = []
        for layer in self.lstm_layers:
            x = self.checkpointed(layer, x, training=training)
            outputs.append(x)
        return outputs
