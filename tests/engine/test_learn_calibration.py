"""Temperature scaling and calibration reports, checked against hand-computed numbers."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from classkit.engine.errors import ClassKitError
from classkit.engine.learn import calibrate, calibration_report, fit_temperature, softmax
from classkit.engine.learn.calibration import logit_nll


def calibrated_logits(n: int, c: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels drawn from softmax(logits): a perfectly calibrated model (T = 1)."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, c)) * 1.5
    p = softmax(z).astype(np.float64)
    y = (p.cumsum(1) > rng.random((n, 1))).argmax(1)
    return z.astype(np.float32), y


def test_softmax_is_stable_and_tempered() -> None:
    z = np.array([[1000.0, 1000.0, -1000.0], [0.0, 1.0, 2.0]], dtype=np.float32)
    p = softmax(z)
    assert p.dtype == np.float32 and np.allclose(p.sum(1), 1.0)
    assert np.allclose(p[0], [0.5, 0.5, 0.0])
    e = np.exp([0.0, 0.5, 1.0])
    assert np.allclose(softmax(z[1:], temperature=2.0)[0], e / e.sum(), atol=1e-7)
    assert softmax(np.zeros((0, 3))).shape == (0, 3)
    with pytest.raises(ClassKitError):
        softmax(z, temperature=0.0)


def test_fit_temperature_recovers_the_scale() -> None:
    z, y = calibrated_logits(20000)
    assert fit_temperature(z, y) == pytest.approx(1.0, abs=0.05)
    assert fit_temperature(z * 5, y) == pytest.approx(5.0, rel=0.05)
    assert fit_temperature(z / 3, y) == pytest.approx(1 / 3, rel=0.05)


def test_fit_temperature_is_robust() -> None:
    assert fit_temperature(np.zeros((1, 3), np.float32), np.array([1])) == 1.0
    assert fit_temperature(np.random.default_rng(0).standard_normal((50, 3)), np.zeros(50, int)) == 1.0
    assert fit_temperature(np.zeros((0, 3)), np.zeros(0, int)) == 1.0
    # Perfectly separated: the best temperature is as small as allowed, not an error.
    z = np.array([[5.0, -5.0], [-5.0, 5.0]] * 10)
    assert 0 < fit_temperature(z, np.array([0, 1] * 10)) <= 0.02
    with pytest.raises(ClassKitError, match="must be in"):
        fit_temperature(np.zeros((4, 2)), np.array([0, 1, 2, 0]))
    with pytest.raises(ClassKitError, match="NaN"):
        fit_temperature(np.array([[np.nan, 0.0], [0.0, 1.0]]), np.array([0, 1]))


def test_temperature_scaling_fixes_an_overconfident_model() -> None:
    z, y = calibrated_logits(5000, seed=1)
    out = calibrate(z * 5, y)  # over-confident: logits inflated five times
    assert out["temperature"] == pytest.approx(5.0, rel=0.1)
    before, after = out["before"], out["after"]
    assert after["ece"] < before["ece"] / 3
    assert after["nll"] < before["nll"]
    assert after["brier"] < before["brier"]
    assert after["accuracy"] == before["accuracy"]  # temperature never changes the argmax
    json.dumps(out)


def test_reported_nll_is_the_one_the_fit_lowers() -> None:
    # a few val images wrong with logit gaps of hundreds (as a head scaled by a handful of
    # training rows gave): their true-class probability underflows to 0 at T = 1
    z, y = calibrated_logits(200, seed=2)
    z = z * 3
    wrong = np.arange(5)
    z[wrong, y[wrong]] -= 400.0
    out = calibrate(z, y)
    assert out["before"]["nll"] > 5  # clipped at 1e-12 the five read 27.6 each: 0.7 on average
    assert out["after"]["nll"] < out["before"]["nll"]
    assert out["after"]["nll"] == pytest.approx(logit_nll(z, y, out["temperature"]))
    plain = calibration_report(softmax(z[5:]), y[5:])["nll"]  # no underflow: the same figure
    assert logit_nll(z[5:], y[5:]) == pytest.approx(plain, rel=1e-5)


def test_report_matches_a_hand_computed_example() -> None:
    probs = np.array([[0.9, 0.1], [0.65, 0.35], [0.3, 0.7], [0.25, 0.75]])
    y = np.array([0, 1, 1, 0])
    r = calibration_report(probs, y, n_bins=5)
    assert r["n"] == 4
    assert r["accuracy"] == pytest.approx(0.5)
    assert r["nll"] == pytest.approx(-(math.log(0.9) + math.log(0.35) + math.log(0.7) + math.log(0.25)) / 4)
    assert r["brier"] == pytest.approx((0.02 + 2 * 0.65**2 + 2 * 0.3**2 + 2 * 0.75**2) / 4)
    # Bins of width 0.2: (0.8, 1] holds 0.9 (right): gap 0.1; (0.6, 0.8] holds 0.65 (wrong),
    # 0.7 (right), 0.75 (wrong): confidence 0.7, accuracy 1/3.
    assert r["ece"] == pytest.approx((1 * 0.1 + 3 * abs(0.7 - 1 / 3)) / 4)
    bins = r["bins"]
    assert [b["count"] for b in bins] == [0, 0, 0, 3, 1]
    assert bins[3]["confidence"] == pytest.approx(0.7) and bins[3]["accuracy"] == pytest.approx(1 / 3)
    assert bins[4]["lo"] == pytest.approx(0.8) and bins[4]["hi"] == pytest.approx(1.0)
    assert bins[0] == {"lo": 0.0, "hi": pytest.approx(0.2), "count": 0, "confidence": 0.0, "accuracy": 0.0}
    assert len(calibration_report(probs, y)["bins"]) == 15
    json.dumps(r)


def test_ece_is_zero_for_a_perfectly_calibrated_toy() -> None:
    probs = np.array([[0.8, 0.2]] * 10 + [[0.4, 0.6]] * 5)
    y = np.array([0] * 8 + [1] * 2 + [1] * 3 + [0] * 2)
    r = calibration_report(probs, y)
    assert r["ece"] == pytest.approx(0.0, abs=1e-12)
    assert sum(b["count"] for b in r["bins"]) == 15


def test_empty_and_bad_input() -> None:
    r = calibration_report(np.zeros((0, 3)), np.zeros(0, int))
    assert r["n"] == 0 and r["ece"] == 0.0 and len(r["bins"]) == 15
    with pytest.raises(ClassKitError):
        calibration_report(np.ones((3, 2)) / 2, np.array([0, 1]))
    with pytest.raises(ClassKitError):
        calibration_report(np.ones((2, 2)) / 2, np.array([0, 1]), n_bins=0)
