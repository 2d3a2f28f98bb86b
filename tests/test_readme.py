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
    assert result.stdout.count("bits_per_dim") == 3
    assert os.path.exists(tmp_path / "my_project" / "run" / "hparams.json")
    assert len(os.listdir(tmp_path / "my_project" / "images" / "train" / "cat")) > 100
