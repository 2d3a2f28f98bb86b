"""Choosing a tf.distribute strategy, mixed precision and XLA for training.

  auto         mirrored over all local GPUs when there are several, one device otherwise
  one_device   the first GPU, else the CPU
  mirrored     MirroredStrategy over local GPUs (or over `num_cpu_devices` logical CPUs, for testing)
  multi_worker MultiWorkerMirroredStrategy; the cluster comes from the standard TF_CONFIG variable
  tpu          TPUStrategy on the TPU named by --tpu (an address or name; "local" for a TPU VM)

The batch size in hparams is per replica: global batch = batch_size x replicas. The learning-rate schedule
is a function of the step only, so more replicas means a larger batch at the same learning rate; scale
`learning_rate` yourself if you want linear scaling.
"""
import json
import logging
import os

import tensorflow as tf

log = logging.getLogger("imgtf")
STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker", "tpu")


class DistributionError(ValueError):
    pass


def split_cpu(num_devices):
    """Expose the CPU as `num_devices` logical devices (must run before TensorFlow initialises devices)."""
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * num_devices)
    except RuntimeError as e:
        raise DistributionError(f"cannot split the CPU into {num_devices} devices after TensorFlow has started "
                                f"using it ({e}); set it before anything else runs.") from e


def make_strategy(name="auto", tpu=None, num_cpu_devices=0):
    if name not in STRATEGIES:
        raise DistributionError(f"--distribution_strategy must be one of {', '.join(STRATEGIES)}; got {name!r}.")
    if num_cpu_devices > 1:
        split_cpu(num_cpu_devices)
    # physical-device queries leave TensorFlow's context uninitialised: multi-worker collectives must be
    # configured before it starts
    gpus = len(tf.config.list_physical_devices("GPU"))
    if name == "auto":
        name = "mirrored" if gpus > 1 else "one_device"
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
    if name == "mirrored":
        if gpus:
            return tf.distribute.MirroredStrategy()
        return tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])
    if name == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise DistributionError("--distribution_strategy=multi_worker needs the TF_CONFIG environment variable, "
                                    'e.g. {"cluster": {"worker": ["host1:port", "host2:port"]}, '
                                    '"task": {"type": "worker", "index": 0}} on each worker.')
        try:
            json.loads(os.environ["TF_CONFIG"])
        except ValueError as e:
            raise DistributionError(f"TF_CONFIG is not valid JSON: {e}") from e
        return tf.distribute.MultiWorkerMirroredStrategy()
    if not tpu:
        raise DistributionError("--distribution_strategy=tpu needs --tpu=NAME_OR_ADDRESS (\"local\" on a TPU VM).")
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def is_chief(strategy):
    """Whether this worker writes checkpoints, metrics and logs: the chief, or worker 0 of a cluster without
    one, or the only worker of a single-machine strategy."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


XLA_SETTINGS = ("auto", "on", "off")


def use_xla(setting, strategy):
    """Whether the training step is compiled with XLA: "on", "off", or "auto", which compiles it on GPUs and TPUs and
    not on a CPU. On a CPU XLA made the convolutional and recurrent families' tiny sets 1.06-2x slower and the Image
    Transformer's no faster beyond noise (docs/benchmarks.md, `bench/timing.py --xla=off,on`); on accelerators XLA's
    fusions spare the memory round trips of the many small elementwise ops, and a failed compilation falls back to
    the plain step with a notice. Also takes True/False."""
    if isinstance(setting, bool):
        return setting
    if setting not in XLA_SETTINGS:
        raise DistributionError(f"--xla must be one of {', '.join(XLA_SETTINGS)}; got {setting!r}.")
    if setting != "auto":
        return setting == "on"
    return on_accelerator(strategy)


def on_accelerator(strategy):
    """Whether the strategy's replicas run on GPUs or TPUs (rather than the CPU and its memory)."""
    try:
        devices = strategy.extended.worker_devices
    except (RuntimeError, NotImplementedError):  # the default strategy: TensorFlow's own placement, a GPU if any
        devices = [device.name for device in tf.config.list_logical_devices()]
    return any(tf.DeviceSpec.from_string(d).device_type in ("GPU", "TPU") for d in devices)


PRECISIONS = ("float32", "bfloat16", "float16")


def set_precision(name):
    """Keras dtype policy: compute in bfloat16/float16, variables in float32. Logits, softmax and the
    likelihood math stay float32 (the model casts them)."""
    import keras

    if name not in PRECISIONS:
        raise DistributionError(f"--mixed_precision must be one of {', '.join(PRECISIONS)}; got {name!r}.")
    keras.mixed_precision.set_global_policy("float32" if name == "float32" else f"mixed_{name}")
