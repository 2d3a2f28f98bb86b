"""Input representations of images: per-channel intensity embeddings and 2D coordinate encodings."""
import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable("imgtf")
class ChannelEmbedding(keras.layers.Layer):
    """Embeds uint8 images [B, H, W, C] as [B, H, W*C, d]: one table of 256 vectors per channel (paper 3.1)."""

    def __init__(self, hidden_size, channels=3, **kwargs):
        super().__init__(**kwargs)
        self.hidden_size, self.channels = hidden_size, channels

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            name="embeddings", shape=(256 * self.channels, self.hidden_size),
            initializer=keras.initializers.RandomNormal(stddev=self.hidden_size ** -0.5))

    def call(self, images):
        shape = ops.shape(images)
        ids = ops.cast(images, "int32") + ops.arange(self.channels, dtype="int32") * 256
        x = ops.take(self.embeddings, ids, axis=0)  # [B, H, W, C, d]
        return ops.reshape(x, (shape[0], shape[1], shape[2] * self.channels, self.hidden_size))

    def get_config(self):
        return {**super().get_config(), "hidden_size": self.hidden_size, "channels": self.channels}


def sinusoid(length, channels, max_timescale=1.0e4):
    """[length, channels] sine/cosine timing signal of Vaswani et al. (numpy, built once)."""
    half = channels // 2
    log_increment = np.log(max_timescale) / max(half - 1, 1)
    inv = np.exp(-log_increment * np.arange(half, dtype=np.float64))
    angles = np.arange(length, dtype=np.float64)[:, None] * inv[None, :]
    signal = np.concatenate([np.sin(angles), np.cos(angles)], axis=1)
    return np.pad(signal, [[0, 0], [0, channels - 2 * half]]).astype(np.float32)


@keras.saving.register_keras_serializable("imgtf")
class CoordinateEncoding(keras.layers.Layer):
    """Adds a d-dim encoding of each position of a [B, rows, cols, d] grid: d/2 for the row, d/2 for the
    column (for sub-pixel grids the column index covers column and channel). Sinusoidal or learned (paper 3.1)."""

    def __init__(self, kind="sinusoidal", **kwargs):
        super().__init__(**kwargs)
        if kind not in ("sinusoidal", "learned"):
            raise ValueError(f"position_encoding must be 'sinusoidal' or 'learned', not {kind!r}.")
        self.kind = kind

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
        return ops.concatenate([rows, cols], axis=-1)

    def call(self, x):
        return x + ops.cast(self.encoding(), x.dtype)[None]

    def get_config(self):
        return {**super().get_config(), "kind": self.kind}


@keras.saving.register_keras_serializable("imgtf")
class OrdinalPixelEmbedding(keras.layers.Layer):
    """Ordinal input of DMOL models: intensities scaled to [-1, 1], then a 1x3 window, stride-3 convolution
    over each pixel's channels (paper 3.1), i.e. one [3, d] matrix: [B, H, W, 3] -> [B, H, W, d]."""

    def __init__(self, hidden_size, **kwargs):
        super().__init__(**kwargs)
        self.hidden_size = hidden_size
        self.projection = keras.layers.Dense(hidden_size, name="conv_1x3")

    def build(self, input_shape):
        self.projection.build((None, input_shape[-1]))

    def call(self, images):
        return self.projection(ops.cast(images, self.compute_dtype) / 127.5 - 1.0)

    def get_config(self):
        return {**super().get_config(), "hidden_size": self.hidden_size}
