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


def test_a_writer_killed_while_staging_or_between_its_renames_leaves_the_old_output_or_gets_it_put_back(tmp_path):
    """Real kills (SIGKILL, tests/helpers/kills.py): while writing its manifest (the old output untouched, a staging
    directory left) and between its two renames (the old output moved aside, the new one not yet in place); the next
    writer removes what a dead one left and puts the old output back first."""
    from helpers.kills import killed_at

    base = str(tmp_path / "out")
    with artifacts.staged(base, "w") as staging:
        write(staging, "x.txt", "old")

    def writer():
        with artifacts.staged(base, "w") as staging:
            write(staging, "x.txt", "new")

    pid = killed_at(artifacts.json, "dump", writer)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", f"out.partial-{pid}"]
    assert open(os.path.join(base, "x.txt")).read() == "old"
    pid = killed_at(artifacts.os, "rename", writer, nth=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"out.partial-{pid}", f"out.replaced-{pid}"]
    artifacts.remove_leftovers(base)
    assert open(os.path.join(base, "x.txt")).read() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    killed_at(artifacts.os, "rename", writer, nth=2)
    with artifacts.staged(base, "w") as staging:  # the next writer: the old output back, then replaced whole
        write(staging, "y.txt", "newer")
    assert sorted(os.listdir(base)) == [artifacts.MANIFEST, "y.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
