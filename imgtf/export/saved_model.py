"""A SavedModel per trained model, loadable with plain `tf.saved_model.load` (no imgtf import needed).

Signatures (all take the model's conditioning when it has one: `label` int32 [B] or `inputs` uint8 [B,h,w,C]):
  bits_per_dim(images uint8 [B,H,W,C])             -> bits_per_dim float32 [B], nats_per_image float32 [B]
  log_prob(images uint8 [B,H,W,C])                 -> log_prob float32 [B,H,W,C]  (nats per sub-pixel)
  sample(num_samples int32, temperature float32, seed int32) -> images uint8 [num_samples,H,W,C]
The sampler is the cached incremental one; the same seed gives the same images as imgtf-decoder. Images hold the
model's values, 0 .. num_levels-1 (0 and 1 for binary images); images of another shape, values of no level, or labels
that are no class id are refused with a message (the input contract of imgtf.models.inputs).
"""
import tensorflow as tf

from imgtf import units
from imgtf.sampling.sampler import make_cached_sampler


class ExportModule(tf.Module):
    def __init__(self, model, jit_compile=True):
        super().__init__()
        self.model = model
        self.jit_compile = jit_compile
        h, w, c = model.image_shape
        self._dims = float(h * w * c)
        self.conditioning = {}
        if model.uses_label:
            self.conditioning["label"] = tf.TensorSpec([None], tf.int32, name="label")
        if model.uses_encoder:
            self.conditioning["inputs"] = tf.TensorSpec([None, *model.problem_info["input_shape"]], tf.uint8,
                                                        name="inputs")

    def _log_prob(self, images, conditioning):
        checks = [_check_shape(images, "images", self.model.image_shape), *self._check_levels(images, "images")]
        if "inputs" in conditioning:
            checks.append(_check_shape(conditioning["inputs"], "inputs", self.model.problem_info["input_shape"]))
            checks += self._check_levels(conditioning["inputs"], "inputs")
        checks += self._check_labels(conditioning)
        for name, value in conditioning.items():
            checks.append(tf.debugging.assert_equal(
                tf.shape(value)[0], tf.shape(images)[0],
                message=f"{name} must have one entry per image (the same batch size as images)"))
        with tf.control_dependencies(checks):  # every input passes the checks before the model reads it
            images = tf.identity(images)
            conditioning = {k: tf.identity(v) for k, v in conditioning.items()}
        return self.model.likelihood.log_prob(self.model({**conditioning, "targets": images}), images)

    def _check_labels(self, conditioning):
        """Assertions that labels are class ids of the model's problem (an out-of-range id would read no embedding)."""
        if "label" not in conditioning:
            return []
        classes = int(self.model.problem_info["num_classes"])
        message = f"label must be class ids in [0, {classes}) for this model"
        return [tf.debugging.assert_non_negative(conditioning["label"], message=message),
                tf.debugging.assert_less(conditioning["label"], tf.constant(classes, tf.int32), message=message)]

    def _check_levels(self, images, name):
        """Assertions that uint8 `images` hold only the model's levels (none needed for 256)."""
        levels = self.model.num_levels
        if levels >= 256:
            return []
        return [tf.debugging.assert_less(images, tf.constant(levels, tf.uint8), message=(
            f"{name} must hold values 0..{levels - 1} for this model (num_levels={levels}: binary images are 0/1, "
            "not 0/255)"))]

    def signatures(self):
        images = tf.TensorSpec([None, *self.model.image_shape], tf.uint8, name="images")
        scalars = [tf.TensorSpec([], tf.int32, name="num_samples"), tf.TensorSpec([], tf.float32, name="temperature"),
                   tf.TensorSpec([], tf.int32, name="seed")]
        names = list(self.conditioning)
        specs = [self.conditioning[n] for n in names]
        # a local, not an attribute: SavedModel would save a tracked tf.function on its own, tracing it again
        sampler = make_cached_sampler(self.model, self.jit_compile)

        def log_prob(images, *cond):
            return {"log_prob": self._log_prob(images, dict(zip(names, cond)))}

        def bits_per_dim(images, *cond):
            nats = -tf.reduce_sum(self._log_prob(images, dict(zip(names, cond))), axis=[1, 2, 3])
            return {"bits_per_dim": nats / (self._dims * units.LN2), "nats_per_image": nats}

        def sample(num_samples, temperature, seed, *cond):
            conditioning = dict(zip(names, cond))
            checks = [
                tf.debugging.assert_positive(num_samples, message="num_samples must be at least 1"),
                tf.debugging.assert_positive(temperature, message="temperature must be > 0 (1.0 samples the model; "
                                             "lower values are more conservative)"),
                tf.debugging.assert_all_finite(temperature, "temperature must be finite")]
            if "inputs" in conditioning:
                checks.append(_check_shape(conditioning["inputs"], "inputs", self.model.problem_info["input_shape"]))
                checks += self._check_levels(conditioning["inputs"], "inputs")
            checks += self._check_labels(conditioning)
            for name, value in conditioning.items():
                checks.append(tf.debugging.assert_equal(tf.shape(value)[0], num_samples,
                                                        message=f"{name} must have num_samples entries"))
            with tf.control_dependencies(checks):
                num_samples = tf.identity(num_samples)
                conditioning = {k: tf.identity(v) for k, v in conditioning.items()}
            shape = [num_samples, self.model.num_units, *self.model.likelihood.value_shape(self.model.image_shape[-1])]
            known = tf.zeros(shape, tf.int32)
            return {"images": sampler(num_samples, temperature, seed, conditioning, known,
                                       tf.zeros(shape[:2], tf.bool))}

        return {
            "log_prob": tf.function(log_prob, input_signature=[images, *specs], autograph=False),
            "bits_per_dim": tf.function(bits_per_dim, input_signature=[images, *specs], autograph=False),
            "sample": tf.function(sample, input_signature=[*scalars, *specs], autograph=False),
        }


def _check_shape(tensor, name, shape):
    """An assertion that `tensor` is [batch, *shape]: a message naming the expected shape instead of a reshape error
    deep inside the model (or, for a 1-channel image, a plausible but meaningless result)."""
    expected = f"{name} must be uint8 [batch, {', '.join(str(int(d)) for d in shape)}] for this model"
    return tf.debugging.assert_equal(tf.shape(tensor)[1:], tf.constant([int(d) for d in shape], tf.int32),
                                     message=expected)


def export_saved_model(model, export_dir, jit_compile=True):
    """Write a SavedModel with the log_prob, bits_per_dim and sample signatures; returns export_dir."""
    module = ExportModule(model, jit_compile)
    signatures = module.signatures()
    for name, fn in signatures.items():
        setattr(module, name, fn)
    tf.saved_model.save(module, export_dir, signatures=signatures)
    return export_dir
