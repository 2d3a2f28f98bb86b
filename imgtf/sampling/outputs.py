"""What the decoder writes: PNG grids of its samples (imgtf.data.grids) and their raw arrays (.npy, the model's
values 0 .. num_levels-1), with a summary in decode.json.

decode.json is the folder's manifest: it is removed before anything else is written and written last, so a folder
holding one is a whole decode (a killed decoder leaves new files without it, never the old summary beside new
images); each file is written under a temporary name (`NAME.tmp-PID`) and renamed; the decoder's files of an earlier
decode that this one does not write (its inputs of another mode) and the temporary files of a killed decoder are
removed, and a user's other files in the folder are left alone."""
import json
import os
import time

import numpy as np

from imgtf import artifacts
from imgtf.data.grids import comparison_grid, sample_grid, save_png


OWN_FILES = ("samples.npy", "samples.png", "inputs.npy", "originals.npy")
SUMMARY = "decode.json"


def write_decoded(decoded, decode_dir, *, temperature, seed, started):
    """Write a decode.Decoded as samples.npy, samples.png (+ inputs.npy, originals.npy) and decode.json; return the
    summary written to decode.json. `started` (time.time()) is when sampling began: seconds count the whole wait."""
    os.makedirs(decode_dir, exist_ok=True)
    artifacts.remove_dead_temporaries(os.path.join(decode_dir, name) for name in (*OWN_FILES, SUMMARY))
    if os.path.lexists(os.path.join(decode_dir, SUMMARY)):
        os.remove(os.path.join(decode_dir, SUMMARY))
    files = {"samples.npy": decoded.samples}
    if decoded.inputs is None:
        files["samples.png"] = sample_grid(decoded.samples, num_levels=decoded.num_levels)
    else:  # completion / super-resolution: the inputs (and originals, when known) beside the samples
        files["inputs.npy"] = decoded.inputs
        if decoded.originals is not None:
            files["originals.npy"] = decoded.originals
        shown = decoded.originals if decoded.originals is not None else np.zeros_like(decoded.samples[:, 0])
        files["samples.png"] = comparison_grid(decoded.inputs.astype(np.uint8), decoded.samples, shown,
                                               num_levels=decoded.num_levels)
    for name in OWN_FILES:
        path = os.path.join(decode_dir, name)
        if name in files:
            _write(path, files[name])
        elif os.path.lexists(path):
            os.remove(path)  # an earlier decode's, which would read as this one's
    summary = _summary(decoded, temperature, seed, time.time() - started, sorted(files))
    _write(os.path.join(decode_dir, SUMMARY), json.dumps(summary, indent=2))
    return summary


def _write(path, value):
    """An array (.npy), an image (.png) or text, under a temporary name renamed into place."""
    tmp = f"{path}.tmp-{os.getpid()}{os.path.splitext(path)[1]}"
    try:
        if path.endswith(".npy"):
            np.save(tmp, value)
        elif path.endswith(".png"):
            save_png(value, tmp)
        else:
            with open(tmp, "w") as f:
                f.write(value)
        os.replace(tmp, path)
    finally:
        if os.path.lexists(tmp):
            os.remove(tmp)


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
