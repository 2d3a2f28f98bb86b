"""The decoder's modes: unconditional, class-conditional, completion and super-resolution sampling, and the
super-resolution consistency metric of the paper.

Each mode takes its sampling settings as one checked value (settings.SamplingSettings) and draws batch after batch
without checking them again; it only samples and returns a `Decoded`; `outputs.write_decoded` writes it for people
(PNG grids) and programs (uint8 .npy, decode.json), so the modes can be used without files and the files stay the
same for all."""
import dataclasses
import os
import time

import numpy as np
import tensorflow as tf

from imgtf import units
from imgtf.data.images import load_user_images
from imgtf.progress import Progress
from imgtf.sampling import outputs
from imgtf.sampling.sampler import sample_images
from imgtf.sampling.settings import SamplingSettings

MODES = ("auto", "unconditional", "class", "completion", "super_resolution")


@dataclasses.dataclass
class Decoded:
    """What one mode drew: enough to write every output file without the model."""
    mode: str
    samples: np.ndarray  # uint8 [N, H, W, C]; completion / super-resolution: [inputs, samples_per_input, H, W, C]
    inputs: np.ndarray | None = None  # completion / super-resolution: what each row was conditioned on
    originals: np.ndarray | None = None  # the real images, when the inputs came from a split
    labels: list | None = None  # class mode: the class id of each sample
    consistency: float | None = None  # super-resolution: mean of the paper's metric over all samples
    num_levels: int = 256  # the samples' values are 0 .. num_levels-1 (2: binary images)
    given_labels: np.ndarray | None = None  # the class id each input (or sample) was conditioned on, if any
    nats_per_image: float | None = None  # the model's mean negative log-likelihood of its own samples
    bits_per_dim: float | None = None

    @property
    def num_images(self):
        return int(np.prod(self.samples.shape[:-3]))


def consistency(low_res, samples, num_levels=256):
    """Paper 5.3: L2 distance between the low-resolution input and a bicubic downsampling of each sample,
    reported as the mean squared difference per sub-pixel on a [0, 1] intensity scale (values / (num_levels-1))."""
    top = float(num_levels - 1)
    down = tf.image.resize(tf.cast(samples, tf.float32), low_res.shape[1:3], method="bicubic")
    diff = (tf.clip_by_value(down, 0.0, top) - tf.cast(low_res, tf.float32)) / top
    return tf.reduce_mean(tf.square(diff), axis=[1, 2, 3]).numpy()


def scored(decoded, model, batch_size, label=None, inputs=None):
    """`decoded` with the model's likelihood of its samples (each given the label / inputs it was drawn with): how
    sure the model is of what it drew, in the unit of the problem's results (a well-trained binarized-MNIST model
    gives its samples about what it gives held-out digits)."""
    flat = decoded.samples.reshape(-1, *decoded.samples.shape[-3:])
    repeat = len(flat) // max(len(label if label is not None else inputs if inputs is not None else flat), 1)
    nats = []
    for first, n in _batches(len(flat), batch_size):
        features = {"targets": flat[first:first + n]}
        if label is not None and model.uses_label:
            features["label"] = np.repeat(np.asarray(label, np.int32), repeat, axis=0)[first:first + n]
        if inputs is not None and model.uses_encoder:
            features["inputs"] = np.repeat(inputs, repeat, axis=0)[first:first + n]
        nats.append(np.asarray(model.negative_log_likelihood(features)))
    mean = float(np.mean(np.concatenate(nats)))
    return dataclasses.replace(decoded, nats_per_image=mean, bits_per_dim=units.bits_per_dim(mean, model.image_shape))


def pick_mode(mode, model, problem):
    if mode != "auto":
        return mode
    if problem.input_shape and model.uses_encoder:
        return "super_resolution"
    if model.uses_label:
        return "class"
    return "unconditional"


def _batches(total, batch_size):
    start = 0
    while start < total:
        yield start, min(batch_size, total - start)
        start += batch_size


