"""The built-in problems, likelihoods, models and hparams sets: `load_builtins()` imports every module that registers
one, found by walking the packages below, so adding a problem, a likelihood or a model family is adding its files
(nothing here to edit). No other import registers anything; importing this module alone registers nothing.
`hparams_set(name)` loads the sets alone (no model code, no TensorFlow)."""
import importlib
import pkgutil

from imgtf import registry

# packages whose every module (and subpackage) may register something
BUILTIN_PACKAGES = ("imgtf.problems", "imgtf.likelihoods", "imgtf.models")


def builtin_modules():
    """Names of every module under BUILTIN_PACKAGES, sorted (so registration order is the same everywhere)."""
    names = []
    for package_name in BUILTIN_PACKAGES:
        package = importlib.import_module(package_name)
        names += [info.name for info in pkgutil.walk_packages(package.__path__, package_name + ".")]
    return sorted(names)


def load_builtins():
    """Import the built-in registrations (idempotent: Python imports a module once)."""
    for name in builtin_modules():
        importlib.import_module(name)


def load_builtin_hparams_sets():
    """Import only the built-in hparams sets (each family's `hparams_sets` module): no model code, no TensorFlow."""
    for name in builtin_modules():
        if name.rsplit(".", 1)[-1] == "hparams_sets":
            importlib.import_module(name)


def hparams_set(name):
    """A fresh HParams of the registered set `name` (built in, or from a --usr_dir already imported): the way to
    start a set of your own from one of ours. Loads no model code."""
    load_builtin_hparams_sets()
    return registry.hparams(name)
