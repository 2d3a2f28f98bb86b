"""The README's test command on a fresh clone of the current commit, as `.ci/run` runs it: the wall-clock time of
each run (the install not counted; it is timed separately), the tests passed and skipped, and the 15 slowest.

    python bench/test_suite.py --runs=3         # writes docs/results/test_suite.md and .json
"""
import argparse
import configparser
import os
import re
import subprocess
import tempfile
import time

from common import REPO, record, run_with_results

_INI = configparser.ConfigParser()
_INI.read(os.path.join(REPO, "pytest.ini"))
BUDGET_S = float(_INI["pytest"]["suite_budget_s"])  # the suite's budget on a 2-core CPU machine, as pytest reports it


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as root:
        clone = os.path.join(root, "imgtf")
        subprocess.run(["git", "clone", "-q", REPO, clone], check=True)
        start = time.time()
        subprocess.run("python3 -m venv .venv && . .venv/bin/activate && pip install -q -e '.[test]'", shell=True,
                       cwd=clone, check=True, capture_output=True)
        install_s = time.time() - start
        for _ in range(args.runs):
            start = time.time()
            proc = subprocess.run(". .venv/bin/activate && python -m pytest -q tests -p no:cacheprovider", shell=True,
                                  cwd=clone, capture_output=True, text=True)
            seconds = time.time() - start
            summary = proc.stdout.strip().splitlines()[-1]
            slowest = re.findall(r"^\s*([\d.]+)s (call|setup)\s+(\S+)", proc.stdout, flags=re.M)[:15]
            failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", proc.stdout, flags=re.M)
            runs.append({"seconds": seconds, "returncode": proc.returncode, "summary": summary, "slowest": slowest,
                         "failed": failed})
    print(f"`python -m pytest -q tests` on a fresh clone ({os.cpu_count()} CPU cores; the install, "
          f"`pip install -e '.[test]'` into a new virtual environment, took {install_s / 60:.1f} min once). "
          f"Budget: {BUDGET_S / 60:.0f} min.\n")
    print("| run | wall-clock | result | within the budget |")
    print("|---:|---:|---|---|")
    for i, r in enumerate(runs, 1):
        print(f"| {i} | {r['seconds'] / 60:.2f} min | {r['summary'].strip('= ')} | "
              f"{'yes' if r['seconds'] < BUDGET_S and r['returncode'] == 0 else 'no'} |")
    for i, r in enumerate(runs, 1):
        if r["failed"]:
            print(f"\nRun {i} failed: " + ", ".join(f"`{name}`" for name in r["failed"]))
    print("\nThe slowest tests of the last run:\n")
    print("| seconds | phase | test |")
    print("|---:|---|---|")
    for seconds, phase, test in runs[-1]["slowest"]:
        print(f"| {seconds} | {phase} | `{test}` |")
    record(install_s=install_s, runs=runs)


if __name__ == "__main__":
    run_with_results("test_suite", main)
