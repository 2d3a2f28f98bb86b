"""What a training step reaches on this machine's accelerator, per model: step time, images/s, achieved FLOP/s
against a matmul measured in the same process (MFU), peak device memory, from float32 without XLA to bfloat16 with
XLA and many steps per host loop; and cached sampling, seconds per image at two batch sizes.

    python bench/accelerator.py             # a GPU/TPU: the paper sets (CIFAR-10 shapes), about 8 minutes on one GPU
    python bench/accelerator.py --cpu       # the shortened version (the default without an accelerator): one tiny
                                            # set per family, 4 steps per loop, sampling at batch 1 and 4

Every step is the trainer's own (`imgtf.train.trainer.Trainer`, the real CIFAR-10 sample shipped in
examples/data), timed after a first call that traces and compiles. Configurations, each against the first in the
same process: float32 / bfloat16 (`--mixed_precision`), without / with XLA (`--xla`), steps per host loop 1 / N
(`--steps_per_loop`). FLOPs per step are TensorFlow's static count of the forward and backward graph (matmuls and
convolutions): a loop body counts once, so for the recurrent families (scans over rows or diagonals) the FLOP/s
and MFU shown are lower bounds. MFU = model FLOP/s / the FLOP/s of a large matmul in the same dtype, measured
here. Peak memory: the device allocator's peak (GPU), or n/a on a CPU.
"""
import argparse
import contextlib
import io
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import REPO, record, run_with_results  # noqa: E402

DATA = os.path.join(REPO, "examples", "data", "cifar10")
PAPER_SETS = ["imagetransformer_cifar10_base", "pixelcnn_cifar10", "row_lstm_cifar10", "diagonal_bilstm_cifar10",
              "gated_pixelcnn_cifar10", "pixelcnn_pp_cifar10", "pixelsnail_cifar10"]
TINY_SETS = ["imagetransformer_cifar10_tiny", "row_lstm_cifar10_tiny", "pixelcnn_pp_cifar10_tiny"]  # one per family


