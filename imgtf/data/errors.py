"""Errors raised inside a tf.data pipeline, turned back into the user's errors (imgtf.errors) they were."""
from imgtf.errors import CorruptDataError, DataNotFoundError, INPUT_MARKER, INPUT_MARKER_END, InputError

_MARKERS = ("CorruptDataError: ", "DataNotFoundError: ")


class reraise_from_pipeline:
    """Context manager: a DataError raised inside tf.data (e.g. by a decoder naming a corrupt file) surfaces
    as a TensorFlow OpError wrapping a traceback; turn it back into the DataError with its message. A failed assertion
    of the models' input contract (imgtf.models.inputs) becomes its InputError likewise."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None or not type(exc).__module__.startswith("tensorflow"):
            return False
        message = getattr(exc, "message", str(exc))
        if INPUT_MARKER in message and INPUT_MARKER_END in message:
            raise InputError(message.split(INPUT_MARKER, 1)[1].split(INPUT_MARKER_END, 1)[0]) from None
        for marker in _MARKERS:
            if marker in message:
                text = message.split(marker, 1)[1].splitlines()[0].strip()
                cls = CorruptDataError if marker.startswith("Corrupt") else DataNotFoundError
                raise cls(text) from None
        return False
