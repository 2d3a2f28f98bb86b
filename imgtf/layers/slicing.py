"""Parts of tensors cut with `ops.slice`, whose gradient TensorFlow computes as a pad. Indexing (`x[:, :-1]`) is a
strided slice, whose gradient (StridedSliceGrad) measured 16-24% of a training step's op time on this CPU in the
Image Transformer's 1D-local attention, PixelCNN++'s shifts (and DMOL's split, imgtf.likelihoods.dmol) and the
Diagonal BiLSTM's skew (docs/research/2026-12-06-where-the-step-time-goes.md). Same values either way."""
from keras import ops


def part(x, start, shape):
    """The block of `x` of `shape` whose first element is at index `start` (one entry per axis)."""
    return ops.slice(x, tuple(start), tuple(shape))


def leading_part(x, shape):
    """The block of `x` of `shape` at its origin: x[:shape[0], :shape[1], ...]."""
    return part(x, (0,) * len(shape), shape)