def accelerator():
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return ("GPU:0", tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")) if gpus else None


def matmul_flops(dtype, size, repeats):
    """FLOP/s of a size x size matmul in `dtype` (the chip's attainable rate for MFU)."""
    import tensorflow as tf

    a = tf.random.normal([size, size], dtype=tf.float32)
    a = tf.cast(a, dtype)
    multiply = tf.function(lambda x: tf.reduce_sum(tf.cast(tf.linalg.matmul(x, x), tf.float32)), jit_compile=True)
    float(multiply(a))
    start = time.perf_counter()
    for _ in range(repeats):
        value = multiply(a)
    float(value)
    return 2.0 * size ** 3 * repeats / (time.perf_counter() - start)


def step_flops(trainer):
    """Static FLOPs of one forward + backward pass over a global batch (TensorFlow's graph profiler)."""
    import tensorflow as tf

    model = trainer.model
    batch = next(iter(trainer.problem.dataset("train", DATA, trainer.global_batch_size)))

    @tf.function(autograph=False)
    def gradients(features):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(model.negative_log_likelihood(features, training=True))
        return tape.gradient(loss, model.trainable_variables)

    graph = gradients.get_concrete_function(batch).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder(
        tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()).with_empty_output().build()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return tf.compat.v1.profiler.profile(graph, options=options).total_float_ops


def time_training(set_name, precision, xla, steps_per_loop, timed_steps, device):
    """(seconds per step, peak device bytes or None, the trainer) for one configuration."""
    import tensorflow as tf

    from imgtf import registry
    from imgtf.train import distribution, run_dir
    from imgtf.train.trainer import Trainer

    model, _ = registry.model_and_problem_of(set_name)
    with tempfile.TemporaryDirectory() as out:
        distribution.set_precision(precision)
        try:
            spec = run_dir.resolve(out, "image_cifar10", model, set_name, "")
            trainer = Trainer(spec, out, DATA, seed=0, precision=precision, xla=xla)
            if device:
                tf.config.experimental.reset_memory_stats(device)
            never = 10 ** 9
            trainer.train(steps_per_loop, steps_per_loop=steps_per_loop, checkpoint_every=never, log_every=never)
            start = time.perf_counter()
            trainer.train(steps_per_loop + timed_steps, steps_per_loop=steps_per_loop, checkpoint_every=never,
                          log_every=never)
            seconds = (time.perf_counter() - start) / timed_steps
            peak = tf.config.experimental.get_memory_info(device)["peak"] if device else None
            return seconds, peak, trainer
        finally:
            distribution.set_precision("float32")


def sampling_seconds(model, batch):
    from imgtf.sampling import cached_sample

    cached_sample(model, batch, seed=0).numpy()  # traces and compiles
    start = time.perf_counter()
    cached_sample(model, batch, seed=1).numpy()
    return (time.perf_counter() - start) / batch


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cpu", action="store_true", help="the shortened version (default without an accelerator)")
    parser.add_argument("--sets", default="", help="comma-separated hparams sets instead of the default ones")
    args = parser.parse_args()
    import tensorflow as tf

    from imgtf import catalog

    catalog.load_builtins()
    found = accelerator()
    short = args.cpu or found is None
    device = None if short or found is None else found[0]
    sets = args.sets.split(",") if args.sets else (TINY_SETS if short else PAPER_SETS)
    loop = 4 if short else 32
    timed = 2 * loop
    sample_batches = (1, 4) if short else (1, 64)
    size, repeats = (1024, 5) if short else (8192, 20)
    peaks = {dtype: matmul_flops(getattr(tf, dtype), size, repeats) for dtype in ("float32", "bfloat16")}
    configs = [("float32", False, 1), ("bfloat16", False, 1), ("float32", True, 1), ("bfloat16", True, 1),
               ("bfloat16", True, loop)]

    where = found[1] if found and not short else "CPU"
    print(f"{'shortened (CPU): tiny sets' if short else 'paper sets'} on {where}, the shipped CIFAR-10 sample; "
          f"{size}x{size} matmul: {peaks['float32'] / 1e12:.3f} TFLOP/s float32, {peaks['bfloat16'] / 1e12:.3f} "
          f"TFLOP/s bfloat16; {timed} timed steps per configuration after a compiling call\n")
    print("| set | batch | precision | XLA | steps/loop | s/step | images/s | vs float32 | GFLOP/step | TFLOP/s | "
          "MFU | peak memory |")
    print("|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows, sampling = [], []
    for set_name in sets:
        base, flops, sampler_model = None, None, None
        for precision, xla, steps_per_loop in configs:
            try:
                seconds, peak, trainer = time_training(set_name, precision, xla, steps_per_loop, timed, device)
            except Exception as e:  # noqa: BLE001 - a failing configuration is a row of the table, not the end
                print(f"| {set_name} | | {precision} | {'on' if xla else 'off'} | {steps_per_loop} | failed: "
                      f"{type(e).__name__}: {str(e).splitlines()[0][:80]} | | | | | | |")
                continue
            if flops is None:
                flops, sampler_model = step_flops(trainer), trainer.model  # float32
            base = base or seconds
            batch = trainer.global_batch_size
            achieved = flops / seconds
            memory = f"{peak / 2 ** 20:.0f} MiB" if peak is not None else "n/a"
            row = dict(set=set_name, batch=batch, precision=precision, xla=xla, steps_per_loop=steps_per_loop,
                       seconds_per_step=seconds, images_per_sec=batch / seconds, speedup=base / seconds,
                       flops_per_step=flops, flops_per_sec=achieved, mfu=achieved / peaks[precision],
                       peak_bytes=peak)
            rows.append(row)
            print(f"| {set_name} | {batch} | {precision} | {'on' if xla else 'off'} | {steps_per_loop} | "
                  f"{seconds:.4f} | {batch / seconds:.1f} | {base / seconds:.2f}x | {flops / 1e9:.2f} | "
                  f"{achieved / 1e12:.4f} | {achieved / peaks[precision]:.1%} | {memory} |")
        if sampler_model is not None:
            sampling.append((set_name, [sampling_seconds(sampler_model, b) for b in sample_batches]))
    print(f"\ncached sampling (compiled with XLA, float32), seconds per image: "
          f"batch {sample_batches[0]} and batch {sample_batches[1]}\n")
    print(f"| set | batch {sample_batches[0]} | batch {sample_batches[1]} |")
    print("|---|---:|---:|")
    for set_name, (one, many) in sampling:
        print(f"| {set_name} | {one:.3f} | {many:.3f} |")
    record(device=where, shortened=short, matmul_flops=peaks, training=rows,
           sampling={name: dict(zip(map(str, sample_batches), values)) for name, values in sampling})


if __name__ == "__main__":
    run_with_results("accelerator", main)
