"""imgtf.data.sources: official files, else a prepared tfds copy, else a clear error; a partial copy is announced
once. Only tests/data fixtures; tfds is never downloaded (nothing is prepared under the empty folders used)."""
import logging
import os

import pytest

from imgtf.data import prepared, sources
from imgtf.errors import DataNotFoundError


@pytest.fixture
def fresh_announcements(monkeypatch):
    monkeypatch.setattr(sources, "_ANNOUNCED", set())


@pytest.fixture
def no_tfds_elsewhere(monkeypatch, tmp_path):
    """tfds is looked for under data_dir, $TFDS_DATA_DIR and ~/tensorflow_datasets: keep the last two empty."""
    monkeypatch.delenv("TFDS_DATA_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def partial_warnings(caplog):
    return [r.getMessage() for r in caplog.records if "PARTIAL copy" in r.getMessage()]


def test_partial_copy_is_announced_once_per_split_and_data_dir(builtins, celeba_dir, caplog, fresh_announcements):
    """tests/data/celeba lists 52 train and 14 test images; 32 and 4 of them are present."""
    problem = builtins.problem("image_celeba32")
    for _ in range(3):  # epochs, evaluations: the same copy is read again and again
        problem.examples("train", celeba_dir)
    builtins.problem("img2img_celeba").examples("train", celeba_dir)  # another problem on the same data
    assert partial_warnings(caplog) == [sources.partial_notice(
        "CelebA", "train", os.path.join(celeba_dir, "img_align_celeba"), 32, 52, listed_in="list_eval_partition.txt")]
    assert "32 of the 52 images listed in list_eval_partition.txt are present (20 missing)" in caplog.text
    problem.examples("test", celeba_dir)
    assert len(partial_warnings(caplog)) == 2 and "4 of the 14 images" in partial_warnings(caplog)[1]


def test_complete_official_copy_is_returned_silently(tmp_path, caplog, fresh_announcements):
    official = sources.Official("folder", str(tmp_path), content=["a.png"])
    found = sources.find_split("Some set", "train", str(tmp_path), official, tfds_name="unused", looked_for=(),
                               hint="")
    assert found is official and not caplog.records


def test_partial_notice_says_how_many_are_missing():
    notice = sources.partial_notice("CIFAR-10", "train", "/d/cifar", 2034, 50000, detail="data_batch_3: missing")
    assert notice.startswith("CIFAR-10 train split at /d/cifar is a PARTIAL copy: 2034 of 50000 images "
                             "(47966 missing; data_batch_3: missing).")


def test_nothing_there_names_what_was_looked_for_and_what_to_do(tmp_path, no_tfds_elsewhere):
    with pytest.raises(DataNotFoundError) as e:
        sources.find_split("Some set", "validation", str(tmp_path), None, tfds_name="some_set_not_in_tfds",
                           looked_for=("some_set/", "some_set.zip"), hint="Download some_set.zip into --data_dir.")
    message = str(e.value)
    assert message.startswith(f"No Some set validation split under --data_dir={str(tmp_path)!r}: no some_set/, "
                              "no some_set.zip, and ")
    assert "'some_set_not_in_tfds' is not prepared under" in message
    assert message.endswith("Download some_set.zip into --data_dir.")


def test_celeba_missing_names_its_files_and_tfds(builtins, tmp_path, no_tfds_elsewhere):
    with pytest.raises(DataNotFoundError, match=r"No CelebA train split under .*: no img_align_celeba/, "
                                                r"no img_align_celeba.zip, and tfds 'celeb_a' is not prepared.*"
                                                r"Download img_align_celeba.zip"):
        builtins.problem("image_celeba32").examples("train", str(tmp_path))


def test_prepared_write_reports_each_example(builtins, celeba_dir, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="imgtf")
    meta = prepared.write(builtins.problem("image_celeba32"), "test", celeba_dir, str(tmp_path))
    assert meta["count"] == 4
    assert "datagen image_celeba32 test: 4/4 examples (100%)" in caplog.text
