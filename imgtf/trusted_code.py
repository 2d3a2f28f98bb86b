"""Which user code this machine's user has asked imgtf to run: the trust rule for code a run only names.

A run remembers the `--usr_dir` it was created with, so later commands on it work without the flag. But a run can
come from someone else, and its hparams.json can name any folder. So a remembered folder is imported only when its
modules are, byte for byte, ones this user imported with an explicit `--usr_dir` (or `usr_dir=`) on this machine:
each explicit import records the folder's resolved path and a SHA-256 of its modules in a file of the user's own
(`$IMGTF_HOME/trusted_code.json`, default `~/.imgtf`), never in the run. Anything else (another path, an edited or
added file) is refused with the files it would run, until the user passes the folder explicitly or opts in
(`--trust_usr_dir`, `trust_code=True`). The file lists hashes, not code, and imports nothing itself."""
import hashlib
import json
import os

HOME_VARIABLE = "IMGTF_HOME"
TRUST_FILE = "trusted_code.json"


def home():
    """imgtf's per-user folder: $IMGTF_HOME, else ~/.imgtf."""
    return os.path.abspath(os.path.expanduser(os.environ.get(HOME_VARIABLE) or os.path.join("~", ".imgtf")))


def modules_of(folder):
    """The Python files an import of `folder` can run (every *.py below it, symlinks followed), sorted, relative."""
    found = []
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        found += [os.path.relpath(os.path.join(root, f), folder) for f in files if f.endswith(".py")]
    return sorted(found)


def fingerprint(folder):
    """A SHA-256 over the names and bytes of the folder's Python files: any edit, added or removed file changes it."""
    digest = hashlib.sha256()
    for name in modules_of(folder):
        with open(os.path.join(folder, name), "rb") as f:
            content = f.read()
        digest.update(f"{name}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()


def _read():
    path = os.path.join(home(), TRUST_FILE)
    try:
        with open(path) as f:
            entries = json.load(f)
    except (OSError, ValueError):
        return {}  # none yet, or unreadable: nothing is trusted (a rewrite replaces it)
    return entries if isinstance(entries, dict) else {}


def remember(folder):
    """Record that the user imported `folder` as it is now. Best effort: a read-only home only means the next command
    asks again."""
    path = os.path.realpath(folder)
    entries = _read()
    entries[path] = fingerprint(path)
    target = os.path.join(home(), TRUST_FILE)
    try:
        os.makedirs(home(), exist_ok=True)
        tmp = f"{target}.tmp-{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(entries, f, indent=1, sort_keys=True)
        os.replace(tmp, target)
    except OSError:
        pass


def is_trusted(folder):
    """Whether `folder`'s Python files are exactly those the user last imported from that (resolved) path."""
    path = os.path.realpath(folder)
    return _read().get(path) == fingerprint(path)
