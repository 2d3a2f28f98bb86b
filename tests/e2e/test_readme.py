"""The docs' worked example (docs/data.md) and the README's Python block run as written.

The worked example's shell lines are run in this process, each as its shell would: `python - <<'PY'` blocks are
executed, `cat > FILE <<'PY'` writes the file, `mkdir -p` makes folders, and every `imgtf-<name> ...` line calls that
command's `main` with the line's arguments (the console scripts themselves run as processes in test_processes.py).
A line of any other form fails the test, so the README cannot drift beyond what is checked. The worked example's
numbered sections run in two tests (each about half of it; a test checks that together they run every section)."""
import contextlib
import io
import os
import re
import shlex
import sys

import pytest

from conftest import REPO


def readme_section(marker, language, page="README.md"):
    readme = open(os.path.join(REPO, page)).read()
    section = readme.split(f"<!-- {marker}:start -->")[1].split(f"<!-- {marker}:end -->")[0]
    return "\n".join(re.findall(rf"```{language}\n(.*?)```", section, flags=re.S))


def shell_statements(script):
    """(section, text, body) for each statement: the section is the number of the last `# N.` comment above it;
    other comments dropped, continuation lines joined, heredoc bodies kept."""
    lines, statements, i, section = script.splitlines(), [], 0, 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        numbered = re.match(r"# (\d+)\. ", line)
        if numbered:
            section = int(numbered.group(1))
        if not line or line.startswith("#"):
            continue
        while line.endswith("\\"):
            line = line[:-1] + " " + lines[i].strip()
            i += 1
        heredoc = re.search(r"<<'(\w+)'$", line)
        body = None
        if heredoc:
            end = lines.index(heredoc.group(1), i)
            body, i = "\n".join(lines[i:end]) + "\n", end + 1
            line = line[:heredoc.start()].strip()
        statements.append((section, line, body))
    return statements


def run_worked_example(script, sections):
    """Run the statements of the given sections; returns what they printed on stdout."""
    printed = io.StringIO()
    for section, line, body in shell_statements(script):
        if section not in sections:
            continue
        words = shlex.split(line)
        if words == ["python", "-"]:
            with contextlib.redirect_stdout(printed):
                exec(compile(body, "docs/data.md worked-example", "exec"), {"__name__": "__main__"})
        elif words[:2] == ["mkdir", "-p"]:
            for folder in words[2:]:
                os.makedirs(folder, exist_ok=True)
        elif words[0] == "cat" and words[1] == ">" and len(words) == 3:
            with open(words[2], "w") as f:
                f.write(body)
        elif words[0].startswith("imgtf-"):
            module = __import__(f"imgtf.commands.{words[0][len('imgtf-'):]}", fromlist=["main"])
            with contextlib.redirect_stdout(printed):
                code = module.main(words[1:])
            assert code == 0, f"{line!r} exited {code}"
        else:
            raise AssertionError(f"the worked example has a line this test cannot run: {line!r}")
    return printed.getvalue()


# The worked example's numbered sections, as the two tests below run them: 1 exports the images both parts read; 2-3
# register a problem and an hparams set and train them by name; 4 trains, samples and exports without code.
REGISTERED, WITHOUT_CODE = (1, 2, 3), (1, 4)


def test_the_tests_run_every_section_of_the_worked_example():
    sections = {section for section, _, _ in shell_statements(readme_section("worked-example", "bash",
                                                                              page="docs/data.md"))}
    assert sections == set(REGISTERED) | set(WITHOUT_CODE), sections


@pytest.fixture
def worked_example(tmp_path, monkeypatch):
    """run(sections): those sections of docs/data.md's worked example, run from a copy of the repository root."""
    os.symlink(os.path.join(REPO, "examples"), tmp_path / "examples")  # "from the repository root"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path)] + sys.path)
    return lambda sections: run_worked_example(readme_section("worked-example", "bash", page="docs/data.md"), sections)


def test_worked_example_registers_a_problem_and_trains_it_by_name(worked_example, tmp_path, builtins):
    try:
        out = worked_example(REGISTERED)
    finally:
        for table, name in ((builtins.problems, "cats_and_dogs"), (builtins.hparams_sets, "cats_and_dogs_tiny")):
            if name in table:
                table.unregister(name)
    # a training (its evaluation at the end) and an evaluation of the run by --output_dir alone
    assert len(re.findall(r"^bits_per_dim [0-9.]+ .*on test", out, flags=re.M)) == 2
    assert os.path.exists(tmp_path / "my_project" / "run" / "hparams.json")
    assert len(os.listdir(tmp_path / "my_project" / "images" / "train" / "cat")) > 100


def test_worked_example_trains_samples_and_exports_binary_images_without_code(worked_example, tmp_path):
    out = worked_example(WITHOUT_CODE)
    # the binary images' run reports nats per image first
    assert len(re.findall(r"^nats_per_image [0-9.]+ \+- [0-9.]+ \(95% CI [0-9.]+-[0-9.]+; [0-9.]+ bits/dim\) on test", out, flags=re.M)) == 1
    # samples as a PNG grid, and the SavedModel's bits/dim equal to the trainer's evaluation
    assert os.path.exists(tmp_path / "my_project" / "binary" / "samples" / "samples.png")
    exported, trained = re.search(r"SavedModel: ([0-9.]+) bits/dim on \d+ test images; imgtf-trainer: ([0-9.]+)",
                                  out).groups()
    assert exported == trained and 0.05 < float(trained) < 1.0  # below the uniform 1 bit/dim of binary images


def test_readme_python_example_runs_as_written(tmp_path, monkeypatch, capsys, trained_run):
    """The README's Python block, on a briefly trained run in runs/quickstart: load_run, fit (bits/dim falls),
    evaluate, sample, log_prob, build_model."""
    from helpers import shared

    code = readme_section("python-example", "python")
    os.symlink(os.path.join(REPO, "examples"), tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    shared.copy(trained_run("cifar")[0], tmp_path / "runs" / "quickstart")
    exec(compile(code, "README.md python-example", "exec"), {"__name__": "readme_example"})
    out = capsys.readouterr().out
    per_epoch = [float(v) for v in re.search(r"train bits/dim per epoch: \[(.*?)\]", out).group(1).split(",")]
    assert per_epoch[1] < per_epoch[0] < 8.2  # it learns from Python, from the restored weights
    test_bpd = float(re.search(r"'bits_per_dim': ([0-9.]+)", out).group(1))
    assert 4.0 < test_bpd < 8.2
    assert 0.0 < float(re.search(r"samples' own bits/dim: ([0-9.]+)", out).group(1)) < 9.0
    assert re.search(r"ImageTransformer \d+ parameters", out)
