"""detect_anomaly: the first NaN/Inf, forward or backward, names the op, its input shapes and the user's line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tinygrad_sm
from tinygrad_sm import Tensor, detect_anomaly, nn
from tinygrad_sm.anomaly import AnomalyError, is_anomaly_enabled
from tinygrad_sm.grad_mode import hooks
from tinygrad_sm.viz import trace_backward

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's divide-by-zero warnings are expected


def line_of(text: str) -> int:
    """The line number of ``text`` in this file (so tests do not hard-code line numbers)."""
    lines = Path(__file__).read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, 1) if text in line and "line_of" not in line)


def test_log_of_zero_in_forward_names_op_shapes_and_line():
    x = Tensor([1.0, 0.0, 2.0], requires_grad=True)
    with pytest.raises(AnomalyError) as caught, detect_anomaly():
        x.log()  # the op that makes -inf
    error = caught.value
    assert isinstance(error, RuntimeError)
    assert (error.op, error.phase, error.input_shapes) == ("log", "forward", ((3,),))
    assert error.site.filename == __file__ and error.site.lineno == line_of("x.log()  # the op that makes -inf")
    message = str(error)
    assert "log produced 1 -inf of 3 values" in message and "index (1,)" in message
    assert "input shapes: (3,)" in message
    assert f"{__file__}:{error.site.lineno}" in message and "x.log()" in message


def test_zero_divided_by_zero_gives_nan_in_div():
    a = Tensor([[0.0, 1.0]], requires_grad=True)
    b = Tensor([0.0, 2.0])
    with pytest.raises(AnomalyError, match=r"div produced 1 nan of 2 values") as caught, detect_anomaly():
        a / b
    assert caught.value.input_shapes == ((1, 2), (2,))


def test_one_over_zero_gives_inf():
    x = Tensor([0.0, 4.0], requires_grad=True)
    with pytest.raises(AnomalyError, match=r"produced 1 inf of 2 values"), detect_anomaly():
        1.0 / x


def test_sqrt_at_zero_backward_gives_inf_and_points_at_the_forward_line():
    x = Tensor([4.0, 0.0], requires_grad=True)
    with pytest.raises(AnomalyError) as caught, detect_anomaly():
        y = x.sqrt().sum()  # finite forward: sqrt(0) = 0
        y.backward()
    error = caught.value
    assert (error.op, error.phase, error.input_shapes) == ("sqrt", "backward", ((2,),))
    assert error.site.lineno == line_of("y = x.sqrt().sum()  # finite forward")
    message = str(error)
    assert "backward of sqrt produced 1 inf of 2 values" in message and "input 0" in message
    assert "g / (2z)" in message  # the op's rule, to see why
    assert "y = x.sqrt().sum()" in message


def test_backward_only_inside_the_block_says_the_line_is_unknown():
    x = Tensor([0.0, 1.0], requires_grad=True)
    y = x.sqrt().sum()
    with pytest.raises(AnomalyError, match="created outside detect_anomaly") as caught, detect_anomaly():
        y.backward()
    assert caught.value.site is None and caught.value.phase == "backward"


def test_nan_that_came_in_is_not_the_next_ops_fault():
    with detect_anomaly():
        x = Tensor([np.nan, 1.0], requires_grad=True)
        y = (x * 2).exp().sum()  # forward: the nan came from x, not from mul or exp
        y.backward()  # backward: exp's rule g·eᵃ is nan where its input is; again not exp's fault
    assert np.isnan(x.grad.data[0]) and np.isfinite(x.grad.data[1])


def test_log_of_zero_computed_outside_is_caught_in_backward():
    x = Tensor([0.0, 1.0], requires_grad=True)
    y = x.log().sum()  # -inf, unchecked out here
    with pytest.raises(AnomalyError, match="backward of log produced 1 inf"), detect_anomaly():
        y.backward()  # g / a with a = 0: log's inputs were finite, so log is to blame


def test_backward_with_a_nan_incoming_gradient_is_not_flagged_again():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with detect_anomaly():
        (x * 3).backward(gradient=np.array([np.nan, 1.0], dtype=np.float32))
    assert np.isnan(x.grad.data[0])


def test_the_site_skips_frames_inside_the_package():
    layer = nn.Linear(2, 1, rng=0)
    x = Tensor([[1e38, 1e38]], dtype=np.float32)
    layer.weight.data[...] = 1e38
    with pytest.raises(AnomalyError) as caught, detect_anomaly():
        layer(x)  # overflows to inf inside nn.Linear
    assert caught.value.site.filename == __file__
    assert caught.value.site.lineno == line_of("layer(x)  # overflows")


def test_finite_work_passes_and_the_hook_is_restored():
    assert hooks.observer is None and not is_anomaly_enabled()
    x = Tensor([1.0, 2.0], requires_grad=True)
    with detect_anomaly() as outer:
        assert is_anomaly_enabled()
        checker = hooks.observer
        with detect_anomaly():
            assert hooks.observer is not checker
            (x.log() * x).sum().backward()
        assert hooks.observer is checker
        with pytest.raises(AnomalyError):
            with outer:  # the same object may be entered again (nested)
                Tensor([-1.0]).sqrt()
        assert hooks.observer is checker
    assert hooks.observer is None
    np.testing.assert_allclose(x.grad.data, np.log([1.0, 2.0]) + 1)


def test_outside_the_block_nothing_is_checked():
    y = Tensor([0.0]).log()
    assert np.isneginf(y.data[0])


def test_as_a_decorator():
    @detect_anomaly()
    def step(x):
        return (x - x).log()

    with pytest.raises(AnomalyError, match="log"):
        step(Tensor([1.0]))
    assert hooks.observer is None


def test_works_under_trace_backward():
    x = Tensor([0.0, 1.0], requires_grad=True)
    with detect_anomaly():
        y = x.sqrt().sum()
        with pytest.raises(AnomalyError, match="backward of sqrt"):
            trace_backward(y)
    assert hooks.observer is None


def test_exported_at_top_level():
    assert tinygrad_sm.detect_anomaly is detect_anomaly
