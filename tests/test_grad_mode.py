"""Grad mode (tinygrad_sm/grad_mode.py): no_grad/enable_grad as context managers and decorators
(nesting, exceptions, generators), the mode per thread as in PyTorch, and the engine's observer slot,
which is process-wide."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_sm
from tinygrad_sm import Tensor, enable_grad, is_grad_enabled, no_grad


# ----- no_grad / enable_grad --------------------------------------------------------------
def test_no_grad_and_enable_grad_context_managers_nest():
    x = Tensor([1.0], requires_grad=True)
    assert is_grad_enabled()
    with no_grad():
        assert not is_grad_enabled()
        y = x * 2
        with enable_grad():
            assert is_grad_enabled()
            z = x * 2
            with no_grad():
                w = x * 2
        assert not is_grad_enabled()
    assert is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn is not None
    assert not w.requires_grad


def test_grad_mode_is_restored_after_an_exception():
    with pytest.raises(ZeroDivisionError):
        with no_grad():
            raise ZeroDivisionError
    assert is_grad_enabled()


def test_same_no_grad_object_entered_twice():
    guard = no_grad()
    with guard:
        with guard:
            assert not is_grad_enabled()
        assert not is_grad_enabled()
    assert is_grad_enabled()


def test_decorators_with_and_without_parentheses():
    x = Tensor([1.0], requires_grad=True)

    @no_grad
    def bare(t):
        return t * 2

    @no_grad()
    def called(t):
        return t * 2

    @enable_grad
    def bare_enable(t):
        return t * 2

    @enable_grad()
    def called_enable(t):
        return t * 2

    assert not bare(x).requires_grad and not called(x).requires_grad
    assert bare.__name__ == "bare"  # functools.wraps-style
    assert is_grad_enabled()
    with no_grad():
        assert bare_enable(x).requires_grad and called_enable(x).requires_grad
        assert not is_grad_enabled()
    # a decorated function can be called many times
    assert not bare(x).requires_grad and not bare(x).requires_grad


def test_no_grad_records_nothing():
    x = Tensor([1.0], requires_grad=True)
    with no_grad():
        y = (x * 2).exp().sum()
    assert y.grad_fn is None and not y.requires_grad and y.is_leaf
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


# ----- grad mode is per thread (as in PyTorch) -------------------------------------------
def _in_thread(fn):
    import threading

    result, errors = [], []

    def run():
        try:
            result.append(fn())
        except BaseException as error:  # re-raised in the main thread
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


def test_no_grad_in_another_thread_leaves_this_thread_recording():
    import threading

    inside, release = threading.Event(), threading.Event()

    def other():
        with tinygrad_sm.no_grad():
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=other)
    thread.start()
    inside.wait(5)
    try:
        assert tinygrad_sm.is_grad_enabled()
        assert (Tensor([1.0], requires_grad=True) * 2).requires_grad
    finally:
        release.set()
        thread.join()
    assert tinygrad_sm.is_grad_enabled()


def test_no_grad_blocks_exiting_out_of_order_in_two_threads_restore_each_thread():
    import threading

    steps = [threading.Event() for _ in range(3)]

    def first():
        with tinygrad_sm.no_grad():
            steps[0].set()
            steps[1].wait(5)  # the second thread enters after us and leaves after us
        steps[2].set()

    def second():
        steps[0].wait(5)
        with tinygrad_sm.no_grad():
            steps[1].set()
            steps[2].wait(5)
        return tinygrad_sm.is_grad_enabled()

    thread = threading.Thread(target=first)
    thread.start()
    assert _in_thread(second) is True
    thread.join()
    assert tinygrad_sm.is_grad_enabled()
    assert _in_thread(tinygrad_sm.is_grad_enabled) is True


def test_a_decorated_function_running_in_two_threads_restores_each():
    import threading

    gate = threading.Barrier(2)

    @tinygrad_sm.no_grad()
    def inference():
        gate.wait(5)
        return tinygrad_sm.is_grad_enabled()

    results = []
    threads = [threading.Thread(target=lambda: results.append(inference())) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [False, False]
    assert tinygrad_sm.is_grad_enabled()


def test_backward_in_one_thread_does_not_stop_recording_in_another():
    import threading

    def train(seed, out):
        rng = np.random.default_rng(seed)
        w = Tensor(rng.standard_normal(4), requires_grad=True)
        for _ in range(200):
            x = rng.standard_normal(4)
            loss = ((w * x).sum() - 1.0) ** 2
            if not loss.requires_grad:
                out.append("loss not recorded")
                return
            w.grad = None
            loss.backward()
            expected = 2 * (float((w.data * x).sum()) - 1.0) * x
            if not np.allclose(w.grad.data, expected, rtol=1e-5, atol=1e-6):
                out.append("wrong gradient")
                return
        out.append("ok")

    results: list[str] = []
    threads = [threading.Thread(target=train, args=(seed, results)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["ok"] * 4


def test_a_new_thread_starts_with_grad_enabled_even_inside_no_grad():
    with tinygrad_sm.no_grad():
        assert _in_thread(tinygrad_sm.is_grad_enabled) is True


def test_no_grad_with_a_non_function_argument_is_an_error():
    with pytest.raises(TypeError, match="no_grad: expected a function to decorate"):
        tinygrad_sm.no_grad(5)
    with pytest.raises(TypeError, match="enable_grad: expected a function"):
        tinygrad_sm.enable_grad("x")


# ----- generators, and the observer slot --------------------------------------------------
def test_no_grad_on_a_generator_function_covers_every_step():
    x = Tensor([1.0], requires_grad=True)

    @tinygrad_sm.no_grad()
    def doubled(n):
        for _ in range(n):
            assert not tinygrad_sm.is_grad_enabled()
            yield x * 2
        return "done"

    assert [t.requires_grad for t in doubled(3)] == [False, False, False]
    assert tinygrad_sm.is_grad_enabled()
    steps = doubled(2)
    next(steps)
    assert tinygrad_sm.is_grad_enabled()  # between steps the caller's mode is back
    steps.close()

    @tinygrad_sm.enable_grad
    def recorded():
        yield x * 2

    with tinygrad_sm.no_grad():
        assert next(recorded()).requires_grad


def test_anomaly_detection_is_process_wide_as_in_pytorch():
    import threading

    seen = []
    with tinygrad_sm.detect_anomaly():
        thread = threading.Thread(target=lambda: seen.append(tinygrad_sm.anomaly.is_anomaly_enabled()))
        thread.start()
        thread.join()
    assert seen == [True]
