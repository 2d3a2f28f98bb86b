"""The README's test command on a fresh clone of the current commit, as `.ci/run` runs it: the wall-clock time of
each run (the install not counted; it is timed separately), the tests passed and skipped, and the 15 slowest.

    python bench/test_suite.py --runs=3                       # writes docs/results/test_suite.md and .json
    python bench/test_suite.py --runs=2 --baseline=d94cf0f    # and that commit's suite, in turns: A B A B

A shared machine's speed drifts from minute to minute and from day to day, so a suite time alone is not comparable
across days. With --baseline, a fresh clone of that commit runs its own suite in turns with this one's, and each pair
gives a ratio (this / baseline) measured under the same conditions; the baseline's time on an earlier day then says
what this one's would have been.
"""
import argparse
import configparser
import os
import re
import statistics
import subprocess
import tempfile
import time

from common import REPO, record, run_with_results

_INI = configparser.ConfigParser()
_INI.read(os.path.join(REPO, "pytest.ini"))
BUDGET_S = float(_INI["pytest"]["suite_budget_s"])  # the suite's budget on a 2-core CPU machine, as pytest reports it


def fresh_clone(root, name, commit):
    """A clone of `commit` with imgtf installed into its own new virtual environment; the install's seconds."""
    clone = os.path.join(root, name)
    subprocess.run(["git", "clone", "-q", REPO, clone], check=True)
    subprocess.run(["git", "checkout", "-q", "--detach", commit], cwd=clone, check=True)
    start = time.time()
    subprocess.run("python3 -m venv .venv && . .venv/bin/activate && pip install -q -e '.[test]'", shell=True,
                   cwd=clone, check=True, capture_output=True)
    return clone, time.time() - start


def run_suite(clone):
    start = time.time()
    proc = subprocess.run(". .venv/bin/activate && python -m pytest -q tests -p no:cacheprovider", shell=True,
                          cwd=clone, capture_output=True, text=True)
    seconds = time.time() - start
    lines = proc.stdout.strip().splitlines()
    summary = next((line for line in reversed(lines) if re.search(r"\d+ (passed|failed)", line)),
                   lines[-1] if lines else f"exit {proc.returncode}")
    slowest = re.findall(r"^\s*([\d.]+)s (call|setup)\s+(\S+)", proc.stdout, flags=re.M)[:15]
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", proc.stdout, flags=re.M)
    return {"seconds": seconds, "returncode": proc.returncode, "summary": summary.strip("= "), "slowest": slowest,
            "failed": failed}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline", default="", help="a commit whose suite runs in turns with this one's")
    args = parser.parse_args()
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                          check=True).stdout.strip()
    runs, baseline_runs = [], []
    with tempfile.TemporaryDirectory() as root:
        clone, install_s = fresh_clone(root, "imgtf", head)
        base = fresh_clone(root, "baseline", args.baseline)[0] if args.baseline else None
        for _ in range(args.runs):
            runs.append(run_suite(clone))
            if base:
                baseline_runs.append(run_suite(base))
    print(f"`python -m pytest -q tests` on a fresh clone ({os.cpu_count()} CPU cores; the install, "
          f"`pip install -e '.[test]'` into a new virtual environment, took {install_s / 60:.1f} min once). "
          f"Budget: {BUDGET_S / 60:.0f} min."
          + (f" In turns with a fresh clone of {args.baseline} (B): A B A B ..." if base else "") + "\n")
    if base:
        print(f"| run | {head}: wall-clock | result | within the budget | {args.baseline}: wall-clock | result "
              "| A / B |")
        print("|---:|---:|---|---|---:|---|---:|")
    else:
        print("| run | wall-clock | result | within the budget |")
        print("|---:|---:|---|---|")
    for i, r in enumerate(runs, 1):
        row = (f"| {i} | {r['seconds'] / 60:.2f} min | {r['summary']} | "
               f"{'yes' if r['seconds'] < BUDGET_S and r['returncode'] == 0 else 'no'} |")
        if base:
            b = baseline_runs[i - 1]
            row += f" {b['seconds'] / 60:.2f} min | {b['summary']} | {r['seconds'] / b['seconds']:.3f} |"
        print(row)
    if base:
        ratios = [a["seconds"] / b["seconds"] for a, b in zip(runs, baseline_runs)]
        print(f"\nA / B, the median of the pairs: {statistics.median(ratios):.3f}.")
    for label, group in (("Run", runs), ("Baseline run", baseline_runs)):
        for i, r in enumerate(group, 1):
            if r["failed"] or r["returncode"]:
                print(f"\n{label} {i} exited {r['returncode']}: " + ", ".join(f"`{n}`" for n in r["failed"]))
    print("\nThe slowest tests of the last run:\n")
    print("| seconds | phase | test |")
    print("|---:|---|---|")
    for seconds, phase, test in runs[-1]["slowest"]:
        print(f"| {seconds} | {phase} | `{test}` |")
    record(install_s=install_s, runs=runs, baseline=args.baseline, baseline_runs=baseline_runs)


if __name__ == "__main__":
    run_with_results("test_suite", main)
