"""What sampling writes for people: PNG grids (rows of input | samples | original, upscaled) and raw arrays."""
import os

import numpy as np


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
            image = to_height(image[None], height)[0]
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


def sample_grid(samples, columns=8, scale=4):
    """Unconditional samples as a grid of `columns` per row, each upscaled `scale` times."""
    big = upscale(samples, scale)
    rows = [list(big[i:i + columns]) for i in range(0, len(big), columns)]
    return grid(rows)


def comparison_grid(inputs, samples, originals, scale=4):
    """One row per example: input | its samples | original, all shown at the original's upscaled size."""
    height = originals.shape[1] * scale
    rows = []
    for i in range(len(originals)):
        row = [to_height(inputs[i:i + 1], height)[0]]
        row += [upscale(s[None], scale)[0] for s in samples[i]]
        row.append(upscale(originals[i:i + 1], scale)[0])
        rows.append(row)
    return grid(rows)
