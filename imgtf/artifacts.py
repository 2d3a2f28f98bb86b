"""Output directories written whole or not at all, and replaced only when they are what imgtf wrote.

An export, an average or a decoder's output is several files that are only right together. Each is written into a
staging directory beside its target (`TARGET.partial-PID`), a manifest (`MANIFEST`: the writer, its details and the
files it wrote) last, and renamed into place: a reader sees the old directory or the new one, never a mix, and a
killed writer leaves only a staging directory, which the next writer to that target removes. An existing target is
replaced only if its manifest says imgtf wrote it and it holds nothing else (not another run, not a user's folder,
not files added since, such as evaluations of an averaged run)."""
import contextlib
import glob
import json
import os
import shutil

MANIFEST = "imgtf-output.json"
KEPT = (".imgtf.lock",)  # what a command may have created in the target itself while it ran


class OutputError(ValueError):
    """An output directory that imgtf will not write or replace; the message says what to choose instead."""


def check_replaceable(target, writer, flag):
    """Refuse `target` (named by `flag` in messages) unless it is absent, empty, or an earlier output of `writer`
    holding only the files its manifest lists."""
    if not os.path.lexists(target):
        return
    if os.path.islink(target) or not os.path.isdir(target):
        raise OutputError(f"{flag}={target} is {'a link' if os.path.islink(target) else 'a file'}, not a directory "
                          "imgtf wrote: choose a new directory.")
    entries = sorted(set(os.listdir(target)) - set(KEPT))
    if not entries:
        return
    manifest = read_manifest(target)
    if manifest is None or manifest.get("writer") != writer:
        shown = ", ".join(entries[:6]) + (f" and {len(entries) - 6} more" if len(entries) > 6 else "")
        what = f"an output of {manifest['writer']}" if manifest else f"files {writer} did not write ({shown})"
        raise OutputError(f"{flag}={target} already holds {what}: writing there would replace it. Choose a new "
                          "directory, or remove that one yourself.")
    added = [e for e in entries if e != MANIFEST and e not in manifest.get("files", [])]
    if added:
        raise OutputError(f"{flag}={target} holds files added since {writer} wrote it ({', '.join(added[:6])}): "
                          "replacing it would delete them. Choose a new directory, or move them out first.")


def read_manifest(directory):
    """The manifest of an output directory, or None if it has none (or an unreadable one)."""
    try:
        with open(os.path.join(directory, MANIFEST)) as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


@contextlib.contextmanager
def staged(target, writer, **details):
    """Yield a fresh staging directory for `target`; when the block ends without an error, write the manifest
    (`writer`, `details`, the files written) and put the directory in place of `target` by renames. On an error the
    staging directory is removed and `target` is as it was. Call `check_replaceable` first."""
    base = os.path.abspath(target).rstrip(os.sep)
    remove_leftovers(base)
    staging = f"{base}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    try:
        yield staging
        manifest = {"writer": writer, **details, "files": sorted(os.listdir(staging))}
        with open(os.path.join(staging, MANIFEST), "w") as f:
            json.dump(manifest, f, indent=1, sort_keys=True)
        _commit(staging, base)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def remove_leftovers(base):
    """Clean up after writers that were killed: remove their staging directories, and put back an earlier output that
    one had moved aside (killed between its two renames, it left no `base`), or remove it once `base` is there."""
    for leftover in glob.glob(glob.escape(base) + ".replaced-*") + glob.glob(glob.escape(base) + ".partial-*"):
        pid = leftover.rsplit("-", 1)[-1]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        if ".replaced-" in leftover and not os.path.lexists(base):
            os.rename(leftover, base)
        else:
            shutil.rmtree(leftover, ignore_errors=True)


def _commit(staging, base):
    if os.path.lexists(base):
        replaced = f"{base}.replaced-{os.getpid()}"
        os.rename(base, replaced)
        os.rename(staging, base)
        shutil.rmtree(replaced, ignore_errors=True)
    else:
        os.rename(staging, base)


def remove_dead_temporaries(paths):
    """Remove the temporary files (`PATH.tmp-PID*`) that writers of these paths left when they were killed: a file
    is written under such a name and renamed into place, so one whose process is gone was never finished."""
    for path in paths:
        for leftover in glob.glob(glob.escape(path) + ".tmp-*"):
            pid = leftover[len(path) + len(".tmp-"):].split(".")[0]
            if pid.isdigit() and not _alive(int(pid)):
                os.remove(leftover)


def _alive(pid):
    """Whether another process with this id runs (ours counts as gone: its staging is being remade)."""
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
