"""Copy the benchmarks' results files into the docs that show them, as written: every block

    <!-- results: NAME -->
    ...
    <!-- end results -->

in docs/*.md gets docs/results/NAME.md between its markers. tests/unit/test_docs.py checks that they match.

    python bench/include_results.py
"""
import glob
import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BLOCK = re.compile(r"(<!-- results: ([\w-]+) -->\n)(.*?)(<!-- end results -->)", re.S)


def results_file(name):
    return os.path.join(REPO, "docs", "results", f"{name}.md")


def included(text):
    """`text` with every results block holding its file (a missing file is an error naming it)."""
    def fill(match):
        path = results_file(match.group(2))
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no results file; run the benchmark named in the docs with --out")
        return match.group(1) + open(path).read() + match.group(4)

    return BLOCK.sub(fill, text)


def docs_pages():
    return sorted(glob.glob(os.path.join(REPO, "docs", "**", "*.md"), recursive=True)) + [
        os.path.join(REPO, "README.md")]


def main():
    for page in docs_pages():
        if os.sep + "results" + os.sep in page:
            continue
        text = open(page).read()
        new = included(text)
        if new != text:
            with open(page, "w") as f:
                f.write(new)
            print(f"updated {os.path.relpath(page, REPO)}")


if __name__ == "__main__":
    main()
