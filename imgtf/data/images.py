"""Decoding and resizing of image files for problems that read PNG/JPEG, and of the user's own files
(`load_user_images`: super-resolution inputs, made as a problem makes its own).

Decoding uses Pillow inside tf.data (via tf.numpy_function) so that a corrupt or unreadable file produces an
error that names the file — TensorFlow's own decoders fail deep inside tf.data without saying which file —
or, where the problem allows it, is skipped and counted. Resizing uses TensorFlow's area interpolation,
as the paper does (it equals exact block means when the size divides).
"""
import io
import re
import logging
import os
import threading

import numpy as np

from imgtf.errors import CorruptDataError

log = logging.getLogger("imgtf")


class SkipCounter:
    """Counts (and logs) files skipped as corrupt, per problem instance. A file counts once, however many times
    it is met (every epoch, every evaluation)."""

    def __init__(self):
        self._seen = set()
        self.names = []
        self._lock = threading.Lock()

    @property
    def count(self):
        return len(self._seen)

    def add(self, name):
        with self._lock:
            if name in self._seen:
                return
            self._seen.add(name)
            if len(self.names) < 20:
                self.names.append(name)
        log.warning("skipping unreadable image %s (%d skipped so far)", name, self.count)


def decode_rgb(data, name):
    """Encoded PNG/JPEG bytes -> uint8 [H, W, 3]; CorruptDataError naming `name` if it cannot be decoded."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return to_rgb8(image)
    except Image.DecompressionBombError as e:
        raise CorruptDataError(f"{name}: refused, too large to decode safely ({e}). Downscale it, or let the problem "
                               "skip unreadable images (skip_corrupt=true).") from e
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        detail = re.sub(r"<_io\.BytesIO object at 0x[0-9a-f]+>", "the file", str(e))  # Pillow names the buffer
        raise CorruptDataError(f"{name}: cannot decode image ({type(e).__name__}: {detail}). Replace or remove the file"
                               ", or let the problem skip unreadable images (skip_corrupt=true).") from e


SIXTEEN_BIT_GRAY = ("I;16", "I;16B", "I;16L", "I;16N", "I")  # how Pillow opens 16-bit grayscale PNGs


def to_rgb8(image):
    """A decoded Pillow image, any mode -> uint8 [H, W, 3]. 8-bit modes (1, L, LA, P, RGB, RGBA, CMYK, ...) go
    through Pillow's conversion (alpha is dropped). 16-bit grayscale needs care: Pillow's convert("RGB") clips
    its 0-65535 values to 255 (a solid white image); here, as Pillow does for 16-bit RGB(A), each value keeps its
    high byte (v >> 8), so 16-bit gray and 16-bit colour agree."""
    if image.mode in SIXTEEN_BIT_GRAY:
        gray = (np.clip(np.asarray(image).astype(np.int64), 0, 65535) >> 8).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=-1)
    if image.mode == "F":
        raise ValueError(f"{image.mode!r} (floating-point) pixels have no standard 8-bit meaning; convert the "
                         "image to 8- or 16-bit PNG first")
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def encoded_bytes(example):
    """A raw example's encoded image: its "encoded" bytes (read from an archive), else the file at its "name"."""
    import tensorflow as tf

    return example["encoded"] if "encoded" in example else tf.io.read_file(example["name"])


def tf_decode(encoded, name, skip_counter=None):
    """tf.data op: (encoded bytes, file name) -> (uint8 [H, W, 3], ok). With a skip_counter, corrupt files
    give ok=False (filter them out) instead of an error."""
    import tensorflow as tf

    def decode(data, file_name):
        file_name = file_name.decode("utf-8", "replace")
        try:
            return decode_rgb(data, file_name), True
        except CorruptDataError:
            if skip_counter is None:
                raise
            skip_counter.add(file_name)
            return np.zeros((1, 1, 3), np.uint8), False

    image, ok = tf.numpy_function(decode, [encoded, name], [tf.uint8, tf.bool], stateful=False)
    image.set_shape([None, None, 3])
    ok.set_shape([])
    return image, ok


def center_crop_square(image):
    import tensorflow as tf

    shape = tf.shape(image)
    side = tf.minimum(shape[0], shape[1])
    top, left = (shape[0] - side) // 2, (shape[1] - side) // 2
    return image[top:top + side, left:left + side]


