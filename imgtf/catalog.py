"""The built-in problems, likelihoods, models and hparams sets: `load_builtins()` imports every module that registers
one, found by walking the packages below, so adding a problem, a likelihood or a model family is adding its files
(nothing here to edit). No other import registers anything; importing this module alone registers nothing."""
import importlib
import pkgutil

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
