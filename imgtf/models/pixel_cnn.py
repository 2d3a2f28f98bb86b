"""PixelCNN (van den Oord et al., ICML 2016, section 3.4): a 7x7 mask-A convolution, then residual blocks
each around one 3x3 mask-B convolution, then ReLU + 1x1 mask-B output layers and a 256-way softmax per
channel. Masks carry the R, G, B channel order inside each pixel (imgtf.layers.masked_conv).

Residual block (paper Figure 5): 2h -> ReLU -> 1x1 conv h -> ReLU -> 3x3 conv h -> ReLU -> 1x1 conv 2h, + input.
Generation order: raster over pixels, R, G, B inside a pixel (the sub-pixel grid [H, W*3], as the
Image Transformer's 1D order), so the same samplers, trainer and exporter serve it.
"""
import keras
from keras import ops

from imgtf.layers.masked_conv import MaskedConv2D
from imgtf.models.base import MaskedConvImageModel
from imgtf.registry import register_model


@register_model("pixelcnn")
@keras.saving.register_keras_serializable("imgtf")
class PixelCNN(MaskedConvImageModel):
    """PixelCNN: masked 7x7 (A) + residual masked 3x3 (B) convolutions, 256-way softmax per channel."""

    def build_body(self, hidden):
        layers, kernel = self.hparams["num_layers"], self.hparams["kernel_size"]
        # flat lists (nested lists of layers are not tracked for SavedModel export)
        self.blocks_in = [MaskedConv2D(hidden, 1, "B", name=f"block_{i}_in") for i in range(layers)]
        self.blocks_conv = [MaskedConv2D(hidden, kernel, "B", name=f"block_{i}_conv") for i in range(layers)]
        self.blocks_out = [MaskedConv2D(2 * hidden, 1, "B", name=f"block_{i}_out") for i in range(layers)]

    def body(self, x):
        for conv_in, conv, conv_out in zip(self.blocks_in, self.blocks_conv, self.blocks_out):
            x = x + conv_out(ops.relu(conv(ops.relu(conv_in(ops.relu(x))))))
        return x

    # -- sampling ---------------------------------------------------------------------------------------
    def empty_cache(self, features, batch):
        """The partial image: PixelCNN has no activation cache yet and re-runs its stack each step."""
        return {"canvas": ops.zeros((batch, self.geometry.length), "int32")}

    def step(self, cache, previous, t, features):
        """Write the unit generated at step t-1, re-run the convolution stack, return unit t's logits."""
        order = self.geometry.order.astype("int32")
        canvas = ops.slice_update(cache["canvas"], (0, ops.take(order, ops.maximum(t - 1, 0))),
                                  ops.cast(previous, "int32")[:, None])
        logits = self({"targets": ops.reshape(canvas, (-1, *self.image_shape))})
        return self.unit_params(logits, t), {"canvas": canvas}
