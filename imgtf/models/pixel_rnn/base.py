"""What the PixelRNN paper's models share: the masked-convolution stem and output head (MaskedConvImageModel), and
the pixel-by-pixel sampling of the two LSTMs (RecurrentImageModel)."""
from keras import ops

from imgtf.layers import geometry as geometry_lib
from imgtf.layers.masked_conv import MaskedConv2D
from imgtf.models.base import AutoregressiveImageModel


class MaskedConvImageModel(AutoregressiveImageModel):
    """Shared stem and head of the PixelRNN paper's models: a 7x7 mask-A convolution to 2h features, and
    ReLU + 1x1 mask-B output layers ending in the likelihood's parameters per channel (categorical: 256 logits
    for 8-bit images, 2 for binary ones, as the paper's binarized MNIST); sub-pixels in raster order. Inputs are intensities scaled to [-1, 1].
    Subclasses build their layers in `build_body(hidden)` and apply them in `body(x)`, which returns every
    layer's output so that `top` can add the paper's layer-to-output skip connections.

    hparams `residual_connections` (each layer adds its input to its output) and `skip_connections` (the
    output layers read the sum of a learned 1x1 mask-B projection of every layer's output, not only the last
    one's). The paper: "Residual and layer-to-output connections are used across the layers of all three
    networks", except its 4-layer ImageNet 64 Row LSTM, which has no residual connections. `learn_initial_state`:
    the LSTMs start from learned (h, c) vectors, not zeros.

    The likelihood (hparam `likelihood`) is one per sub-pixel: the channel masks give a sub-pixel's outputs its
    pixel's earlier channels, so no output sees none of a pixel's channels, as a whole-pixel likelihood needs."""

    def __init__(self, hparams, problem_info, **kwargs):
        super().__init__(hparams, problem_info, **kwargs)
        hp = self.hparams
        h, w, c = self.image_shape
        self.likelihood = self.build_likelihood(allowed_units=("subpixel",))
        self.geometry = geometry_lib.raster_order(h * w * c)  # raster order of sub-pixels ([H, W*3] grid)
        self.first = MaskedConv2D(2 * hp.hidden_size, hp.first_kernel_size, "A", groups=c, name="conv_7x7_mask_a")
        self.residual = bool(hp.residual_connections)
        self.learn_initial_state = bool(hp.learn_initial_state)  # recurrent layers only
        self.build_body(hp.hidden_size)
        self.skips = [MaskedConv2D(2 * hp.hidden_size, 1, "B", groups=c, name=f"skip_{i}")
                      for i in range(hp.num_layers if hp.skip_connections else 0)]
        self.output_hidden = MaskedConv2D(hp.output_size, 1, "B", groups=c, name="output_1x1")
        # the likelihood's parameters per channel (R, G, B), grouped by channel
        self.output_logits = MaskedConv2D(c * self.likelihood.params_per_unit, 1, "B", groups=c, name="logits_1x1")

    def build_body(self, hidden):
        raise NotImplementedError

    def body(self, x, conditioning=None, training=False):
        """Every layer's output [B, H, W, 2h], first to last (each layer through `self.checkpointed`)."""
        raise NotImplementedError

    def top(self, outputs):
        """The map the output layers read, from every layer's output (4-D maps of any height and width)."""
        if not self.skips:
            return outputs[-1]
        projected = [skip(output) for skip, output in zip(self.skips, outputs)]
        return ops.sum(ops.stack(projected), axis=0)

    def scaled(self, images):
        """uint8 images (0 .. num_levels-1) -> [-1, 1] inputs of the first convolution."""
        half = (self.num_levels - 1) / 2.0
        return ops.cast(ops.reshape(images, (-1, *self.image_shape)), self.compute_dtype) / half - 1.0

    def head(self, x):
        return self.output_logits(ops.relu(self.output_hidden(ops.relu(x))))

    def call(self, features, training=False):
        """features["targets"] uint8 [B, H, W, 3] (and optionally "conditioning", a map biasing every layer)
        -> logits [B, H, W, C, num_levels] (float32)."""
        if not isinstance(features, dict):
            return self.logits(features, training=training)
        return self.logits(features["targets"], features.get("conditioning"), training=training)

    def logits(self, images, conditioning=None, training=False):
        """Logits [B, H, W, C, num_levels]; `conditioning` is a feature map biasing every layer (multi-scale).
        `training` matters only for hparam recompute (the body's layers run through `checkpointed`)."""
        x = self.first(self.scaled(images))
        if conditioning is None:
            outputs = self.body(x, training=training)
        else:
            outputs = self.body(x, conditioning, training=training)
        return ops.reshape(ops.cast(self.head(self.top(outputs)), "float32"), (-1, *self.image_shape, self.likelihood.params_per_unit))

    # -- pixel-by-pixel sampling: every layer at one pixel, from what earlier pixels left in `states` ----
    # Subclasses give `initial_states(batch)`, `pixel_forward(canvas, pixel, states)` -> (logits [B, C, L],
    # values) and `commit_pixel(pixel, states, values)`. No feature of a pixel depends on its own last (B)
    # sub-pixel (mask A, then mask B), so the values computed at its B step are final and are stored then.
    def empty_cache(self, features, batch):
        return {"canvas": ops.zeros((batch, self.num_units), "int32"), "states": self.initial_states(batch)}

    def step(self, cache, previous, t, features):
        """Unit t's logits (raster order: pixel t // C, channel t % C) from one pixel's computation per layer."""
        c = self.image_shape[-1]
        canvas = ops.slice_update(cache["canvas"], (0, ops.maximum(t - 1, 0)), ops.cast(previous, "int32")[:, None])
        pixel = t // c
        logits, values = self.pixel_forward(canvas, pixel, cache["states"])
        states = ops.cond(t % c == c - 1, lambda: self.commit_pixel(pixel, cache["states"], values),
                          lambda: cache["states"])
        return ops.take(logits, t % c, axis=1), {"canvas": canvas, "states": states}

    def pixel_logits(self, outputs):
        """Logits [B, C, num_levels] of one pixel from every layer's output there ([B, 2h] each)."""
        logits = self.head(self.top([output[:, None, None] for output in outputs]))[:, 0, 0]
        return ops.reshape(ops.cast(logits, "float32"), (-1, self.image_shape[-1], self.likelihood.params_per_unit))

    def first_at_pixel(self, canvas, row, col):
        """The mask-A layer's output at one pixel [B, 2h]: the kernel's visible window only."""
        h, w, c = self.image_shape
        reach = self.hparams.first_kernel_size // 2
        scaled = ops.pad(self.scaled(canvas), [[0, 0], [reach, 0], [reach, reach], [0, 0]])
        window = ops.slice(scaled, (0, row, col, 0), (ops.shape(canvas)[0], reach + 1, 2 * reach + 1, c))
        return self.first(window)[:, reach, reach]