def center_crop_to_aspect(image, height, width):
    """The largest centred crop of `image` with the aspect ratio height:width (a square for height == width), so
    that resizing it to [height, width] does not stretch the picture."""
    import tensorflow as tf

    if height == width:
        return center_crop_square(image)
    shape = tf.shape(image)
    h, w = shape[0], shape[1]
    # crop height = min(h, w * height / width), crop width = min(w, h * width / height), in integers
    crop_h = tf.minimum(h, (w * height) // width)
    crop_w = tf.minimum(w, (h * width) // height)
    crop_h, crop_w = tf.maximum(crop_h, 1), tf.maximum(crop_w, 1)
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    return image[top:top + crop_h, left:left + crop_w]


def area_resize(image, size):
    """uint8 or float [H, W, C] -> float32 [size, size, C] (or [height, width, C] for size = (height, width)) by
    area interpolation (no rounding)."""
    import tensorflow as tf

    size = [size, size] if isinstance(size, int) else list(size)
    return tf.image.resize(tf.cast(image, tf.float32), size, method="area")


def to_uint8(image):
    import tensorflow as tf

    return tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)


def to_gray(image):
    """float RGB [..., 3] on the 0-255 scale -> float [..., 1]: ITU-R 601 luma, as tf.image.rgb_to_grayscale."""
    import tensorflow as tf

    return tf.image.rgb_to_grayscale(tf.cast(image, tf.float32))


def quantize(image, num_levels):
    """float [..., C] on the 0-255 scale -> uint8 levels 0 .. num_levels-1: the rounded 8-bit value's bin of
    256 / num_levels intensities (2 levels: 1 for 128-255, 0 below: a threshold at one half). 256 levels is
    to_uint8."""
    import tensorflow as tf

    eight_bit = to_uint8(image)
    if num_levels == 256:
        return eight_bit
    return tf.cast(tf.cast(eight_bit, tf.int32) * num_levels // 256, tf.uint8)


def binarize_stochastic(image, seed):
    """float [..., C] on the 0-255 scale -> uint8 0/1: 1 with probability intensity / 255, drawn once per image from
    its int32 [2] `seed` (stateless), so the dataset is the same binary images in every epoch and every run, as
    the fixed stochastic binarisation of binarized MNIST (Salakhutdinov & Murray 2008) that the PixelRNN paper uses."""
    import tensorflow as tf

    probability = tf.clip_by_value(tf.cast(image, tf.float32) / 255.0, 0.0, 1.0)
    draws = tf.random.stateless_uniform(tf.shape(probability), seed=seed)
    return tf.cast(draws < probability, tf.uint8)


def image_features(image, target_size, input_size=None, pixel_format=None, seed=None):
    """A (cropped) image -> {"targets": uint8 [t, t, C]} (+ "inputs": uint8 [i, i, C]) by area interpolation; sizes
    are ints (square) or (height, width).

    `inputs` is area-resized from the unrounded targets; since area resizing composes exactly when the
    sizes divide (32 -> 8), it equals area-resizing the cropped original straight to 8x8. `pixel_format(image,
    seed)` (a Problem's) turns each resized image into the problem's channels and levels (default: 8-bit RGB);
    `seed` (int32 [2], per image) is passed on, offset for the inputs so that their random draws differ."""
    pixel_format = pixel_format or (lambda resized, _: to_uint8(resized))
    target = area_resize(image, target_size)
    features = {"targets": pixel_format(target, seed)}
    if input_size:
        features["inputs"] = pixel_format(area_resize(target, input_size), None if seed is None else seed + [0, 1])
    return features


def load_user_images(paths, size, pixel_format=None):
    """The user's own image files -> uint8 [N, height, width, C]: centre-cropped to the aspect of `size` (an int for
    squares, or (height, width)), area-resized, and put in a problem's `pixel_format` (channels and levels; default
    8-bit RGB), as that problem's own images are."""
    import tensorflow as tf

    height, width = (size, size) if isinstance(size, int) else size
    out = []
    for path in paths:
        with open(path, "rb") as f:
            image = decode_rgb(f.read(), path)
        resized = area_resize(center_crop_to_aspect(tf.constant(image), height, width), (height, width))
        out.append((pixel_format(resized, _file_seed(path)) if pixel_format else to_uint8(resized)).numpy())
    return np.stack(out)


def _file_seed(path):
    """A per-file seed for pixel formats that draw random numbers (stochastic binarisation)."""
    import tensorflow as tf

    return tf.stack([0, tf.cast(tf.strings.to_hash_bucket_fast(os.path.basename(path), 2 ** 31 - 1), tf.int32)])
