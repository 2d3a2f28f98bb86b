"""The README's quickstart as a user runs it: its `imgtf-trainer` command in a fresh process from the repository
root, into a fresh run directory; reports the final evaluation line, bits/dim against uniform (8.0) and the
wall-clock time.

    python bench/quickstart.py                 # writes docs/results/quickstart.md and .json
"""
import json
import os
import re
import shlex
import subprocess
import tempfile
import time

from common import REPO, record, run_with_results


def quickstart_command():
    """The README's `imgtf-trainer` line of its first code block (continuation lines joined)."""
    readme = open(os.path.join(REPO, "README.md")).read()
    block = readme.split("```bash\n", 1)[1].split("```", 1)[0].replace("\\\n", " ")
    return next(line.strip() for line in block.splitlines() if line.strip().startswith("imgtf-trainer"))


def main():
    command = quickstart_command()
    with tempfile.TemporaryDirectory() as runs:
        words = [w.replace("runs/", f"{runs}/") if w.startswith("--output_dir=") else w for w in shlex.split(command)]
        start = time.time()
        proc = subprocess.run(words, cwd=REPO, capture_output=True, text=True)
        seconds = time.time() - start
        if proc.returncode:
            raise SystemExit(f"the quickstart failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
        metrics = [json.loads(line) for line in open(os.path.join(runs, "quickstart", "metrics.jsonl"))]
    final = metrics[-1]
    line = next(l for l in proc.stdout.splitlines() if l.startswith("bits_per_dim"))
    line = re.sub(r"metrics in \S+", "metrics in runs/quickstart/metrics.jsonl", line)
    print(f"`{command}`\n")
    print("| | bits/dim on the test split | nats/image | test images | uniform | wall-clock (train + evaluation) |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| quickstart | {final['bits_per_dim']:.4f} | {final['nats_per_image']:.1f} | {final['num_images']} | 8.0 | "
          f"{seconds / 60:.1f} min |")
    print(f"\nIts last line: `{line}`")
    record(bits_per_dim=final["bits_per_dim"], nats_per_image=final["nats_per_image"],
           num_images=final["num_images"], seconds=seconds, step=final["step"])


if __name__ == "__main__":
    run_with_results("quickstart", main)
