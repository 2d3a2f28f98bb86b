"""The table of registered hparams sets in docs/hparams.md: one line per set, with its model, parameter count as
built for the problem it is registered for, and its docstring (the paper result it targets, how it differs).

    python bench/hparams_table.py               # writes docs/results/hparams_table.md and .json
"""
import imgtf  # noqa: F401  (TensorFlow's environment defaults)
from imgtf import catalog, registry
from common import run_with_results


def main():
    catalog.load_builtins()
    print("| hparams set | model | parameters | what it targets |")
    print("|---|---|---:|---|")
    for name in registry.hparams_sets.names():
        model_name, problem_name = registry.model_and_problem_of(name)
        problem = registry.problem(problem_name)
        model = registry.model(model_name)(registry.hparams(name), problem.info)
        features = {"targets": __import__("numpy").zeros((1, *problem.image_shape), "uint8"),
                    "label": __import__("numpy").zeros((1,), "int32")}
        if problem.input_shape:
            features["inputs"] = __import__("numpy").zeros((1, *problem.input_shape), "uint8")
        model(features)
        doc = " ".join((registry.hparams_sets.get(name).__doc__ or "").split())
        print(f"| `{name}` | `{model_name}` | {model.count_params():,} | {doc} |", flush=True)


if __name__ == "__main__":
    run_with_results("hparams_table", main)
