"""PixelCNN (van den Oord et al., ICML 2016, section 3.4): a 7x7 mask-A convolution, then residual blocks
each around one 3x3 mask-B convolution, then ReLU + 1x1 mask-B output layers and a softmax per channel over its
intensity levels (256; 2 for binary images). Masks carry the R, G, B channel order inside each pixel
(imgtf.layers.masked_conv).

Residual block (paper Figure 5): 2h -> ReLU -> 1x1 conv h -> ReLU -> 3x3 conv h -> ReLU -> 1x1 conv 2h, + input.
Generation order: raster over pixels, R, G, B inside a pixel (the sub-pixel grid [H, W*3], as the
Image Transformer's 1D order), so the same samplers, trainer and exporter serve it.

Sampling caches activations: every block keeps the inputs of its 3x3 convolution for the pixels generated
so far, so a step computes each layer at one pixel only (a 3x3 window of cached values), never the image.
"""
import keras
from keras import ops

from imgtf.layers.masked_conv import MaskedConv2D
from imgtf.layers.recurrent import residual_add
from imgtf.models.pixel_rnn.base import MaskedConvImageModel
from imgtf.registry import register_model


@register_model("pixelcnn")
@keras.saving.register_keras_serializable("imgtf")
class PixelCNN(MaskedConvImageModel):
    """PixelCNN: masked 7x7 (A) + residual masked 3x3 (B) convolutions, 256-way softmax per channel."""

    def build_body(self, hidden):
        layers, kernel = self.hparams.num_layers, self.hparams.kernel_size
        # flat lists (nested lists of layers are not tracked for SavedModel export)
        c = self.image_shape[-1]  # one mask group per image channel
        self.blocks_in = [MaskedConv2D(hidden, 1, "B", groups=c, name=f"block_{i}_in") for i in range(layers)]
        self.blocks_conv = [MaskedConv2D(hidden, kernel, "B", groups=c, name=f"block_{i}_conv") for i in range(layers)]
        self.blocks_out = [MaskedConv2D(2 * hidden, 1, "B", groups=c, name=f"block_{i}_out") for i in range(layers)]

    def body(self, x, training=False):
        outputs = []
        for conv_in, conv, conv_out in zip(self.blocks_in, self.blocks_conv, self.blocks_out):
            def block(x, conv_in=conv_in, conv=conv, conv_out=conv_out):
                return residual_add(x, conv_out(ops.relu(conv(ops.relu(conv_in(ops.relu(x)))))), self.residual)

            x = self.checkpointed(block, x, training=training)
            outputs.append(x)
        return outputs

    # -- sampling with cached activations (the step itself is MaskedConvImageModel.step) -----------------
    def initial_states(self, batch):
        """Per block, the inputs of its 3x3 convolution at the pixels generated so far (zero-padded like 'same')."""
        h, w, _ = self.image_shape
        reach = self.hparams.kernel_size // 2
        zeros = ops.zeros((batch, h + reach, w + 2 * reach, self.hparams.hidden_size), self.compute_dtype)
        return [zeros] * len(self.blocks_conv)

    def pixel_forward(self, canvas, pixel, activations):
        """Logits [B, C, num_levels] of one pixel, and each block's convolution input there [B, 1, 1, h]."""
        w = self.image_shape[1]
        row, col = pixel // w, pixel % w
        reach = self.hparams.kernel_size // 2
        x = self.first_at_pixel(canvas, row, col)
        inputs, outputs = [], []
        for conv_in, conv, conv_out, cached in zip(self.blocks_in, self.blocks_conv, self.blocks_out, activations):
            a = ops.relu(conv_in(ops.relu(x)[:, None, None]))
            cached = ops.slice_update(cached, (0, row + reach, col + reach, 0), a)
            window = ops.slice(cached, (0, row, col, 0), (ops.shape(a)[0], reach + 1, 2 * reach + 1, a.shape[-1]))
            y = conv(window)[:, reach, reach]  # masked: later positions in the window have zero weight
            x = residual_add(x, conv_out(ops.relu(y)[:, None, None])[:, 0, 0], self.residual)
            outputs.append(x)
            inputs.append(a)
        return self.pixel_logits(outputs), inputs

    def commit_pixel(self, pixel, activations, inputs):
        w, reach = self.image_shape[1], self.hparams.kernel_size // 2
        return [ops.slice_update(cached, (0, pixel // w + reach, pixel % w + reach, 0), a)
                for cached, a in zip(activations, inputs)]
