"""A split whose raw examples can be read by index: in-memory columns (arrays, file names) or memory-mapped arrays.

Random access is what lets training start at any step without reading the examples before it (see
imgtf.data.order): a problem whose split is such a table resumes in O(1), and imgtf-datagen turns any problem's
split into one (imgtf.data.prepared).
"""
import numpy as np

READ_BLOCK = 256  # examples gathered per read when a split is read in order


class IndexedExamples:
    """`size` raw examples, each a dict of fixed-shape features; `gather(indices)` reads any of them at once.

    Build one with `from_columns` (equal-length in-memory arrays or lists, e.g. CIFAR-10's pixels or an image
    folder's file names; they become graph constants as with from_tensor_slices) or `from_arrays` (numpy arrays,
    typically memory-mapped files too large to hold: read row by row through numpy)."""

    def __init__(self, size, gather, element_spec):
        self.size, self._gather, self.element_spec = int(size), gather, element_spec

    @classmethod
    def from_columns(cls, columns):
        import tensorflow as tf

        tensors = {k: tf.constant(v) for k, v in columns.items()}
        sizes = {k: int(t.shape[0]) for k, t in tensors.items()}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"columns of different lengths: {sizes}")
        spec = {k: tf.TensorSpec(t.shape[1:], t.dtype) for k, t in tensors.items()}

        def gather(indices):
            return {k: tf.gather(t, indices) for k, t in tensors.items()}

        return cls(next(iter(sizes.values())), gather, spec)

    @classmethod
    def from_arrays(cls, arrays):
        """numpy arrays of equal length (np.memmap: rows are read from disk only when gathered)."""
        import tensorflow as tf

        names = list(arrays)
        sizes = {k: len(a) for k, a in arrays.items()}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"arrays of different lengths: {sizes}")
        spec = {k: tf.TensorSpec(arrays[k].shape[1:], tf.as_dtype(arrays[k].dtype)) for k in names}

        def read(indices):
            return [np.asarray(arrays[k][indices]) for k in names]

        def gather(indices):
            rows = tf.numpy_function(read, [indices], [spec[k].dtype for k in names], stateful=False)
            return {k: tf.ensure_shape(r, [None, *spec[k].shape]) for k, r in zip(names, rows)}

        return cls(sizes[names[0]], gather, spec)

    def gather(self, indices):
        """int64 [n] indices -> dict of batched features [n, ...]."""
        return self._gather(indices)

    def dataset(self):
        """Every example, in order, unbatched (what `Problem.examples` yields for an indexed split)."""
        import tensorflow as tf

        return (tf.data.Dataset.range(self.size).batch(READ_BLOCK).map(self.gather, num_parallel_calls=tf.data.AUTOTUNE,
                                                                       deterministic=True).unbatch())
