"""How sure are two bits/dim apart? `imgtf-compare` on real runs of the shipped CIFAR-10 sample, each evaluated on
all 1,017 test images: the paired difference with its 95% interval, next to the two evaluations' own intervals.

  1. The README's quickstart run (imagetransformer_cifar10_tiny, 300 steps; a checkpoint every 50 steps here)
     against `imgtf-average` of its last 3 checkpoints (steps 200, 250, 300).
  2. Two tiny sets on the same split: the quickstart run against pixelcnn_pp_cifar10_tiny trained 300 steps.

    python bench/paired_comparisons.py        # about 10 minutes on 2 CPU cores; writes docs/results/paired_comparisons.*
"""
import os
import shlex
import tempfile

from common import REPO, record, run_with_results
from quickstart import quickstart_command

DATA = os.path.join(REPO, "examples", "data", "cifar10")


def imgtf(name, *args):
    """imgtf-<name> in this process, its printed lines kept out of the report; its exit status must be 0."""
    import contextlib
    import importlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        code = importlib.import_module(f"imgtf.commands.{name}").main(list(args))
    if code:
        raise SystemExit(f"imgtf-{name} {' '.join(args)} exited {code}")


def evaluation_line(name, run):
    from imgtf.train.metrics import read_metrics

    e = read_metrics(run)[-1]
    return (f"| {name} | {e['step']} | {e['bits_per_dim']:.4f} | {e['bits_per_dim_se']:.4f} | "
            f"{e['bits_per_dim_ci95_low']:.4f} to {e['bits_per_dim_ci95_high']:.4f} | {e['num_images']} |")


def comparison_lines(title, comparison, runs):
    return [f"**{title}**", "", "```", comparison.text().replace(runs, "runs"), "```", ""]


def main():
    from imgtf.evaluation.comparison import compare

    with tempfile.TemporaryDirectory() as runs:
        quick = os.path.join(runs, "quickstart")
        words = [w.replace("runs/", f"{runs}/") for w in shlex.split(quickstart_command())[1:]]
        imgtf("trainer", *words, "--checkpoint_every_steps=50")
        imgtf("average", f"--output_dir={quick}", f"--to_dir={quick}_avg", "--num_last=3")
        imgtf("trainer", f"--output_dir={quick}_avg", f"--data_dir={DATA}", "--schedule=eval")
        imgtf("trainer", "--problem=image_cifar10", "--hparams_set=pixelcnn_pp_cifar10_tiny", f"--data_dir={DATA}",
              f"--output_dir={runs}/pixelcnn_pp", "--train_steps=300", "--checkpoint_every_steps=300")
        averaged = compare(f"{quick}_avg", quick)
        families = compare(f"{runs}/pixelcnn_pp", quick)
        rows = [evaluation_line("quickstart (imagetransformer_cifar10_tiny)", quick),
                evaluation_line("imgtf-average of its checkpoints 200, 250, 300", f"{quick}_avg"),
                evaluation_line("pixelcnn_pp_cifar10_tiny", f"{runs}/pixelcnn_pp")]
        texts = (comparison_lines("A = the averaged checkpoints, B = the last checkpoint", averaged, runs)
                 + comparison_lines("A = pixelcnn_pp_cifar10_tiny, B = the quickstart's Image Transformer", families,
                                    runs))
    print(f"`{quickstart_command()} --checkpoint_every_steps=50`, then `imgtf-average --num_last=3`, and "
          "pixelcnn_pp_cifar10_tiny for 300 steps; each evaluated on the 1,017 test images (uniform: 8.0 bits/dim).\n")
    print("| run | step | bits/dim | SE | 95% CI | test images |")
    print("|---|---:|---:|---:|---|---:|")
    print("\n".join(rows) + "\n")
    print("\n".join(texts))
    record(averaged_vs_last=averaged.to_dict(), pixelcnn_pp_vs_quickstart=families.to_dict())


if __name__ == "__main__":
    run_with_results("paired_comparisons", main)
