"""Images laid out for people: grids of samples (rows of input | samples | original), upscaled, as RGB PNGs.

Values 0 .. num_levels-1 are stretched to 0-255 for display, so binary images (values 0 and 1) show as black and
white and grayscale shows as gray; the arrays a model works with are never changed."""
import os

import numpy as np


def for_display(images, num_levels=256):
    """Values 0 .. num_levels-1 -> uint8 0-255 (level v shows as round(v * 255 / (num_levels-1)))."""
    images = np.asarray(images)
    if num_levels == 256:
        return images.astype(np.uint8)
    return np.round(images.astype(np.float32) * (255.0 / (num_levels - 1))).astype(np.uint8)


def as_rgb(images):
    """uint8 [N, H, W, C] as RGB for viewing: grayscale (C = 1) repeated into the three channels."""
    if images.shape[-1] == 1:
        return np.repeat(images, 3, axis=-1)
    if images.shape[-1] != 3:
        raise ValueError(f"PNG grids show grayscale or RGB images; these have {images.shape[-1]} channels.")
    return images


def upscale(images, factor):
    """Nearest-neighbour upscaling of uint8 [N, H, W, 3] for viewing."""
    return np.repeat(np.repeat(images, factor, axis=1), factor, axis=2)


def to_height(images, height):
    factor = max(1, height // images.shape[1])
    images = upscale(images, factor)
    pad = height - images.shape[1]
    return np.pad(images, [[0, 0], [0, pad], [0, pad], [0, 0]], constant_values=255) if pad > 0 else images


def grid(rows, gap=2):
    """rows: list of lists of uint8 images (any sizes, padded to the row's tallest) -> one uint8 image."""
    height = max(image.shape[0] for row in rows for image in row)
    lines = []
    for row in rows:
        cells = []
        for image in row:
            image = to_height(as_rgb(image[None]), height)[0]
            cells += [image, np.full((height, gap, 3), 255, np.uint8)]
        lines.append(np.concatenate(cells[:-1], axis=1))
    width = max(line.shape[1] for line in lines)
    lines = [np.pad(line, [[0, 0], [0, width - line.shape[1]], [0, 0]], constant_values=255) for line in lines]
    spaced = []
    for line in lines:
        spaced += [line, np.full((gap, width, 3), 255, np.uint8)]
    return np.concatenate(spaced[:-1], axis=0)


def save_png(image, path):
    from PIL import Image

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    Image.fromarray(image).save(path)
    return path


def sample_grid(samples, columns=8, scale=4, num_levels=256):
    """Unconditional samples as a grid of `columns` per row, each upscaled `scale` times."""
    big = upscale(for_display(samples, num_levels), scale)
    rows = [list(big[i:i + columns]) for i in range(0, len(big), columns)]
    return grid(rows)


def comparison_grid(inputs, samples, originals, scale=4, num_levels=256):
    """One row per example: input | its samples | original, all shown at the original's upscaled size."""
    inputs, samples, originals = (for_display(a, num_levels) for a in (inputs, samples, originals))
    height = originals.shape[1] * scale
    rows = []
    for i in range(len(originals)):
        row = [to_height(inputs[i:i + 1], height)[0]]
        row += [upscale(s[None], scale)[0] for s in samples[i]]
        row.append(upscale(originals[i:i + 1], scale)[0])
        rows.append(row)
    return grid(rows)
