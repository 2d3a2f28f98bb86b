"""The input contract of every imgtf model, checked where features enter it.

Features are a dict: "targets" integers in [0, num_levels) of shape [batch, H, W, C] (the problem's image shape),
and, when the model reads them, "label" integers in [0, num_classes) of shape [batch] and "inputs" integers in
[0, num_levels) of shape [batch, h, w, C]. Other keys are ignored (a dataset of a labelled problem feeds unconditional
models too). A violation raises InputError, naming what was given and what is expected: a model fed 300 or a
normalised 0.5 would otherwise return a finite, meaningless likelihood.

Where the values are known (numpy arrays, eager tensors) they are checked here, in Python. Inside a compiled step only
dtypes and shapes are known: the values of a tf.data pipeline are asserted in the pipeline (`checked_dataset`), not in
the step, so the compiled step (XLA included, which drops assertions) is unchanged; the assertion's message carries
imgtf.errors.INPUT_MARKER, which `imgtf.data.errors.reraise_from_pipeline` turns back into an InputError.
"""
import numpy as np

from imgtf.errors import INPUT_MARKER, INPUT_MARKER_END, InputError


def _shape_text(shape):
    return f"[batch, {', '.join(str(int(d)) for d in shape)}]" if shape else "[batch]"


class InputContract:
    """What a model accepts: per feature key, its shape after the batch dimension and its number of values."""

    def __init__(self, problem_info, conditioning_keys):
        info = problem_info
        self.image_shape = tuple(int(d) for d in info["image_shape"])
        self.num_levels = int(info.get("num_levels", 256))
        self.keys = ("targets", *conditioning_keys)
        self.specs = {"targets": (self.image_shape, self.num_levels)}
        if "label" in conditioning_keys:
            self.specs["label"] = ((), int(info["num_classes"]))
        if "inputs" in conditioning_keys:
            self.specs["inputs"] = (tuple(int(d) for d in info["input_shape"]), self.num_levels)

    @classmethod
    def of(cls, model):
        return cls(model.problem_info, model.conditioning_keys)

    def expected(self, key):
        """"targets must be integers in [0, 256) of shape [batch, 32, 32, 3]"."""
        shape, count = self.specs[key]
        what = "class ids" if key == "label" else "integers"
        return f"{key} must be {what} in [0, {count}) of shape {_shape_text(shape)}"

    # -- structure: what is known inside a compiled step too ----------------------------------------------------
    def check_structure(self, features, where="the model"):
        """Type, keys, dtype and (known) shape of every feature the model reads; returns nothing, raises InputError."""
        if not isinstance(features, dict):
            kind = type(features).__name__
            raise InputError(f"{where} takes a dict of features, e.g. {{'targets': images}} (as problem.dataset "
                             f"yields); got a {kind}. {self.expected('targets')}.")
        missing = [k for k in self.keys if k not in features]
        if missing:
            hint = {"targets": "the images to score or train on",
                    "label": "this model is class-conditional", "inputs": "this model is conditioned on a "
                    "low-resolution image"}
            raise InputError(f"{where}: features have no {missing[0]!r} ({hint[missing[0]]}); "
                             f"{self.expected(missing[0])}. Got keys {sorted(map(str, features))}.")
        batch = None
        for key in self.keys:
            shape = self.check_feature(key, features[key])
            if shape is not None and shape[0] is not None:
                if batch is not None and shape[0] != batch[1]:
                    raise InputError(f"{where}: {key} has {shape[0]} entries but {batch[0]} has {batch[1]}: every "
                                     "feature needs one entry per image.")
                batch = batch or (key, shape[0])

    def check_feature(self, key, value):
        """The dtype and (known) shape of one feature; returns its shape (None where unknown)."""
        dtype, shape = _dtype(value), _shape(value)
        if dtype is not None and not _is_integer(dtype):
            raise InputError(f"{self.expected(key)}; got {dtype}{_range_text(value)}{_float_hint(key, value)}")
        wanted = self.specs[key][0]
        if shape is not None and (len(shape) != len(wanted) + 1 or any(
                s is not None and s != w for s, w in zip(shape[1:], wanted))):
            raise InputError(f"{self.expected(key)}; got shape {_dims_text(shape)}.")
        return shape

    # -- values: where they are known ----------------------------------------------------------------------------
    def check(self, features, where="the model"):
        """check_structure, then the values of every feature that is a concrete array (numpy, an eager tensor)."""
        self.check_structure(features, where)
        for key in self.keys:
            values = concrete(features[key])
            if values is not None and values.size:
                self.check_values(key, values)

    def check_values(self, key, values):
        count = self.specs[key][1]
        low, high = values.min(), values.max()
        if low < 0 or high >= count:
            hint = ""
            if key != "label" and count < 256 and high == 255:
                hint = ": binary images are 0/1, not 0/255" if count == 2 else f": values are levels 0..{count - 1}"
            elif key == "label":
                hint = f": the problem has {count} classes, 0..{count - 1}"
            raise InputError(f"{self.expected(key)}; got {values.dtype} in [{low}, {high}]{hint}.")

    # -- values inside tf.data ------------------------------------------------------------------------------------
    def assertions(self, features):
        """TensorFlow assertions of the values of `features` (tensors in a graph), messages between INPUT_MARKER and INPUT_MARKER_END."""
        import tensorflow as tf

        checks = []
        for key in self.keys:
            value = features[key]
            count = self.specs[key][1]
            if value.dtype == tf.uint8 and count >= 256:
                continue  # every uint8 is a level
            low, high = tf.reduce_min(value), tf.reduce_max(value)
            ok = tf.logical_and(low >= 0, tf.cast(high, tf.int64) < count)
            message = tf.strings.format(INPUT_MARKER + self.expected(key) + "; got " + value.dtype.name + " in [{}, {}]."
                                        + INPUT_MARKER_END, (low, high))
            checks.append(tf.debugging.Assert(tf.logical_or(ok, tf.equal(tf.size(value), 0)), [message]))
        return checks

    def checked_dataset(self, dataset, where="the model"):
        """`dataset` (batches of features, or (features, ...) tuples as Keras takes them) with its structure checked
        now and its values asserted per batch, inside the pipeline."""
        import tensorflow as tf

        spec = dataset.element_spec
        paired = isinstance(spec, tuple) and bool(spec) and isinstance(spec[0], dict)
        self.check_structure(spec[0] if paired else spec, where=f"{where} (the dataset's elements)")

        def checked(features):
            with tf.control_dependencies(self.assertions(features)):
                return {k: tf.identity(v) for k, v in features.items()}

        if paired:
            return dataset.map(lambda features, *rest: (checked(features), *rest),
                               num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return dataset.map(checked, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


# -- helpers on arrays of any kind (numpy, tensors, KerasTensors, tf.TensorSpec) --------------------------------------
def concrete(value):
    """A numpy array of `value` if its values are known now (a list, numpy array, eager tensor), else None."""
    if isinstance(value, (np.ndarray, np.generic, list, tuple, int, float)):
        return np.asarray(value)
    numpy = getattr(value, "numpy", None)
    if numpy is None:
        return None
    try:
        return np.asarray(numpy())
    except (NotImplementedError, AttributeError, TypeError, ValueError):
        return None  # a symbolic tensor


def _dtype(value):
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        array = concrete(value)
        return None if array is None else array.dtype.name
    return getattr(dtype, "name", str(dtype))


def _is_integer(dtype_name):
    return dtype_name.startswith(("int", "uint")) and dtype_name not in ("int4", "uint4")


def _shape(value):
    shape = getattr(value, "shape", None)
    if shape is None:
        array = concrete(value)
        shape = None if array is None else array.shape
    if shape is None:
        return None
    dims = getattr(shape, "as_list", None)
    if dims is not None:
        try:
            shape = dims()
        except ValueError:
            return None  # unknown rank
    return tuple(None if d is None else int(d) for d in shape)


def _dims_text(shape):
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def _range_text(value):
    values = concrete(value)
    if values is None or not values.size:
        return ""
    return f" in [{values.min():.6g}, {values.max():.6g}]"


def _float_hint(key, value):
    if key == "label":
        return ": pass integer class ids."
    values = concrete(value)
    if values is not None and values.size and values.max() <= 1.0:
        return ": pass uint8 pixel values (0..255), not normalised floats."
    return ": pass the pixel values as integers (e.g. uint8), not floats."