def _in_batches(mode, count, batch_size, per_item, draw_batch):
    """draw_batch(first, n) for items first..first+n in turn, concatenated; a batch at a time bounds memory, and
    progress is shown in images (count * per_item) because sampling time grows with images, not inputs."""
    results = []
    with Progress(f"decode {mode}", total=count * per_item, unit="images") as progress:
        for first, n in _batches(count, batch_size):
            results.append(draw_batch(first, n))
            progress.update(n * per_item)
    return np.concatenate(results)


def sample_unconditional(model, settings):
    """Images from the model alone; image i draws with the seeds of (seed, i), so a seed fixes every image at any batch
    size."""
    def draw_batch(first, n):
        return sample_images(model, settings.batch(first, n))

    return Decoded("unconditional", _in_batches("unconditional", settings.num_samples, settings.batch_size, 1,
                                                draw_batch), num_levels=model.num_levels)


def sample_classes(model, problem, settings, labels=None):
    """Class-conditional images: `labels` (default: every class of the problem) cycled over num_samples."""
    if not model.uses_label:
        raise ValueError("--mode=class needs a class-conditional model (hparams class_conditional=true).")
    classes = int(model.problem_info["num_classes"])
    wrong = [label for label in labels or [] if not 0 <= label < classes]
    if wrong:
        raise ValueError(f"--labels={','.join(map(str, labels))}: {wrong[0]} is no class of this model; its class "
                         f"ids are 0..{classes - 1}.")
    labels = list(labels) if labels else list(range(problem.num_classes))
    labels = [labels[i % len(labels)] for i in range(settings.num_samples)]

    def draw_batch(first, n):
        return sample_images(model, settings.batch(first, n), label=np.array(labels[first:first + n], np.int32))

    return Decoded("class", _in_batches("class", settings.num_samples, settings.batch_size, 1, draw_batch),
                   labels=labels, given_labels=np.array(labels, np.int32), num_levels=model.num_levels)


def complete(model, problem, settings, data_dir=None, split=None):
    """Paper Tables 1-2: the top half of num_samples real images of `split` is given, the bottom half sampled."""
    originals, low, labels = _split_batch(problem, data_dir, split, settings.num_samples)
    samples = _sample_per_input(model, "completion", settings, len(originals), low=low, labels=labels,
                                known=originals)
    return Decoded("completion", samples, inputs=originals * _top_half(originals), originals=originals,
                   given_labels=labels, num_levels=model.num_levels)


def super_resolve(model, problem, settings, data_dir=None, split=None, input_images=None):
    """High-resolution samples of the user's `input_images` (files), or else of num_samples inputs of `split`."""
    if not model.uses_encoder:
        raise ValueError("--mode=super_resolution needs an image-to-image model (img2img_transformer).")
    if input_images:
        low = load_user_images(input_images, tuple(model.problem_info["input_shape"][:2]), problem.pixel_format)
        originals, labels = None, None
    else:
        originals, low, labels = _split_batch(problem, data_dir, split, settings.num_samples)
    samples = _sample_per_input(model, "super_resolution", settings, len(low), low=low, labels=labels, known=None)
    flat = samples.reshape(-1, *samples.shape[2:])
    score = float(np.mean(consistency(np.repeat(low, settings.samples_per_input, axis=0), flat, model.num_levels)))
    return Decoded("super_resolution", samples, inputs=low, originals=originals, consistency=score,
                   given_labels=labels, num_levels=model.num_levels)


def _split_batch(problem, data_dir, split, num_samples):
    """(originals, low-resolution inputs or None, labels or None) of the first num_samples examples of `split`."""
    batch = next(iter(problem.dataset(split or problem.eval_split, data_dir, num_samples)))
    low = batch["inputs"].numpy() if "inputs" in batch else None
    labels = batch["label"].numpy() if "label" in batch else None
    return batch["targets"].numpy(), low, labels


