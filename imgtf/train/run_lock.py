"""One writer per run directory: an exclusive lock that every command writing into `--output_dir` holds.

Two trainers on one run directory would both restore the same checkpoint, both write `ckpt-N` under the same
names and interleave `metrics.jsonl`. The lock is an `flock` on OUTPUT_DIR/.imgtf.lock, held for the life of the
process and released by the operating system however the process ends (even `kill -9`), so a crash never leaves a
stale lock behind. The file records the holder (pid, host, command, start time) for the refusal message.
`flock` needs a local or POSIX file system; on object stores (gs://, s3://) there is nothing to lock and the run
relies on one chief writing, as TensorFlow's own checkpoints do.

Taking the lock is also where a run directory is checked to be a closed world: a symbolic link inside it (planted in
a run received from someone else, or left by a copy) would make the next write land outside it, so it is refused
before anything is written, the lock file included.
"""
import datetime
import json
import os
import socket
import sys

LOCK_FILE = ".imgtf.lock"
_held = {}  # output_dir (absolute) -> open file object: kept open (and so locked) until the process exits


class RunLockedError(RuntimeError):
    pass


class RunLinkError(ValueError):
    """A run directory holds a symbolic link: writes through it would change files outside the run."""


def check_no_links(output_dir):
    """Refuse a run directory with a symbolic link anywhere inside it (the directory itself may be one)."""
    for root, dirs, files in os.walk(output_dir):
        for name in sorted(dirs + files):
            path = os.path.join(root, name)
            if os.path.islink(path):
                raise RunLinkError(
                    f"{path} is a symbolic link (to {os.readlink(path)}): imgtf writes only files of the run's own "
                    f"inside {output_dir}, and writing through the link would change a file outside it. Replace the "
                    "link with a copy of what it points to, or remove it.")


def acquire(output_dir):
    """Take the run directory's lock (creating the directory), or raise RunLockedError naming the holder. Taking
    it twice in one process is a no-op."""
    if "://" in output_dir:
        return None
    import fcntl

    key = os.path.abspath(output_dir)
    if key in _held:
        return _held[key]
    os.makedirs(output_dir, exist_ok=True)
    check_no_links(output_dir)
    path = os.path.join(output_dir, LOCK_FILE)
    handle = os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644), "a+")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = _describe(handle.read())
        handle.close()
        raise RunLockedError(
            f"{output_dir} is in use by another imgtf process ({holder}). Two writers would overwrite each "
            f"other's checkpoints and metrics: wait for it to finish, stop it, or use another --output_dir.") from None
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv),
                             "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}))
    handle.flush()
    _held[key] = handle
    return handle


def release(output_dir):
    """Give the lock up before the process ends (tests, or a library user running several runs in turn)."""
    handle = _held.pop(os.path.abspath(output_dir), None)
    if handle is not None:
        handle.close()  # closing the descriptor releases the flock


def _describe(text):
    try:
        info = json.loads(text)
        return f"pid {info['pid']} on host {info['host']}, started {info['started']}: {info['command']}"
    except (ValueError, KeyError, TypeError):
        return "its holder did not record itself"
