"""Artifacts made once per test session and shared by every xdist worker: trained runs, exports, measured figures.

The first worker that asks for one makes it under an exclusive file lock in the session's common temp directory;
the others wait for the lock, then find it done. Consumers read them and never write into them (copy first)."""
import contextlib
import fcntl
import json
import os
import shutil


def session_root(tmp_path_factory):
    """A directory common to all workers of this session (xdist gives each worker its own basetemp below it)."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    path = root / "shared"
    path.mkdir(exist_ok=True)
    return path


@contextlib.contextmanager
def _locked(path):
    with open(f"{path}.lock", "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def directory(tmp_path_factory, name, make):
    """The shared directory `name`, made by make(path) the first time (a failed make leaves nothing behind)."""
    path = session_root(tmp_path_factory) / name
    with _locked(path):
        if not (path / ".done").exists():
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir()
            make(path)
            (path / ".done").write_text("")
    return path


def value(tmp_path_factory, name, compute):
    """A JSON value computed once per session by compute()."""
    path = session_root(tmp_path_factory) / f"{name}.json"
    with _locked(path):
        if not path.exists():
            result = compute()
            path.write_text(json.dumps(result))
            return result
    return json.loads(path.read_text())


def copy(source, target):
    """A private copy of a shared run (for a test that writes into it), without the sharing marker."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".done", ".imgtf.lock"))
    return target
