"""Output directories written whole: staged beside the target, committed by renames, replaced only when imgtf wrote
them and nothing was added since, and what a killed writer left cleaned up or put back."""
import json
import os

import pytest

from imgtf import artifacts


def write(directory, name, text):
    with open(os.path.join(directory, name), "w") as f:
        f.write(text)


def test_an_output_is_committed_whole_and_a_failed_write_leaves_the_old_one(tmp_path):
    target = tmp_path / "out"
    with artifacts.staged(str(target), "writer", source="a") as staging:
        write(staging, "x.txt", "first")
    manifest = json.load(open(target / artifacts.MANIFEST))
    assert manifest == {"writer": "writer", "source": "a", "files": ["x.txt"]}
    artifacts.check_replaceable(str(target), "writer", "--out")
    with pytest.raises(RuntimeError):
        with artifacts.staged(str(target), "writer") as staging:
            write(staging, "x.txt", "second, never finished")
            raise RuntimeError("the write failed")
    assert (target / "x.txt").read_text() == "first" and sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_only_an_earlier_output_of_the_same_writer_with_nothing_added_is_replaceable(tmp_path):
    user = tmp_path / "photos"
    user.mkdir()
    (user / "cat.png").write_text("")
    with pytest.raises(artifacts.OutputError, match=r"--out=.*photos already holds files w did not write \(cat.png\)"):
        artifacts.check_replaceable(str(user), "w", "--out")
    with artifacts.staged(str(tmp_path / "other"), "someone else"):
        pass
    with pytest.raises(artifacts.OutputError, match="already holds an output of someone else"):
        artifacts.check_replaceable(str(tmp_path / "other"), "w", "--out")
    with artifacts.staged(str(tmp_path / "mine"), "w"):
        pass
    (tmp_path / "mine" / "evaluations").mkdir()
    with pytest.raises(artifacts.OutputError, match=r"holds files added since w wrote it \(evaluations\)"):
        artifacts.check_replaceable(str(tmp_path / "mine"), "w", "--out")
    (tmp_path / "file").write_text("")
    with pytest.raises(artifacts.OutputError, match="is a file"):
        artifacts.check_replaceable(str(tmp_path / "file"), "w", "--out")
    artifacts.check_replaceable(str(tmp_path / "new"), "w", "--out")


def test_a_writer_killed_between_its_renames_gets_its_old_output_put_back(tmp_path):
    base = str(tmp_path / "out")
    os.makedirs(base + ".replaced-999999")  # the old output, moved aside by a writer that died (pid 999999)
    write(base + ".replaced-999999", "x.txt", "old")
    os.makedirs(base + ".partial-999998")  # a staging directory of another dead writer
    artifacts.remove_leftovers(base)
    assert open(os.path.join(base, "x.txt")).read() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
