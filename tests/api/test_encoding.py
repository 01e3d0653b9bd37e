"""Display rounding: the only approximation between the network and the screen."""

from __future__ import annotations

import numpy as np
import orjson

from app.api.encoding import dumps, round_sig


def test_round_sig_equals_python_formatting() -> None:
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(20_000) * np.exp(rng.uniform(-30, 12, 20_000))).astype(np.float32)
    x[:8] = [0.0, 1.0, -1.0, 10.0, 0.001, 99995.0, 1e-30, -0.00012345]
    got = round_sig(x, 4)
    expected = np.array([float(f"{float(v):.4g}") for v in x], dtype=np.float32)
    assert np.array_equal(got, expected)
    assert np.array_equal(round_sig(x, 2), np.array([float(f"{float(v):.2g}") for v in x], dtype=np.float32))


def test_non_finite_values_pass_through_and_json_stays_short() -> None:
    assert np.isnan(round_sig([float("nan")])[0]) and np.isinf(round_sig([float("inf")])[0])
    text = dumps({"v": round_sig(np.array([[0.123456789, -2.718281828]], dtype=np.float32))})
    assert orjson.loads(text) == {"v": [[0.1235, -2.718]]}