def _top_half(images):
    """A mask of images' shape [N, H, W, C], True on the rows completion gives: the top half."""
    mask = np.zeros(images.shape, bool)
    mask[:, : images.shape[1] // 2] = True
    return mask


def _sample_per_input(model, mode, settings, count, *, low, labels, known):
    """[count, samples_per_input, H, W, C]: an input's samples are drawn in one batch, each with its own draws.
    The model is conditioned on what it was trained with (inputs, label); `known` images keep their top half."""
    per_input = settings.samples_per_input

    def per_sample(values, first, n):
        return np.repeat(values[first:first + n], per_input, axis=0)

    def draw_batch(first, n):
        features, known_batch, known_mask = {}, None, None
        if model.uses_encoder:
            features["inputs"] = per_sample(low, first, n)
        if model.uses_label and labels is not None:
            features["label"] = per_sample(labels, first, n)
        if known is not None:
            known_batch = per_sample(known, first, n)
            known_mask = _top_half(known_batch)  # sample_images reduces it to one entry per generation unit
        # rows first * per_input ... of the whole draw: an image's seed follows its row, whatever the batch size
        drawn = sample_images(model, settings.batch(first * per_input, n * per_input), known=known_batch,
                              known_mask=known_mask, **features)
        return drawn.reshape(n, per_input, *drawn.shape[1:])

    return _in_batches(mode, count, settings.batch_size, per_input, draw_batch)


def _run_mode(mode, model, problem, settings, *, labels, input_images, data_dir, split):
    """Call the mode's function with only what it reads; completion refuses --input_images (SR inputs)."""
    if mode == "unconditional":
        return sample_unconditional(model, settings)
    if mode == "class":
        return sample_classes(model, problem, settings, labels=labels)
    if mode == "super_resolution":
        return super_resolve(model, problem, settings, data_dir=data_dir, split=split, input_images=input_images)
    if input_images:
        raise ValueError("--input_images are low-resolution inputs for --mode=super_resolution.")
    return complete(model, problem, settings, data_dir=data_dir, split=split)


def check_decode_dir(decode_dir):
    """ValueError when `decode_dir` is a file, or lies under one or under a folder this user cannot write: checked
    before a model is loaded or anything sampled."""
    target = existing = os.path.abspath(decode_dir)
    while not os.path.lexists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        what = "is a file" if existing == target else f"cannot be made ({existing} is a file)"
    elif not os.access(existing, os.W_OK | os.X_OK):
        what = "is not writable" if existing == target else f"cannot be made (no permission to write in {existing})"
    else:
        return
    raise _decode_dir_error(decode_dir, what)


def _decode_dir_error(decode_dir, what):
    return ValueError(f"--decode_dir={decode_dir} {what}: name a folder the decoder may write into (it keeps your "
                      "other files there).")


def decode(model, problem, decode_dir, settings=None, *, mode="auto", data_dir=None, split=None, labels=None,
           input_images=None):
    """imgtf-decoder's work: sample in `mode` with `settings` (a SamplingSettings, checked when it was made; default
    SamplingSettings()), write samples.npy / samples.png (and inputs.npy, originals.npy) and decode.json to
    decode_dir; return the summary written to decode.json."""
    settings = settings or SamplingSettings()
    mode = pick_mode(mode, model, problem)
    if mode not in MODES[1:]:
        raise ValueError(f"--mode must be one of {', '.join(MODES)}; got {mode!r}.")
    settings.check_memory(problem.image_shape,
                          settings.samples_per_input if mode in ("completion", "super_resolution") else 1)
    check_decode_dir(decode_dir)
    try:  # before sampling: a decode_dir that cannot be made fails at once
        os.makedirs(decode_dir, exist_ok=True)
    except OSError as e:  # what the check cannot foresee: a full disk, a folder made by another process meanwhile
        raise _decode_dir_error(decode_dir, f"cannot be made ({e.strerror or e})") from None
    started = time.time()
    decoded = _run_mode(mode, model, problem, settings, labels=labels, input_images=input_images, data_dir=data_dir,
                        split=split)
    decoded = scored(decoded, model, settings.batch_size, label=decoded.given_labels,
                     inputs=decoded.inputs if mode == "super_resolution" else None)
    return outputs.write_decoded(decoded, decode_dir, temperature=settings.temperature, seed=settings.seed,
                                 started=started)
