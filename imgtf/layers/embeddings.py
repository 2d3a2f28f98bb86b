"""Input representations of images: per-channel intensity embeddings and 2D coordinate encodings.

Scale of the inputs. Every layer here takes a `scale` (default 1.0). The Image Transformer passes sqrt(d) (Vaswani
et al.; Tensor2Tensor's "sqrt_depth" channel embeddings): tables initialised with std d**-0.5 and multiplied by sqrt(d) give unit-variance vectors, of
the size of the sinusoidal coordinates (amplitude 1). Unscaled, the content (|x| ~ 1) is swamped by the coordinates
(|p| ~ sqrt(d/2)) and the first attention layer sees mostly positions: training stalls near uniform. The multiplier
also raises the effective learning rate of the sparsely updated tables by sqrt(d).
"""
import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable("imgtf")
class ChannelEmbedding(keras.layers.Layer):
    """Embeds uint8 images [B, H, W, C] as [B, H, W*C, d]: one table of `levels` vectors per channel (paper 3.1;
    256 for 8-bit images, 2 for binary ones), multiplied by `scale` (see the module docstring)."""

    def __init__(self, hidden_size, channels=3, scale=1.0, levels=256, **kwargs):
        super().__init__(**kwargs)
        self.hidden_size, self.channels, self.scale, self.levels = hidden_size, channels, float(scale), int(levels)

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            name="embeddings", shape=(self.levels * self.channels, self.hidden_size),
            initializer=keras.initializers.RandomNormal(stddev=self.hidden_size ** -0.5))

    def lookup(self, ids):
        """Rows `ids` (value + levels * channel) of the table, scaled: what both the full model and the one-step
        sampler read, so the two cannot disagree."""
        x = ops.take(self.embeddings, ids, axis=0)
        return x * ops.cast(self.scale, x.dtype) if self.scale != 1.0 else x

    def call(self, images):
        shape = ops.shape(images)
        ids = ops.cast(images, "int32") + ops.arange(self.channels, dtype="int32") * self.levels
        x = self.lookup(ids)  # [B, H, W, C, d]
        return ops.reshape(x, (shape[0], shape[1], shape[2] * self.channels, self.hidden_size))

    def get_config(self):
        return {**super().get_config(), "hidden_size": self.hidden_size, "channels": self.channels,
                "scale": self.scale, "levels": self.levels}


def sinusoid(length, channels, max_timescale=1.0e4):
    """[length, channels] sine/cosine timing signal of Vaswani et al. (numpy, built once)."""
    return sinusoid_at(np.arange(length, dtype=np.float64), channels, max_timescale)


def sinusoid_at(positions, channels, max_timescale=1.0e4):
    """[len(positions), channels] timing signal at any (also fractional) positions (numpy)."""
    half = channels // 2
    log_increment = np.log(max_timescale) / max(half - 1, 1)
    inv = np.exp(-log_increment * np.arange(half, dtype=np.float64))
    angles = np.asarray(positions, np.float64)[:, None] * inv[None, :]
    signal = np.concatenate([np.sin(angles), np.cos(angles)], axis=1)
    return np.pad(signal, [[0, 0], [0, channels - 2 * half]]).astype(np.float32)


