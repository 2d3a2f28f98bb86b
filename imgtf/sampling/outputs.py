"""What the decoder writes: PNG grids of its samples (imgtf.data.grids) and their raw arrays (.npy, the model's
values 0 .. num_levels-1), with a summary in decode.json."""
import json
import os
import time

import numpy as np

from imgtf.data.grids import comparison_grid, sample_grid, save_png


def write_decoded(decoded, decode_dir, *, temperature, seed, started):
    """Write a decode.Decoded as samples.npy, samples.png (+ inputs.npy, originals.npy) and decode.json; return the
    summary written to decode.json. `started` (time.time()) is when sampling began: seconds count the whole wait."""
    os.makedirs(decode_dir, exist_ok=True)
    np.save(os.path.join(decode_dir, "samples.npy"), decoded.samples)
    if decoded.inputs is None:
        save_png(sample_grid(decoded.samples, num_levels=decoded.num_levels), os.path.join(decode_dir, "samples.png"))
    else:
        _write_conditioned(decoded, decode_dir)
    summary = _summary(decoded, temperature, seed, time.time() - started, sorted(os.listdir(decode_dir)))
    with open(os.path.join(decode_dir, "decode.json"), "w") as f:
        json.dump(summary, f, indent=2)
    return summary


def _write_conditioned(decoded, decode_dir):
    """Completion / super-resolution: the inputs (and originals, when known) beside the samples."""
    np.save(os.path.join(decode_dir, "inputs.npy"), decoded.inputs)
    if decoded.originals is not None:
        np.save(os.path.join(decode_dir, "originals.npy"), decoded.originals)
    shown_originals = decoded.originals if decoded.originals is not None else np.zeros_like(decoded.samples[:, 0])
    save_png(comparison_grid(decoded.inputs.astype(np.uint8), decoded.samples, shown_originals,
                             num_levels=decoded.num_levels), os.path.join(decode_dir, "samples.png"))


def _summary(decoded, temperature, seed, seconds, files):
    """decode.json: the settings, what the mode adds (labels, consistency), then time and files."""
    summary = {"mode": decoded.mode, "temperature": temperature, "seed": seed}
    if decoded.num_levels != 256:
        summary["num_levels"] = decoded.num_levels  # samples.npy holds 0 .. num_levels-1
    if decoded.labels is not None:
        summary["labels"] = decoded.labels
    if decoded.consistency is not None:
        summary["consistency"] = decoded.consistency
    if decoded.nats_per_image is not None:  # the model's likelihood of its own samples
        summary.update(samples_nats_per_image=decoded.nats_per_image, samples_bits_per_dim=decoded.bits_per_dim)
    summary.update(num_images=decoded.num_images, seconds=round(seconds, 3),
                   seconds_per_image=seconds / max(decoded.num_images, 1), files=files)
    return summary
