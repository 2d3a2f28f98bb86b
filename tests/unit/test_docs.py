"""The docs hold what is true: the README stays short, every import line in README.md and docs/ runs, and every
results block shows its benchmark's file as written (bench/include_results.py)."""
import glob
import importlib.util
import os
import re

import pytest

from conftest import REPO

PAGES = [os.path.join(REPO, "README.md")] + sorted(
    p for p in glob.glob(os.path.join(REPO, "docs", "**", "*.md"), recursive=True)
    if os.sep + "results" + os.sep not in p and os.sep + "research" + os.sep not in p)


def include_results():
    spec = importlib.util.spec_from_file_location("include_results", os.path.join(REPO, "bench", "include_results.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def import_lines(text):
    """Every `import x` / `from x import y` statement in the page's code blocks (parenthesised ones joined)."""
    lines = []
    for block in re.findall(r"```(?:python|bash)?\n(.*?)```", text, flags=re.S):
        rows = block.splitlines()
        i = 0
        while i < len(rows):
            row = rows[i].strip()
            i += 1
            if re.match(r"(import [\w.]+|from [\w.]+ import )", row):
                while row.count("(") > row.count(")"):
                    row += " " + rows[i].strip()
                    i += 1
                lines.append(row.split("  #")[0])
    return lines


def test_the_readme_is_short():
    size = os.path.getsize(os.path.join(REPO, "README.md"))
    assert size <= 15 * 1024, f"README.md is {size} bytes: move reference material to docs/"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: os.path.relpath(p, REPO))
def test_every_import_line_runs(page):
    failed = []
    for line in import_lines(open(page).read()):
        try:
            exec(line, {})
        except Exception as e:  # noqa: BLE001 -- report every failing line of the page at once
            failed.append(f"{line!r}: {type(e).__name__}: {e}")
    assert not failed, "\n".join(failed)


def test_every_results_block_shows_its_file_as_written():
    module = include_results()
    blocks = 0
    for page in PAGES:
        text = open(page).read()
        blocks += len(module.BLOCK.findall(text))
        assert module.included(text) == text, (f"{os.path.relpath(page, REPO)}: a results block differs from its "
                                               "file; run python bench/include_results.py")
    assert blocks >= 1
    for path in glob.glob(os.path.join(REPO, "docs", "results", "*.md")):  # each names its command and commit
        assert re.match(r"`python bench/\w+\.py[^`]*` at commit [0-9a-f]{7,}", open(path).readline()), path


def test_the_readme_models_table_shows_figures_from_results_files():
    """Each imgtf figure in the models table names its set and links a results file that records, for that set, the
    bits/dim at step 300 (the column's heading) equal to the figure to the digits shown."""
    import json

    text = open(os.path.join(REPO, "README.md")).read()
    cells = re.findall(r"\| ([\d.]+) \(`(\w+)`, \[\w+\]\(docs/results/(\w+)\.md\)\) \|", text)
    assert len(cells) >= 2, "the README's models table shows no imgtf figure with its results file"
    for figure, set_name, name in cells:
        results = json.load(open(os.path.join(REPO, "docs", "results", f"{name}.json")))
        assert set_name in results["report"], f"docs/results/{name}.md does not mention {set_name}"
        data = results["data"]
        if "results" in data:  # bench/learning.py: one entry per set, bits/dim by step
            entry = next((r for r in data["results"] if r.get("set") == set_name), None)
            assert entry is not None, f"docs/results/{name}.json has no entry for {set_name}"
            measured = entry["curve"].get("300")
        else:  # one run (bench/quickstart.py)
            measured = data["bits_per_dim"] if data.get("step") == 300 else None
        assert measured is not None, f"docs/results/{name}.json has no step-300 figure for {set_name}"
        assert f"{measured:.{len(figure.split('.')[1])}f}" == figure, (
            f"README: {figure} for {set_name}; docs/results/{name}.json records {measured} at step 300")
