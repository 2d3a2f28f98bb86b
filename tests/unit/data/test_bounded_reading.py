"""Files from someone else cost what they honestly hold: headers are checked before values are read, values are read
in a stream up to what the header declares, lines and archive members have limits, and a preparation's metadata never
describes other arrays than its own."""
import gzip
import io
import os
import struct
import tarfile
import tracemalloc

import pytest

from imgtf.data import amat, archives, idx
from imgtf.errors import CorruptDataError


def test_an_idx_file_that_decompresses_past_its_header_is_refused_reading_only_what_it_declares(tmp_path):
    """A 200 KB .gz with a valid header for 100 digits and 200 MB of zeros behind it; and one declaring 2**31."""
    bomb = tmp_path / "train-images-idx3-ubyte.gz"
    with gzip.open(bomb, "wb", compresslevel=1) as f:
        f.write(struct.pack(">IIII", idx.IMAGES_MAGIC, 100, 28, 28))
        zeros = bytes(2 ** 20)
        for _ in range(200):
            f.write(zeros)
    tracemalloc.start()
    try:
        with pytest.raises(CorruptDataError, match=r"header says 100 entries .* holds more than that"):
            idx.read_idx(str(bomb), idx.IMAGES_MAGIC)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2 ** 20, peak  # not the 200 MB it decompresses to
    declared = tmp_path / "t10k-images-idx3-ubyte"
    declared.write_bytes(struct.pack(">IIII", idx.IMAGES_MAGIC, 2 ** 31, 28, 28))
    with pytest.raises(CorruptDataError, match=r"declares 2147483648 entries"):
        idx.read_idx(str(declared), idx.IMAGES_MAGIC)


def test_an_amat_line_longer_than_a_digit_is_refused_before_it_is_read_whole(tmp_path):
    path = tmp_path / "binarized_mnist_test.amat"
    path.write_bytes(b"0 " * 784 + b"\n" + b"1" * (50 * 2 ** 20))  # a digit, then one 50 MB line
    tracemalloc.start()
    try:
        with pytest.raises(CorruptDataError, match=r"line 2: longer than 3136 bytes"):
            amat.read_split(str(tmp_path), "test")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2 ** 20, peak


def test_an_archive_member_declaring_more_than_any_dataset_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(archives, "MAX_MEMBER_BYTES", 1000)
    path = tmp_path / "images.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("big.png")
        info.size = 5000
        tar.addfile(info, io.BytesIO(bytes(5000)))
    with pytest.raises(CorruptDataError, match=r"big.png declares 5000 bytes"):
        list(archives.iter_tar_images(str(path)))


def test_an_interrupted_preparation_never_reads_new_arrays_with_old_metadata(cifar_folder, tmp_path, builtins):
    """A datagen killed (a real SIGKILL, tests/helpers/kills.py) as its arrays are renamed into place, or with its
    metadata written but not renamed into place, leaves no metadata (refused: prepare again), never the earlier
    preparation's beside new arrays; the next preparation leaves exactly its own files."""
    from helpers.kills import killed_at
    from imgtf.data import prepared

    problem = builtins.problem("image_folder")
    problem.configure("image_size=8")
    first = prepared.write(problem, "test", cifar_folder, str(tmp_path))
    assert prepared.find(str(tmp_path), problem.name, "test")["count"] == first["count"]

    def prepare():
        prepared.write(problem, "test", cifar_folder, str(tmp_path))

    for where in (lambda src, dst: dst.endswith(".bin"), lambda src, dst: dst.endswith(".json")):
        killed_at(prepared.os, "replace", prepare, where=where)
        with pytest.raises(CorruptDataError, match=r"but not test.json, .* interrupted"):
            prepared.find(str(tmp_path), problem.name, "test")
    again = prepared.write(problem, "test", cifar_folder, str(tmp_path))
    assert again["shapes"] == first["shapes"] and again["count"] == first["count"]
    assert sorted(os.listdir(tmp_path / problem.name)) == ["test.json", "test.targets.bin"]
