"""The package's structure, as docs/architecture.md states it: every module imports only its own layer or the layers
below it, no import circle among imgtf's modules, the registry imports nothing of imgtf, importing the hparams
container registers nothing, and every registered set names its model."""
import ast
import os
import subprocess
import sys

from conftest import REPO

PACKAGE = os.path.join(REPO, "imgtf")

# imgtf's top-level modules and packages from the bottom layer up (docs/architecture.md, "Layers"). A module may
# import modules of its own layer and of the layers below, never above: what is shared moves down.
LAYERS = (
    {"registry", "trusted_code", "errors", "units", "progress", "artifacts", "machine", "hparams"},
    {"data", "problems"},
    {"layers", "likelihoods"},
    {"sampling"},
    {"models"},
    {"train", "export"},
    {"evaluation"},
    {"commands", "api", "catalog", "presets", "imgtf"},
)


def module_files():
    """{module name: file} of every module of the package."""
    found = {}
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                parts = os.path.relpath(path, REPO)[:-3].split(os.sep)
                found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def import_graph(modules=None):
    """{module: set of imgtf modules it imports}, counting imports anywhere in the file (inside functions too: they
    run later, but they are still a dependency). `from a import b` names module a.b if it is one, else a. Imports by
    name count too: a string naming a module (importlib.import_module("imgtf.x")), and, in a module that walks
    packages (pkgutil), every module under a package it names."""
    modules = modules or module_files()
    graph = {}
    for name, path in modules.items():
        source = open(path).read()
        targets = set()
        for node in ast.walk(ast.parse(source, path)):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets.update(f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules
                               else node.module for alias in node.names)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "." in node.value \
                    and node.value in modules:  # (a bare "imgtf" is a logger or Keras package name)
                targets.add(node.value)
                if "walk_packages" in source:
                    targets.update(m for m in modules if m.startswith(node.value + "."))
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def layer_of(module):
    """The index in LAYERS of a module's top-level part of imgtf ("imgtf" itself for the package's __init__)."""
    part = module.split(".")[1] if "." in module else module
    for index, layer in enumerate(LAYERS):
        if part in layer:
            return index
    raise AssertionError(f"{module}: imgtf.{part} is in no layer; add it to LAYERS and docs/architecture.md")


def upward_imports(graph):
    """(importer, imported) pairs where the imported module sits in a higher layer than its importer."""
    return sorted((a, b) for a, targets in graph.items() for b in targets if layer_of(b) > layer_of(a))


def cycles(graph):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_module_imports_only_its_layer_and_below():
    assert upward_imports(import_graph()) == []


def test_an_upward_import_inside_a_function_breaks_the_layering(tmp_path):
    """The check sees an import that runs only when a function is called, and one by name."""
    module = tmp_path / "upward.py"
    module.write_text("import importlib\n\ndef grid(run):\n    from imgtf.train import trainer\n"
                      "    return importlib.import_module('imgtf.evaluation.evaluator')\n")
    graph = import_graph({**module_files(), "imgtf.data.upward": str(module)})
    assert [pair for pair in upward_imports(graph) if pair[0] == "imgtf.data.upward"] == [
        ("imgtf.data.upward", "imgtf.evaluation.evaluator"), ("imgtf.data.upward", "imgtf.train.trainer")]


def test_no_import_circle_among_the_packages_modules():
    graph = import_graph()
    assert len(graph) > 60  # the walk found the package
    assert "imgtf.models.pixel_rnn.row_lstm" in graph["imgtf.catalog"]  # imports by name are counted
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_registry_imports_nothing_of_imgtf():
    assert import_graph()["imgtf.registry"] == set()


def test_the_public_names_load_without_tensorflow_and_register_nothing():
    """What a user's problem and set need comes from `imgtf` alone, without TensorFlow: importing registers nothing
    but the generic problem that ImageFolderProblem's module defines, and `imgtf.hparams_set` loads the registered
    sets only (no model, no other problem, no TensorFlow)."""
    code = ("import sys; from imgtf import (Problem, ImageFolderProblem, HParams, Likelihood, training_params, "
            "register_problem, register_hparams, register_model, register_likelihood, hparams_set); "
            "from imgtf import registry; before = len(registry.hparams_sets.names()); "
            "hp = hparams_set('imagetransformer_cifar10_tiny'); "
            "print(before, len(registry.models.names()), ','.join(registry.problems.names()), hp.hidden_size > 0, "
            "'tensorflow' in sys.modules, 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.stdout.split() == ["0", "0", "image_folder", "True", "False", "False"], out.stderr[-2000:]


def test_every_registered_set_declares_a_registered_model_and_problem(builtins):
    for name in builtins.hparams_sets.names():
        model, problem = builtins.model_and_problem_of(name)
        assert model in builtins.models, name
        assert problem in builtins.problems, name
