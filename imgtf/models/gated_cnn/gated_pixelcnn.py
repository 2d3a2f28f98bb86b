"""Gated PixelCNN (van den Oord et al., NeurIPS 2016, "Conditional Image Generation with PixelCNN Decoders").

Two stacks remove PixelCNN's blind spot. The vertical stack convolves the rows above with a [k//2+1, k] kernel
(rows up to and including its own), and reaches the horizontal stack only shifted down one row, so it brings
every pixel of the rows above. The horizontal stack convolves the current row up to its own pixel ([1, k//2+1]
kernel, colour-masked at the pixel itself: mask A in the first layer, B after, as PixelCNN's masks), adds a 1x1
projection of the shifted vertical pre-activations, and is residual from the second layer on. Both stacks gate:
tanh(f) * sigmoid(g), with a class-dependent bias added to f and g of every layer in both stacks when
class-conditional (paper eq. 4, h one-hot). Output: the sum of 1x1 projections of every horizontal layer's output
(hparam skip_connections; else the last one), then ReLU, 1x1 (output_size), ReLU, 1x1 to num_levels logits per
sub-pixel, all colour-masked (mask B): a 256-way softmax per channel in R, G, B order, as PixelCNN's. hparam
weight_norm: every convolution and 1x1 (not the class biases) weight-normalised and initialised from data
(imgtf.layers.weight_norm), as PixelCNN++ trains; the paper does not say.
"""
import keras
from keras import ops

from imgtf.layers.masked_conv import MaskedConv2D
from imgtf.layers.nin import NiN
from imgtf.layers.shifted_conv import DownShift, ShiftedConv2D
from imgtf.models.gated_cnn.base import RowCachedImageModel
from imgtf.registry import register_model


def gate(x):
    f, g = ops.split(x, 2, axis=-1)
    return ops.tanh(f) * ops.sigmoid(g)


@register_model("gated_pixelcnn")
@keras.saving.register_keras_serializable("imgtf")
class GatedPixelCNN(RowCachedImageModel):
    """Gated PixelCNN: vertical + horizontal gated stacks, 256-way softmax per sub-pixel."""

    def __init__(self, hparams, problem_info, **kwargs):
        super().__init__(hparams, problem_info, **kwargs)
        hp = self.hparams
        c = self.image_shape[-1]
        self.likelihood = self.build_likelihood(allowed_units=("subpixel",))  # channel-masked: see MaskedConv2D
        self.init_geometry()
        num_classes = self.init_conditioning()
        p, layers, wn = hp.hidden_size, hp.num_layers, dict(weight_norm=hp.weight_norm)
        sizes = [hp.first_kernel_size] + [hp.kernel_size] * (layers - 1)
        self.vertical = [ShiftedConv2D(2 * p, (k // 2 + 1, k), "down", name=f"vertical_{i}", **wn)
                         for i, k in enumerate(sizes)]
        self.horizontal = [ShiftedConv2D(2 * p, (1, k // 2 + 1), "down_right", mask="A" if i == 0 else "B", groups=c,
                                         out_group_repeat=2, name=f"horizontal_{i}", **wn) for i, k in enumerate(sizes)]
        self.shift = DownShift(name="down_shift")
        self.links = [NiN(2 * p, name=f"vertical_to_horizontal_{i}", **wn) for i in range(layers)]
        self.horizontal_out = [MaskedConv2D(p, 1, "B", groups=c, name=f"horizontal_out_{i}", **wn)
                               for i in range(layers)]
        self.class_biases = [keras.layers.Dense(4 * p, use_bias=False, kernel_initializer="zeros",
                                                name=f"class_bias_{i}") for i in range(layers if num_classes else 0)]
        self.skips = [MaskedConv2D(p, 1, "B", groups=c, name=f"skip_{i}", **wn)
                      for i in range(layers if hp.skip_connections else 0)]
        self.output_hidden = MaskedConv2D(hp.output_size, 1, "B", groups=c, name="output_1x1", **wn)
        self.output_logits = MaskedConv2D(c * self.likelihood.params_per_unit, 1, "B", groups=c, name="logits_1x1",
                                          **wn)

    def network(self, run, images, label, training=False):
        v = h = images
        outputs = []
        for i in range(len(self.vertical)):
            v_pre = run(self.vertical[i], v)
            h_pre = run(self.horizontal[i], h) + self.links[i](run(self.shift, v_pre))
            if self.class_biases:
                bias_v, bias_h = ops.split(ops.cast(self.class_biases[i](label), v_pre.dtype)[:, None, None], 2, -1)
                v_pre, h_pre = v_pre + bias_v, h_pre + bias_h
            v = gate(v_pre)
            out = self.horizontal_out[i](gate(h_pre))
            h = out if i == 0 else h + out
            outputs.append(h)
        top = ops.sum(ops.stack([skip(o) for skip, o in zip(self.skips, outputs)]), axis=0) if self.skips else h
        return self.output_logits(ops.relu(self.output_hidden(ops.relu(top))))