class RecurrentImageModel(MaskedConvImageModel):
    """Shared sampling of the two LSTMs: each layer (`self.lstm_layers`) keeps row buffers
    (`sampling_state(batch, width, dtype)`), computes one pixel from them (`pixel(x, state, col[, bias])` ->
    (output, h, c)), stores a finished pixel (`commit(state, col, x, h, c)`) and closes a finished row
    (`end_row(state, row)`). `bias_layers` (conditional Row LSTM) map a conditioning map to each layer's gates."""

    bias_layers = ()

    def initial_states(self, batch):
        w = self.image_shape[1]
        return [layer.sampling_state(batch, w, self.compute_dtype) for layer in self.lstm_layers]

    def pixel_forward(self, canvas, pixel, states, conditioning=None):
        """Logits [B, C, num_levels] of one pixel and every layer's (input, h, c) there; `conditioning`: the full
        conditioning map [B, H, W, c] (its value at the pixel biases every layer), if the model has one."""
        w = self.image_shape[1]
        row, col = pixel // w, pixel % w
        x = self.first_at_pixel(canvas, row, col)
        here = None if conditioning is None else ops.take(ops.take(conditioning, row, axis=1), col, axis=1)
        values, outputs = [], []
        for i, (layer, state) in enumerate(zip(self.lstm_layers, states)):
            bias = () if here is None else (self.bias_layers[i](here),)
            out, h, c = layer.pixel(x, state, col, *bias)
            values.append((x, h, c))
            outputs.append(out)
            x = out
        return self.pixel_logits(outputs), values

    def commit_pixel(self, pixel, states, values):
        """Store a finished pixel's values in every layer; when it ends a row, close the row."""
        w = self.image_shape[1]
        row, col = pixel // w, pixel % w
        states = [layer.commit(state, col, *value) for layer, state, value in zip(self.lstm_layers, states, values)]
        return ops.cond(col == w - 1,
                        lambda: [layer.end_row(state, row) for layer, state in zip(self.lstm_layers, states)],
                        lambda: states)
