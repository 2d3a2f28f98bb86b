"""The README's worked example of a user's own problem runs as written."""
import os
import re
import subprocess
import sys

from conftest import REPO


def test_readme_worked_example_runs_as_written(tmp_path):
    readme = open(os.path.join(REPO, "README.md")).read()
    section = readme.split("<!-- worked-example:start -->")[1].split("<!-- worked-example:end -->")[0]
    script = "\n".join(re.findall(r"```bash\n(.*?)```", section, flags=re.S))
    os.symlink(os.path.join(REPO, "examples"), tmp_path / "examples")  # "from the repository root"
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(re.findall(r"^bits_per_dim [0-9.]+ .*on test", result.stdout, flags=re.M)) == 3  # 2 trainings, 1 eval
    assert os.path.exists(tmp_path / "my_project" / "run" / "hparams.json")
    assert len(os.listdir(tmp_path / "my_project" / "images" / "train" / "cat")) > 100
    # the binary problem: samples as a PNG grid, and the SavedModel's bits/dim equal to the trainer's evaluation
    assert os.path.exists(tmp_path / "my_project" / "binary" / "samples" / "samples.png")
    exported, trained = re.search(r"SavedModel: ([0-9.]+) bits/dim on \d+ test images; imgtf-trainer: ([0-9.]+)",
                                  result.stdout).groups()
    assert exported == trained and 0.05 < float(trained) < 1.0  # below the uniform 1 bit/dim of binary images


def test_readme_python_example_runs_as_written(tmp_path, monkeypatch, capsys, builtins):
    """The README's Python block, on a briefly trained run in runs/quickstart: load_run, fit (bits/dim falls),
    evaluate, sample, log_prob, build_model."""
    from conftest import TINY_OVERRIDES
    from imgtf.train import run_dir
    from imgtf.train.trainer import Trainer

    readme = open(os.path.join(REPO, "README.md")).read()
    section = readme.split("<!-- python-example:start -->")[1].split("<!-- python-example:end -->")[0]
    code = "\n".join(re.findall(r"```python\n(.*?)```", section, flags=re.S))
    os.symlink(os.path.join(REPO, "examples"), tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    spec = run_dir.resolve("runs/quickstart", "image_cifar10", None, "imagetransformer_cifar10_tiny", TINY_OVERRIDES)
    run_dir.save(spec, "runs/quickstart")
    Trainer(spec, "runs/quickstart", "examples/data/cifar10").train(2)
    exec(compile(code, "README.md python-example", "exec"), {"__name__": "readme_example"})
    out = capsys.readouterr().out
    per_epoch = [float(v) for v in re.search(r"train bits/dim per epoch: \[(.*?)\]", out).group(1).split(",")]
    assert per_epoch[1] < per_epoch[0] < 8.2  # it learns from Python, from the restored weights
    test_bpd = float(re.search(r"'bits_per_dim': ([0-9.]+)", out).group(1))
    assert 4.0 < test_bpd < 8.2
    assert 0.0 < float(re.search(r"samples' own bits/dim: ([0-9.]+)", out).group(1)) < 9.0
    assert re.search(r"ImageTransformer \d+ parameters", out)
