"""A restricted unpickler for dataset pickles (CIFAR): it builds numpy arrays and plain values, nothing else.

`pickle.load` on a file from the internet can run arbitrary code (a pickle may name any callable).
This unpickler resolves only the few globals a numpy array pickle needs; anything else is refused before
it is imported or called. Object arrays are refused too, since their items could be anything.
"""
import codecs
import io
import pickle

import numpy as np

try:  # numpy >= 2 keeps it in numpy._core; pickles written by numpy 1 name numpy.core
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct


class UnsafePickleError(pickle.UnpicklingError):
    pass


def _safe_dtype(*args, **kwargs):
    dtype = np.dtype(*args, **kwargs)
    if dtype.hasobject:
        raise UnsafePickleError("refusing to build an object-dtype numpy array from a pickle")
    return dtype


def _safe_reconstruct(cls, shape, dtype_code):
    if cls is not np.ndarray:
        raise UnsafePickleError(f"refusing to reconstruct {cls!r}: only numpy.ndarray is allowed")
    return _reconstruct(cls, shape, dtype_code)


def _latin1_encode(text, encoding="latin1"):
    # Python 3 writes bytes as _codecs.encode(str, 'latin1') in protocol-2 pickles: harmless, allowed.
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafePickleError("refusing _codecs.encode with unexpected arguments")
    return codecs.encode(text, encoding)


_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _safe_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _safe_reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _safe_dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refusing to load global {module}.{name}: this file is not a plain data pickle "
                "(only numpy arrays, lists, dicts, bytes, strings and numbers are allowed)"
            ) from None


def restricted_loads(data, encoding="bytes"):
    """Unpickle `data` allowing only numpy arrays and plain Python values."""
    return RestrictedUnpickler(io.BytesIO(data), encoding=encoding).load()
