"""The decoder's modes: unconditional, class-conditional, completion and super-resolution sampling,
with outputs written for people (PNG grids) and programs (uint8 .npy), and the super-resolution
consistency metric of the paper."""
import json
import logging
import os
import time

import numpy as np
import tensorflow as tf

from imgtf.data import images as images_lib
from imgtf.sampling import outputs
from imgtf.sampling.sampler import cached_sample, check_sampling_settings

log = logging.getLogger("imgtf")
MODES = ("auto", "unconditional", "class", "completion", "super_resolution")


def consistency(low_res, samples):
    """Paper 5.3: L2 distance between the low-resolution input and a bicubic downsampling of each sample,
    reported as the mean squared difference per sub-pixel on a [0, 1] intensity scale."""
    down = tf.image.resize(tf.cast(samples, tf.float32), low_res.shape[1:3], method="bicubic")
    diff = (tf.clip_by_value(down, 0.0, 255.0) - tf.cast(low_res, tf.float32)) / 255.0
    return tf.reduce_mean(tf.square(diff), axis=[1, 2, 3]).numpy()


def pick_mode(mode, model, problem):
    if mode != "auto":
        return mode
    if problem.input_shape and model.uses_encoder:
        return "super_resolution"
    if model.class_embedding is not None:
        return "class"
    return "unconditional"


def load_user_images(paths, size):
    """The user's own image files -> uint8 [N, size, size, 3]: centre-cropped and area-resized."""
    out = []
    for path in paths:
        with open(path, "rb") as f:
            image = images_lib.decode_rgb(f.read(), path)
        square = images_lib.center_crop_square(tf.constant(image))
        out.append(images_lib.to_uint8(images_lib.area_resize(square, size)).numpy())
    return np.stack(out)


def _batches(total, batch_size):
    start = 0
    while start < total:
        yield start, min(batch_size, total - start)
        start += batch_size


def decode(model, problem, decode_dir, data_dir=None, mode="auto", num_samples=8, temperature=1.0, seed=0,
           batch_size=8, labels=None, split=None, input_images=None, samples_per_input=1):
    """Sample, write `samples.npy` / `samples.png` (and `inputs.npy`, `originals.npy`) to decode_dir; return a
    summary dict (also written as decode_dir/decode.json)."""
    check_sampling_settings(num_samples, temperature, batch_size, samples_per_input)
    mode = pick_mode(mode, model, problem)
    if mode not in MODES[1:]:
        raise ValueError(f"--mode must be one of {', '.join(MODES)}; got {mode!r}.")
    os.makedirs(decode_dir, exist_ok=True)
    split = split or problem.eval_split
    summary = {"mode": mode, "temperature": temperature, "seed": seed}
    start = time.time()
    if mode in ("unconditional", "class"):
        if mode == "class":
            if model.class_embedding is None:
                raise ValueError("--mode=class needs a class-conditional model (hparams class_conditional=true).")
            labels = list(labels) if labels else list(range(problem.num_classes))
            labels = [labels[i % len(labels)] for i in range(num_samples)]
            summary["labels"] = labels
        results = []
        for first, n in _batches(num_samples, batch_size):
            features = {"label": np.array(labels[first:first + n], np.int32)} if mode == "class" else None
            results.append(cached_sample(model, n, temperature, seed + first, features).numpy())
            log.info("sampled %d/%d images (%.2f s/image)", first + n, num_samples, (time.time() - start) / (first + n))
        samples = np.concatenate(results)
        np.save(os.path.join(decode_dir, "samples.npy"), samples)
        outputs.save_png(outputs.sample_grid(samples), os.path.join(decode_dir, "samples.png"))
    else:
        if mode == "super_resolution" and not model.uses_encoder:
            raise ValueError("--mode=super_resolution needs an image-to-image model (img2img_transformer).")
        if input_images:
            if mode != "super_resolution":
                raise ValueError("--input_images are low-resolution inputs for --mode=super_resolution.")
            low = load_user_images(input_images, problem.input_shape[0])
            originals, label = None, None
        else:
            batch = next(iter(problem.dataset(split, data_dir, num_samples)))
            originals = batch["targets"].numpy()
            low = batch["inputs"].numpy() if "inputs" in batch else None
            label = batch["label"].numpy() if "label" in batch else None
        count = len(low) if low is not None else len(originals)
        results = []
        for first, n in _batches(count, batch_size):
            features, known, known_mask = {}, None, None
            if model.uses_encoder:
                features["inputs"] = np.repeat(low[first:first + n], samples_per_input, axis=0)
            if model.class_embedding is not None and label is not None:
                features["label"] = np.repeat(label[first:first + n], samples_per_input, axis=0)
            if mode == "completion":
                known = np.repeat(originals[first:first + n], samples_per_input, axis=0)
                known_mask = np.zeros(known.shape, bool)
                known_mask[:, : known.shape[1] // 2] = True  # the top half is given
                if model.likelihood.unit == "pixel":
                    known_mask = known_mask[..., 0]
            drawn = cached_sample(model, n * samples_per_input, temperature, seed + first, features or None, known,
                                  known_mask).numpy()
            results.append(drawn.reshape(n, samples_per_input, *drawn.shape[1:]))
            log.info("sampled %d/%d inputs x %d samples (%.2f s/image)", first + n, count, samples_per_input,
                     (time.time() - start) / ((first + n) * samples_per_input))
        samples = np.concatenate(results)
        shown_inputs = low if mode == "super_resolution" else originals * (
            np.arange(originals.shape[1])[None, :, None, None] < originals.shape[1] // 2)
        np.save(os.path.join(decode_dir, "samples.npy"), samples)
        np.save(os.path.join(decode_dir, "inputs.npy"), shown_inputs)
        shown_originals = originals if originals is not None else np.zeros((count, *problem.image_shape), np.uint8)
        if originals is not None:
            np.save(os.path.join(decode_dir, "originals.npy"), originals)
        outputs.save_png(outputs.comparison_grid(shown_inputs.astype(np.uint8), samples, shown_originals),
                         os.path.join(decode_dir, "samples.png"))
        if mode == "super_resolution":
            flat = samples.reshape(-1, *samples.shape[2:])
            summary["consistency"] = float(np.mean(consistency(np.repeat(low, samples_per_input, axis=0), flat)))
    seconds = time.time() - start
    summary.update(num_images=int(np.prod(samples.shape[:-3])), seconds=round(seconds, 3),
                   seconds_per_image=seconds / max(int(np.prod(samples.shape[:-3])), 1),
                   files=sorted(os.listdir(decode_dir)))
    with open(os.path.join(decode_dir, "decode.json"), "w") as f:
        json.dump(summary, f, indent=2)
    return summary
