"""One registry for problems, models, hparams sets and likelihoods, found by snake_case name.

Usage:
    @register_problem            # registered as "image_cifar10" from class ImageCifar10
    class ImageCifar10(Problem): ...

    @register_hparams(model="image_transformer", problem="image_cifar10")   # the set's model (and problem)
    def my_set(): ...

Registration happens when the module holding the decorator is imported: the built-in ones by
`imgtf.catalog.load_builtins()`, a user's by `import_usr_dir`. This module imports nothing of imgtf, so any
module may import it.
"""
import difflib
import hashlib
import importlib
import importlib.util
import os
import re
import sys

LIST_HINT = "Run `imgtf-trainer --registry_help` to list every registered problem, model and hparams set."


class RegistryError(LookupError):
    """Base class of registry errors; its message is meant for the user as it stands."""

    def __str__(self):
        return self.args[0] if self.args else ""


class UnknownNameError(RegistryError, KeyError):
    pass


class DuplicateNameError(RegistryError, ValueError):
    pass


def snake_case(name):
    """`ImageCifar10` -> `image_cifar10`, `PixelCNN` -> `pixel_cnn`, `my_func` -> `my_func`."""
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    name = re.sub(r"([a-z])([A-Z])", r"\1_\2", name)
    return name.lower()


class Registry:
    """A name -> object table with decorator registration and helpful lookup errors."""

    def __init__(self, kind):
        self.kind = kind  # "problem", "model", "hparams set"
        self._entries = {}

    def register(self, name_or_obj=None):
        """Decorator; usable bare (`@register`) or with a name (`@register("name")`)."""

        def decorate(obj, name=None):
            key = name or snake_case(obj.__name__)
            if key in self._entries and self._entries[key] is not obj:
                previous = self._entries[key]
                raise DuplicateNameError(
                    f"{self.kind} {key!r} is already registered (by {_where(previous)}); "
                    f"cannot register {_where(obj)} under the same name. Pick another name, "
                    f"e.g. @register_{self.kind.split()[0]}(\"{key}_v2\")."
                )
            self._entries[key] = obj
            obj.registered_name = key
            return obj

        if name_or_obj is None:
            return decorate
        if isinstance(name_or_obj, str):
            return lambda obj: decorate(obj, name_or_obj)
        return decorate(name_or_obj)

    def get(self, name):
        if name in self._entries:
            return self._entries[name]
        close = difflib.get_close_matches(name, list(self._entries), n=3, cutoff=0.5)
        if not close:  # also suggest names that contain what was typed
            close = [k for k in sorted(self._entries) if name and name in k][:3]
        suggestion = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UnknownNameError(f"Unknown {self.kind} {name!r}.{suggestion} {LIST_HINT}")

    def names(self):
        return sorted(self._entries)

    def __contains__(self, name):
        return name in self._entries

    def unregister(self, name):
        """Remove an entry (for tests and interactive re-definition)."""
        self._entries.pop(name, None)


def _where(obj):
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


problems = Registry("problem")
models = Registry("model")
hparams_sets = Registry("hparams set")
likelihoods = Registry("likelihood")

register_problem = problems.register
register_model = models.register
register_likelihood = likelihoods.register


def register_hparams(name_or_fn=None, *, model=None, problem=None):
    """Register an hparams set, naming the model it is written for (and the problem it targets by default):
    `@register_hparams(model="image_transformer", problem="image_cifar10")`. Bare `@register_hparams` registers a
    set of no declared model (then --model is required with it)."""

    def declare(fn):
        fn.model_name, fn.problem_name = model, problem
        return fn

    if callable(name_or_fn):
        return hparams_sets.register(declare(name_or_fn))
    return lambda fn: hparams_sets.register(name_or_fn)(declare(fn))


def model_and_problem_of(set_name):
    """(model name or None, problem name or None) that hparams set `set_name` was registered with."""
    fn = hparams_sets.get(set_name)
    return getattr(fn, "model_name", None), getattr(fn, "problem_name", None)


def problem(name):
    """The registered Problem instance for `name`."""
    return problems.get(name)()


def model(name):
    return models.get(name)


def hparams(name):
    """The HParams built by the registered set `name` (a fresh object on every call)."""
    return hparams_sets.get(name)()


class UsrDirError(RegistryError, ImportError):
    pass


def import_usr_dir(usr_dir, argument="--usr_dir"):
    """Import a user's directory of modules so that their registrations take effect (`argument`: how messages name
    where the directory was given: the flag, or a Python argument).

    A directory with an `__init__.py` is imported as a package (its `__init__` decides what to import);
    otherwise every `*.py` file in it is imported as a module, in name order.
    """
    if not usr_dir:
        return
    path = os.path.abspath(os.path.expanduser(usr_dir))
    if not os.path.isdir(path):
        raise UsrDirError(f"{argument}={usr_dir!r}: no such directory ({path}).")
    parent, package = os.path.split(path.rstrip(os.sep))
    if os.path.exists(os.path.join(path, "__init__.py")):
        if package in sys.modules and getattr(sys.modules[package], "__file__", "").startswith(path):
            return
        files = [(package, os.path.join(path, "__init__.py"), [path])]
    else:
        folder_id = hashlib.sha256(path.encode()).hexdigest()[:8]  # two folders of one name are two sets of modules
        files = [
            (f"imgtf_usr_{snake_case(package)}_{folder_id}_{f[:-3]}", os.path.join(path, f), None)
            for f in sorted(os.listdir(path))
            if f.endswith(".py") and not f.startswith("_")
        ]
        if not files:
            raise UsrDirError(f"{argument}={usr_dir!r} holds no Python modules (*.py) to import.")
    for module_name, file, search in files:
        if module_name in sys.modules:
            continue
        spec = importlib.util.spec_from_file_location(module_name, file, submodule_search_locations=search)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except RegistryError:
            del sys.modules[module_name]
            raise
        except Exception as e:  # the user's code failed: say which file, keep the cause chained
            del sys.modules[module_name]
            raise UsrDirError(f"Importing {file} from {argument} failed: {type(e).__name__}: {e}") from e


def registry_help():
    """Every registered name, as printed by `--registry_help`."""
    lines = []
    for table, title in ((problems, "Problems"), (models, "Models"), (hparams_sets, "Hparams sets"),
                         (likelihoods, "Likelihoods")):
        lines.append(f"{title}:")
        for name in table.names():
            obj = table.get(name)
            doc = (obj.__doc__ or "").strip().splitlines()
            model = f"[{obj.model_name}] " if getattr(obj, "model_name", None) else ""
            lines.append(f"  {name:<42} {model}{doc[0] if doc else ''}".rstrip())
        lines.append("")
    return "\n".join(lines)
