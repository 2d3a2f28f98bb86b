"""What the decoder writes and checks: sample grids of any channel count, the super-resolution consistency score,
and sampling settings refused before anything is loaded."""
import numpy as np
import pytest


@pytest.mark.parametrize("flag", ["--temperature=0", "--temperature=-1", "--temperature=nan", "--num_samples=0"])
def test_bad_sampling_settings_are_refused_with_the_flag_named(flag):
    from imgtf.sampling.settings import SamplingSettings

    name, value = flag[2:].split("=")
    settings = {"num_samples": 1, "temperature": 1.0, name: float(value) if name == "temperature" else int(value)}
    with pytest.raises(ValueError, match=f"--{name}=.*must be"):
        SamplingSettings(**settings, style="flag")


def test_consistency_metric_is_zero_for_a_matching_image():
    from imgtf.sampling.decode import consistency

    flat = np.full((1, 32, 32, 3), 77, np.uint8)
    assert consistency(np.full((1, 8, 8, 3), 77, np.uint8), flat)[0] == pytest.approx(0.0, abs=1e-10)
    assert consistency(np.full((1, 8, 8, 3), 0, np.uint8), flat)[0] == pytest.approx((77 / 255) ** 2, rel=1e-5)


def test_grids_show_grayscale_images():
    """Grayscale (C = 1) samples, inputs and originals make RGB grids."""
    from imgtf.data import grids

    gray = np.random.RandomState(0).randint(0, 256, (3, 6, 5, 1)).astype(np.uint8)
    picture = grids.sample_grid(gray, columns=2, scale=2)
    assert picture.shape == (2 * 12 + 2, 2 * 10 + 2, 3)
    np.testing.assert_array_equal(picture[:12, :10], np.repeat(grids.upscale(gray[:1], 2)[0], 3, axis=-1))
    both = grids.comparison_grid(gray, gray[:, None].repeat(2, axis=1), gray, scale=2)
    assert both.shape[-1] == 3 and both.shape[0] == 3 * 12 + 2 * 2


def test_a_decode_killed_while_writing_leaves_no_summary_beside_its_files_and_keeps_a_users_files(tmp_path):
    """decode.json is removed first and written last: a decoder killed (a real SIGKILL, tests/helpers/kills.py) as its
    image is renamed into place leaves the new samples.npy without it, never the earlier decode's summary (another
    seed) beside them; the next decode removes the dead writer's temporary file and an earlier decode's inputs, and
    keeps the user's files."""
    import json

    from helpers.kills import killed_at
    from imgtf.sampling import outputs
    from imgtf.sampling.decode import Decoded

    samples = np.zeros((2, 1, 4, 4, 3), np.uint8)
    (tmp_path / "notes.txt").write_text("the user's")
    outputs.write_decoded(Decoded("completion", samples, inputs=samples[:, 0]), str(tmp_path), temperature=1.0,
                          seed=1, started=0)
    assert json.load(open(tmp_path / "decode.json"))["files"] == ["inputs.npy", "samples.npy", "samples.png"]

    def decode():
        outputs.write_decoded(Decoded("unconditional", samples[:, 0] + 1), str(tmp_path), temperature=1.0, seed=2,
                              started=0)

    pid = killed_at(outputs.os, "replace", decode, nth=2)  # samples.npy in place, samples.png about to be
    assert not (tmp_path / "decode.json").exists() and np.load(tmp_path / "samples.npy").max() == 1
    assert (tmp_path / f"samples.png.tmp-{pid}.png").exists()
    decode()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["decode.json", "notes.txt", "samples.npy", "samples.png"]