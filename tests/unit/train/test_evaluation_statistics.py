"""How sure an evaluation is: each image's NLL kept beside metrics.jsonl, the standard error and 95% interval of
every record computed from them as numpy would, and imgtf-compare's paired difference: exactly 0 for a model against
itself, the records' difference for two checkpoints, refused for evaluations of different images."""
import math
import os

import numpy as np
import pytest

from helpers import shared
from helpers.commands import command
from imgtf.evaluation import per_image, statistics
from imgtf.train.metrics import read_metrics

# Student's t 0.975 quantiles from printed tables (df: value)
T_TABLE = {1: 12.7062, 2: 4.3027, 7: 2.3646, 30: 2.0423, 120: 1.9799, 10 ** 6: 1.9600}


def test_t_quantiles_match_the_tables_and_the_interval_is_numpys():
    for df, value in T_TABLE.items():
        assert statistics.t_quantile(0.975, df) == pytest.approx(value, abs=6e-5)
        assert statistics.t_quantile(0.025, df) == pytest.approx(-value, abs=6e-5)
    values = np.random.default_rng(0).normal(3.0, 0.5, 8)
    mean, se, (low, high) = statistics.mean_interval(values)
    assert mean == pytest.approx(values.mean(), rel=1e-15)
    assert se == pytest.approx(np.std(values, ddof=1) / math.sqrt(8), rel=1e-12)
    assert (high - mean) == pytest.approx(mean - low) and (high - mean) == pytest.approx(2.364624 * se, rel=1e-6)
    assert statistics.mean_interval([2.0]) == (2.0, None, None)
    assert statistics.mean_interval([2.0, math.inf])[1:] == (None, None)
    with pytest.raises(ValueError, match="p must lie in"):
        statistics.t_quantile(1.0, 3)


def test_an_evaluation_keeps_each_image_and_records_its_standard_error(trained_run):
    run, data_dir = trained_run("plain")  # its evaluation at step 2: the first 8 test images of the folder problem
    record = read_metrics(run)[-1]
    evaluation = per_image.load(os.path.join(run, record["per_image"]))
    assert (evaluation.split, evaluation.step, evaluation.weights) == ("test", 2, record["weights"])
    np.testing.assert_array_equal(evaluation.index, np.arange(8))
    bits = evaluation.nll_nats / (8 * 8 * 3 * math.log(2))
    assert record["num_images"] == 8 and record["bits_per_dim"] == pytest.approx(bits.mean(), rel=1e-12)
    se = np.std(bits, ddof=1) / math.sqrt(8)
    assert record["bits_per_dim_se"] == pytest.approx(se, rel=1e-9) and se > 0
    assert record["bits_per_dim_ci95_low"] == pytest.approx(bits.mean() - 2.364624 * se, rel=1e-6)
    assert record["bits_per_dim_ci95_high"] == pytest.approx(bits.mean() + 2.364624 * se, rel=1e-6)
    assert record["nats_per_image_se"] == pytest.approx(np.std(evaluation.nll_nats, ddof=1) / math.sqrt(8), rel=1e-9)
    # the fingerprints are those of the images the pipeline read, in its order
    from imgtf.train import run_dir

    problem = run_dir.load(run).make_problem(data_dir)
    images = next(iter(problem.dataset("test", data_dir, 8)))["targets"].numpy()
    np.testing.assert_array_equal(evaluation.fingerprint, per_image.fingerprints(images))
    assert len(set(evaluation.fingerprint.tolist())) == 8


def test_compare_pairs_the_images_and_refuses_other_images(trained_run, tmp_path):
    import imgtf
    from imgtf.evaluation.comparison import ComparisonError, compare_evaluations

    source, data_dir = trained_run("plain")
    run = str(tmp_path / "run")
    shared.copy(source, run)
    # both checkpoints evaluated now on the first 8 test images (batch 4), recorded in the run
    out = command("compare", f"--a={run}/ckpt-2", f"--b={run}/ckpt-1", f"--data_dir={data_dir}", "--eval_steps=2",
                  f"--json={tmp_path}/c.json").stdout
    step2, step1 = read_metrics(run)[-2:]
    assert [step2["step"], step1["step"]] == [2, 1]
    assert "A - B:" in out and "paired t over 8 images" in out and "A wins on" in out
    first = per_image.load(os.path.join(run, step2["per_image"]))
    later = imgtf.compare(f"{run}/ckpt-2", f"{run}/ckpt-1", data_dir=data_dir, eval_steps=2)  # evaluated again
    assert later.difference == pytest.approx(step2["bits_per_dim"] - step1["bits_per_dim"], abs=1e-12)
    assert later.a_wins + later.b_wins + later.ties == pytest.approx(1.0)
    assert later.a.path != first.path  # a second evaluation of step 2 gets its own file
    itself = compare_evaluations(later.a, first)
    assert itself.difference == 0.0 and itself.nats_difference == 0.0 and itself.ties == 1.0
    assert "exactly 0" in itself.verdict
    assert "(the same on each of the" in itself.text() and "nan" not in itself.text()
    # seven of the eight images, or the eight in another order
    fewer = per_image.ImageEvaluation(first.nll_nats[1:], first.index[1:], first.fingerprint[1:], "test", 2, "raw",
                                      first.problem, first.image_shape)
    with pytest.raises(ComparisonError, match="did not evaluate the same images: A scored 8 .* B 7 .* 7 distinct"):
        compare_evaluations(first, fewer)
    shuffled = per_image.ImageEvaluation(first.nll_nats[::-1], first.index[::-1], first.fingerprint[::-1], "test",
                                         2, "raw", first.problem, first.image_shape)
    assert compare_evaluations(first, shuffled).ties == 1.0
    per_image.save(str(tmp_path / "other"), fewer)
    err = command("compare", f"--a={first.path}", f"--b={tmp_path}/other/evaluations/test-step2-raw.npz",
                  expect=1).stderr
    assert "did not evaluate the same images" in err


def test_compare_says_what_it_cannot_read(trained_run, tmp_path):
    run, _ = trained_run("plain")
    err = command("compare", f"--a={run}/ckpt-1", f"--b={run}", expect=1).stderr
    assert "evaluating a checkpoint needs its data" in err
    err = command("compare", f"--a={tmp_path}", f"--b={run}", expect=1).stderr
    assert "neither a per-image evaluation file" in err
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04 cut short")
    err = command("compare", f"--a={broken}", f"--b={run}", expect=1).stderr
    assert "not a complete per-image evaluation file" in err
    err = command("compare", f"--a={run}", f"--b={run}", "--split=train", expect=1).stderr
    assert "no per-image evaluation of split 'train'" in err
