"""A preset directory's files and its index, `preset.json`: what a preset is on disk, and the checks every preset
passes before anything reads it.

A preset is data only: `hparams.json` (the run's settings, the same format-versioned file a run keeps),
`model.weights.h5` (Keras weights), `README.md` (the model card) and optionally `samples.png`. `preset.json`, written
last, holds the format version, what the preset is (set, model, problem, step, which weights, the evaluation) and the
size and SHA-256 of every file. A preset can come from anyone (a hub, a colleague): it is read only after the index
checks out (known version, plain file names inside the directory, every file whole), and it never names code to
import (`hparams.json` carries no usr_dir)."""
import hashlib
import json
import os

INDEX = "preset.json"
FORMAT_VERSION = 1  # of preset.json; raise it when a change would make an older preset mean something else
HPARAMS, WEIGHTS, CARD, SAMPLES = "hparams.json", "model.weights.h5", "README.md", "samples.png"
REQUIRED = (HPARAMS, WEIGHTS)
MAX_INDEX_BYTES = 1 << 20  # an index is a few kB: a larger one is not an index


class PresetError(ValueError):
    """A preset that cannot be read or written; the message says what was wrong and what to do."""


def digest(path):
    """(bytes, sha256 hex) of a file, read in blocks."""
    sha, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
            size += len(block)
    return size, sha.hexdigest()


def write_index(directory, details):
    """Write `preset.json` for the files now in `directory` (all of them but the index itself), with `details`."""
    files = {}
    for name in sorted(os.listdir(directory)):
        if name == INDEX or not os.path.isfile(os.path.join(directory, name)):
            continue
        size, sha = digest(os.path.join(directory, name))
        files[name] = {"bytes": size, "sha256": sha}
    index = {"format_version": FORMAT_VERSION, **details, "files": files}
    with open(os.path.join(directory, INDEX), "w") as f:
        json.dump(index, f, indent=2, sort_keys=True)
    return index


def read_index(directory, where):
    """The verified index of the preset in `directory` (`where`: how messages name it): refused, with what to do,
    for a missing or unreadable index, another format version, a file name that leads out of the directory, and a
    missing, linked, truncated or changed file."""
    path = os.path.join(directory, INDEX)
    if os.path.islink(path):
        raise PresetError(f"{where}: {INDEX} is a link ({os.path.realpath(path)}); a preset's files lie in its own "
                          "directory. Refusing to read it; get the preset again.")
    if not os.path.isfile(path):
        raise PresetError(f"{where} is not an imgtf preset (no {INDEX} in {directory}). A preset is a directory "
                          "written by imgtf.save_preset; a run directory is loaded with imgtf.load_run.")
    if os.path.getsize(path) > MAX_INDEX_BYTES:
        raise PresetError(f"{where}: {INDEX} is {os.path.getsize(path):,} bytes, not an index of a few kB; "
                          "get the preset again.")
    try:
        with open(path) as f:
            index = json.load(f)
    except (OSError, ValueError) as e:
        raise PresetError(f"{where}: {INDEX} is unreadable ({type(e).__name__}: {e}); get the preset again.") from None
    if not isinstance(index, dict):
        raise PresetError(f"{where}: {INDEX} is not an index (a JSON object); get the preset again.")
    version = index.get("format_version")
    if version != FORMAT_VERSION:
        raise PresetError(f"{where} has preset format_version {version!r}; this imgtf reads format_version "
                          f"{FORMAT_VERSION}. Use the imgtf version that wrote it, or ask its author for a preset "
                          "saved by this one.")
    files = index.get("files")
    if not isinstance(files, dict) or not all(isinstance(v, dict) for v in files.values()):
        raise PresetError(f"{where}: {INDEX} lists no files; get the preset again.")
    for name in REQUIRED:
        if name not in files:
            raise PresetError(f"{where}: {INDEX} lists no {name}; a preset needs {' and '.join(REQUIRED)}.")
    real = os.path.realpath(directory)
    for name, expected in files.items():
        check_file(directory, real, name, expected, where)
    return index


def check_file(directory, real, name, expected, where):
    """One listed file: a plain name, a regular file inside the preset, of the listed size and digest."""
    if (not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\\" in name
            or os.path.isabs(name) or name != os.path.basename(name)):
        raise PresetError(f"{where}: {INDEX} names the file {name!r}, which is not a plain name inside the preset: "
                          "a preset's files lie in its own directory. Refusing to read it.")
    path = os.path.join(directory, name)
    if os.path.islink(path) or os.path.dirname(os.path.realpath(path)) != real:
        raise PresetError(f"{where}: {name} is a link ({os.path.realpath(path)}); a preset's files lie in its own "
                          "directory. Refusing to read it; get the preset again.")
    if not os.path.isfile(path):
        raise PresetError(f"{where}: {name} is missing ({INDEX} lists it); get the whole preset again.")
    size, sha = digest(path)
    if size != expected.get("bytes") or sha != expected.get("sha256"):
        what = ("truncated" if isinstance(expected.get("bytes"), int) and size < expected["bytes"] else "changed")
        raise PresetError(f"{where}: {name} is {what} ({size:,} bytes, {INDEX} lists {expected.get('bytes')!r} with "
                          "another SHA-256): the download or copy was incomplete or the file was edited. Get the "
                          "preset again.")
