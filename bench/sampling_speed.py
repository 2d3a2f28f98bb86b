"""Seconds per 32x32x3 image: cached incremental sampling vs naive re-running of the model, same model, same run.

    python bench/sampling_speed.py                  # tiny set (2 layers), naive over all 3,072 steps
    python bench/sampling_speed.py --naive_steps=512   # naive timed on 512 steps and extrapolated (said so)
    python bench/sampling_speed.py --hparams_set=pixelcnn_cifar10_tiny   # any set: its model is found by name

The naive sampler re-runs the whole model on the partial image for every sub-pixel (what Tensor2Tensor
does); the cached one runs each layer on the new position only (transformer caches keys and values, PixelCNN
its convolutions' inputs, the LSTMs their states), in one XLA-compiled loop. Both draw the
same numbers, so for the same seed they produce the same image (checked here on the steps both ran).
"""
import argparse
import os
import time

from common import run_with_results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hparams_set", default="imagetransformer_cifar10_tiny")
    parser.add_argument("--naive_steps", type=int, default=0, help="0: all steps; else time this many and extrapolate")
    args = parser.parse_args()
    import numpy as np
    import tensorflow as tf

    import imgtf  # noqa: F401
    from common import cifar_model_and_problem
    from imgtf import catalog, registry
    from imgtf.sampling import cached_sample
    from imgtf.sampling.sampler import _dynamic_update, _to_images, _unit_layout

    catalog.load_builtins()
    hp = registry.hparams(args.hparams_set)
    model_name, problem_name = cifar_model_and_problem(args.hparams_set)
    if problem_name != "image_cifar10":
        parser.error(f"{args.hparams_set} is a conditional (image-to-image) set; pick an unconditional one.")
    model = registry.model(model_name)(hp, registry.problem(problem_name).info)
    model({"targets": np.zeros((1, 32, 32, 3), np.uint8)})
    units = model.num_units
    depth = next((f"{hp.get(key)} {what}" for key, what in (
        ("num_decoder_layers", "layers"), ("num_layers", "layers"), ("num_blocks", "blocks"),
        ("num_resnets", "gated ResNets per resolution")) if key in hp), "")
    shape = f"{depth}, width {hp.hidden_size}" + (f", {hp.attention_type}" if "attention_type" in hp else "")
    print(f"{args.hparams_set} ({model_name}): {shape}, {model.count_params():,} parameters, {units} steps per image, "
          f"{os.cpu_count()} CPUs")

    rates = {}
    for batch in (1, 16):
        start = time.time()
        cached_sample(model, batch, 1.0, 0)
        compile_s = time.time() - start
        start = time.time()
        cached = cached_sample(model, batch, 1.0, 1).numpy()
        seconds = time.time() - start
        rates[batch] = seconds / batch
        print(f"cached, batch {batch:>2}: {seconds:.2f} s for {batch} images = {seconds / batch:.3f} s/image, "
              f"{batch / seconds:.2f} images/s (first call incl. compilation: {compile_s:.1f} s)", flush=True)

    steps = args.naive_steps or units
    order = model.geometry.order
    canvas = tf.zeros(_unit_layout(model, 1), tf.int32)  # [1, units] sub-pixels or [1, units, 3] pixels

    @tf.function
    def unit_params(canvas, t):
        return model.unit_params(model({"targets": _to_images(model, canvas)}), t)

    unit_params(canvas, tf.constant(0))  # trace once, outside the timing
    start = time.time()
    for t in range(steps):
        values = model.likelihood.sample(unit_params(canvas, tf.constant(t)), tf.constant(t), tf.constant(1),
                                         tf.constant(1.0))
        canvas = _dynamic_update(canvas, values, int(order[t]))
    naive_seconds = (time.time() - start) * units / steps
    cached_units = cached[0].reshape(canvas.shape[1:])
    same = np.array_equal(canvas.numpy()[0][order[:steps]], cached_units[order[:steps]])
    note = "" if steps == units else f" (timed {steps} of {units} steps, extrapolated)"
    print(f"naive,  batch  1: {naive_seconds:.1f} s/image{note}; same image as cached (seed 1, first image): {same}")
    print(f"cached is {naive_seconds / rates[1]:.0f}x faster than naive at batch 1 "
          f"({naive_seconds / rates[16]:.0f}x per image at batch 16)")


if __name__ == "__main__":
    run_with_results("sampling_speed", main)