@keras.saving.register_keras_serializable("imgtf")
class CoordinateEncoding(keras.layers.Layer):
    """Adds a d-dim encoding of each position of a [B, rows, cols, d] grid: d/2 for the row, d/2 for the
    column (for sub-pixel grids the column index covers column and channel). Sinusoidal or learned (paper 3.1).
    Learned tables (std d**-0.5) are multiplied by `scale`, as Tensor2Tensor's learned positional embeddings are
    by sqrt(d), so that they match the sinusoids' amplitude; the sinusoids themselves are never scaled."""

    def __init__(self, kind="sinusoidal", scale=1.0, **kwargs):
        super().__init__(**kwargs)
        if kind not in ("sinusoidal", "learned"):
            raise ValueError(f"position_encoding must be 'sinusoidal' or 'learned', not {kind!r}.")
        self.kind, self.scale = kind, float(scale)

    def build(self, input_shape):
        _, rows, cols, d = input_shape
        self.rows, self.cols, self.d = rows, cols, d
        if self.kind == "learned":
            init = keras.initializers.RandomNormal(stddev=d ** -0.5)
            self.row_embedding = self.add_weight(name="rows", shape=(rows, d // 2), initializer=init)
            self.col_embedding = self.add_weight(name="cols", shape=(cols, d - d // 2), initializer=init)
        else:  # kept as numpy and converted in call (a tf constant held on a layer breaks graph reuse)
            self._row_np, self._col_np = sinusoid(rows, d // 2), sinusoid(cols, d - d // 2)

    def encoding(self):
        """[rows, cols, d] encoding."""
        rows = self.row_embedding if self.kind == "learned" else ops.convert_to_tensor(self._row_np)
        cols = self.col_embedding if self.kind == "learned" else ops.convert_to_tensor(self._col_np)
        rows = ops.broadcast_to(rows[:, None, :], (self.rows, self.cols, self.d // 2))
        cols = ops.broadcast_to(cols[None, :, :], (self.rows, self.cols, self.d - self.d // 2))
        encoding = ops.concatenate([rows, cols], axis=-1)
        if self.kind == "learned" and self.scale != 1.0:
            encoding = encoding * self.scale
        return encoding

    def encoding_at(self, rows, cols):
        """[len(rows), len(cols), d]: the encoding at fractional grid positions (numpy arrays of row and column
        coordinates of this grid): sinusoids evaluated there, or learned rows/columns linearly interpolated.
        Super-resolution encoders use it to place each low-resolution unit where it lies in the target grid."""
        rows, cols = np.asarray(rows, np.float64), np.asarray(cols, np.float64)
        half = self.d // 2
        if self.kind == "sinusoidal":
            row_part = ops.convert_to_tensor(sinusoid_at(rows, half))
            col_part = ops.convert_to_tensor(sinusoid_at(cols, self.d - half))
        else:
            row_part = _interpolate(self.row_embedding, rows, self.rows) * self.scale
            col_part = _interpolate(self.col_embedding, cols, self.cols) * self.scale
        row_part = ops.broadcast_to(row_part[:, None, :], (len(rows), len(cols), half))
        col_part = ops.broadcast_to(col_part[None, :, :], (len(rows), len(cols), self.d - half))
        return ops.concatenate([row_part, col_part], axis=-1)

    def call(self, x):
        return x + ops.cast(self.encoding(), x.dtype)[None]

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "scale": self.scale}


def _interpolate(table, positions, size):
    """Rows of `table` [size, k] at fractional `positions` (numpy), linearly interpolated, clipped to the table."""
    positions = np.clip(positions, 0, size - 1)
    low = np.floor(positions).astype("int32")
    high = np.minimum(low + 1, size - 1).astype("int32")
    frac = (positions - low).astype("float32")[:, None]
    return ops.take(table, low, axis=0) * (1.0 - frac) + ops.take(table, high, axis=0) * frac


@keras.saving.register_keras_serializable("imgtf")
class OrdinalPixelEmbedding(keras.layers.Layer):
    """Ordinal input of DMOL models: intensities scaled to [-1, 1], then a 1x3 window, stride-3 convolution
    over each pixel's channels (paper 3.1), i.e. one [3, d] matrix: [B, H, W, 3] -> [B, H, W, d], multiplied by
    `scale`. With a Glorot kernel the unscaled output has std ~ 1.3 / sqrt(d) per element: sqrt(d) brings it to
    the coordinates' size (about 1.3 at any width)."""

    def __init__(self, hidden_size, scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.hidden_size, self.scale = hidden_size, float(scale)
        self.projection = keras.layers.Dense(hidden_size, name="conv_1x3")

    def build(self, input_shape):
        self.projection.build((None, input_shape[-1]))

    def call(self, images):
        x = self.projection(ops.cast(images, self.compute_dtype) / 127.5 - 1.0)
        return x * ops.cast(self.scale, x.dtype) if self.scale != 1.0 else x

    def get_config(self):
        return {**super().get_config(), "hidden_size": self.hidden_size, "scale": self.scale}
