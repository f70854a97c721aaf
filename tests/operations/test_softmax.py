"""softmax, log_softmax (with mask= and temperature=) and logsumexp (tinygrad_sm/operations/softmax.py), and the
warning for log(softmax(x))."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from helpers import axes_for, check_gradients, check_second_derivatives, random_array, seeds, shapes
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_sm
from tinygrad_sm import Tensor

inf = np.inf


def np_logsumexp(x, axis, keepdims=False):
    top = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(x - top), axis=axis, keepdims=True)) + top
    return out if keepdims else np.squeeze(out, axis=axis)


def np_softmax(x, axis):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


FAMILY = {
    "softmax": (lambda t, axis: t.softmax(axis=axis), np_softmax),
    "log_softmax": (lambda t, axis: t.log_softmax(axis=axis), lambda x, axis: np.log(np_softmax(x, axis))),
    "logsumexp": (lambda t, axis: t.logsumexp(axis=axis), np_logsumexp),
}


@st.composite
def shape_and_axis(draw):
    shape = draw(shapes(min_dims=1, max_dims=3, max_side=4))
    return shape, draw(axes_for(len(shape), allow_none=False, allow_tuple=False))


@pytest.mark.parametrize("name", FAMILY)
@given(case=shape_and_axis(), seed=seeds)
def test_values_match_numpy(name, case, seed):
    shape, axis = case
    x = random_array(seed, shape, -5, 5)
    fn, reference = FAMILY[name]
    np.testing.assert_allclose(fn(Tensor(x), axis).data, reference(x, axis), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", FAMILY)
@given(case=shape_and_axis(), seed=seeds)
def test_gradcheck(name, case, seed):
    shape, axis = case
    check_gradients(lambda t: FAMILY[name][0](t, axis), random_array(seed, shape))


@pytest.mark.parametrize("name", FAMILY)
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_second_derivatives(name, axis):
    check_second_derivatives(lambda t: FAMILY[name][0](t, axis), random_array(3, (3, 4)))


def test_default_axis_is_last():
    x = random_array(4, (2, 3))
    np.testing.assert_allclose(Tensor(x).softmax().data, np_softmax(x, -1))
    np.testing.assert_allclose(Tensor(x).log_softmax().data, np.log(np_softmax(x, -1)))
    np.testing.assert_allclose(Tensor(x).logsumexp().data, np_logsumexp(x, -1))


@pytest.mark.parametrize("axis, keepdims", [((0, 2), False), ((-1, 0), True), (None, False), (None, True), (1, True)])
def test_logsumexp_tuple_axes_and_keepdims(axis, keepdims):
    x = random_array(5, (2, 3, 2))
    out = Tensor(x).logsumexp(axis=axis, keepdims=keepdims)
    expected = np_logsumexp(x, tuple(range(3)) if axis is None else axis, keepdims)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12)
    check_gradients(lambda t: t.logsumexp(axis=axis, keepdims=keepdims), x)


def test_softmax_backward_is_the_jacobian_vector_product():
    # gᵀ J with J = diag(p) − p pᵀ, compared to an explicit Jacobian
    x = random_array(6, (5,))
    g = random_array(7, (5,))
    p = np_softmax(x, -1)
    t = Tensor(x, requires_grad=True)
    t.softmax().backward(g)
    np.testing.assert_allclose(t.grad.data, (np.diag(p) - np.outer(p, p)) @ g, rtol=1e-12)
    np.testing.assert_allclose(tinygrad_sm.jacobian(lambda u: u.softmax(), x), np.diag(p) - np.outer(p, p), rtol=1e-12)


def test_softmax_backward_never_builds_the_jacobian():
    # the C x C Jacobian of one row of 200,000 classes would need 320 GB; the JVP needs O(C)
    classes = 200_000
    x = Tensor(np.random.default_rng(0).standard_normal((1, classes)).astype(np.float32), requires_grad=True)
    (x.softmax() * Tensor(np.ones((1, classes), np.float32))).sum().backward()
    # softmax sums to 1 whatever the logits, so d(sum p)/dz = 0
    np.testing.assert_allclose(x.grad.data, 0.0, atol=1e-6)
    x.zero_grad()
    x.log_softmax()[0, 0].backward()
    assert x.grad.shape == (1, classes) and np.isfinite(x.grad.data).all()


def test_float32_is_kept():
    x = Tensor(np.array([[1.0, 2.0]], np.float32), requires_grad=True)
    for out in (x.softmax(), x.log_softmax(), x.logsumexp()):
        assert out.dtype == np.float32
        out.sum().backward()
        assert x.grad.dtype == np.float32


# ----- numerically hostile input: PyTorch's values ------------------------------------------
# torch.softmax / log_softmax / logsumexp of each row, and the gradient of .sum() of the result
HOSTILE = [
    (
        [1000.0, 1000.0, -1000.0],
        {
            "softmax": ([0.5, 0.5, 0.0], [0.0, 0.0, 0.0]),
            "log_softmax": ([-0.6931471805599453, -0.6931471805599453, -2000.69314718056], [-0.5, -0.5, 1.0]),
            "logsumexp": (1000.6931471805599, [0.5, 0.5, 0.0]),
        },
    ),
    (
        [0.0, -inf, 1.0],
        {
            "softmax": ([0.2689414213699951, 0.0, 0.7310585786300049], [0.0, 0.0, 0.0]),
            "log_softmax": ([-1.3132616875182228, -inf, -0.31326168751822286], [0.1931757358900147, 1.0, -1.1931757358900148]),
            "logsumexp": (1.3132616875182228, [0.2689414213699951, 0.0, 0.7310585786300049]),
        },
    ),
    (
        [-inf, -inf, -inf],
        {
            "softmax": ([np.nan] * 3, [np.nan] * 3),
            "log_softmax": ([np.nan] * 3, [np.nan] * 3),
            "logsumexp": (-inf, [np.nan] * 3),
        },
    ),
    (
        [inf, 0.0, 1.0],
        {
            "softmax": ([np.nan] * 3, [np.nan] * 3),
            "log_softmax": ([np.nan] * 3, [np.nan] * 3),
            "logsumexp": (inf, [np.nan, 0.0, 0.0]),
        },
    ),
]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("row, expected", HOSTILE, ids=["large", "one -inf", "all -inf", "+inf"])
@pytest.mark.parametrize("name", FAMILY)
def test_hostile_rows_match_pytorch(name, row, expected):
    x = Tensor(np.array(row), requires_grad=True)
    out = FAMILY[name][0](x, -1)
    value, grad = expected[name]
    np.testing.assert_allclose(out.data, value, rtol=1e-12)
    out.sum().backward()
    np.testing.assert_allclose(x.grad.data, grad, rtol=1e-12, atol=1e-15)


def test_large_float32_logits_stay_finite():
    # exp(88) is near float32's limit and exp(89) overflows; the max-shift keeps everything finite
    x = Tensor(np.array([88.0, 89.0, 90.0], np.float32), requires_grad=True)
    p = x.softmax()
    np.testing.assert_allclose(p.data, [0.09003057, 0.24472848, 0.66524094], rtol=1e-6)
    np.testing.assert_allclose(x.log_softmax().data, [-2.407606, -1.4076059, -0.40760595], rtol=1e-6)
    np.testing.assert_allclose(x.logsumexp().data, 90.40761, rtol=1e-6)
    x.logsumexp().backward()
    # PyTorch's float32 gradient exp(z - logsumexp(z)) (rounding in z - 90.40761 included)
    np.testing.assert_allclose(x.grad.data, [0.09003038704395294, 0.2447279691696167, 0.6652395725250244], rtol=1e-6)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_rows_with_minus_inf_in_a_batch_do_not_spoil_other_rows():
    x = Tensor(np.array([[-inf, -inf], [0.0, np.log(3.0)]]), requires_grad=True)
    out = x.logsumexp(axis=1)
    np.testing.assert_allclose(out.data, [-inf, np.log(4.0)])
    np.testing.assert_allclose(x.softmax(axis=1).data[1], [0.25, 0.75])


# ----- empty axes and integer inputs (as PyTorch) ------------------------------------------------
@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize(("shape", "axis"), [((2, 0), 1), ((2, 0), 0), ((0, 3), -1), ((0,), 0)])
def test_an_empty_tensor_gives_an_empty_result(name, shape, axis):
    x = Tensor(np.ones(shape), requires_grad=True)
    out = getattr(x, name)(axis=axis)
    assert out.shape == shape
    out.sum().backward()
    assert x.grad.shape == shape


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dtype", [np.int64, np.int8, np.bool_])
def test_softmax_of_an_integer_tensor_is_an_error(name, dtype):
    with pytest.raises(TypeError, match=f"{name}: expected a floating-point tensor, got dtype"):
        getattr(Tensor(np.array([1, 2], dtype)), name)()


# ----- mask= and temperature= ------------------------------------------------------------------
MASKED = {
    "softmax": (lambda t, **kw: t.softmax(**kw), 0.0),
    "log_softmax": (lambda t, **kw: t.log_softmax(**kw), -inf),
}


@st.composite
def masked_case(draw):
    """(shape, axis, mask) with at least one kept entry in every row along the axis."""
    shape, axis = draw(shape_and_axis())
    seed = draw(seeds)
    mask = np.random.default_rng(seed).random(shape) < 0.6
    first = [slice(None)] * len(shape)
    first[axis] = 0
    mask[tuple(first)] = True
    return shape, axis, mask, seed


@pytest.mark.parametrize("name", MASKED)
@given(case=masked_case())
def test_mask_matches_pytorch_masked_fill_then_softmax(name, case):
    torch = pytest.importorskip("torch")
    shape, axis, mask, seed = case
    x, g = random_array(seed, shape, -5, 5), random_array(seed + 1, shape)
    t = Tensor(x, requires_grad=True)
    out = MASKED[name][0](t, axis=axis, mask=mask)
    out.backward(np.where(mask, g, 0.0))
    tx = torch.tensor(x, requires_grad=True)
    expected = getattr(torch, name)(tx.masked_fill(~torch.tensor(mask), -inf), dim=axis)
    expected.backward(torch.tensor(np.where(mask, g, 0.0)))
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(t.grad.data, tx.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", MASKED)
@given(case=masked_case())
def test_masked_gradcheck(name, case):
    shape, axis, mask, seed = case
    fn = MASKED[name][0]
    # (the masked entries of log_softmax are -inf: gradcheck the finite ones)
    check_gradients(lambda t: fn(t, axis=axis, mask=mask).masked_fill(~mask, 0.0), random_array(seed, shape))


@pytest.mark.parametrize("name", MASKED)
def test_masked_and_tempered_second_derivatives(name):
    fn = MASKED[name][0]
    mask = np.array([[True, False, True, True], [False, False, False, False], [True, True, False, True]])
    x = random_array(11, (3, 4))
    check_second_derivatives(lambda t: fn(t, mask=mask, temperature=0.7).masked_fill(~mask, 0.0), x)
    check_second_derivatives(lambda t: fn(t, axis=0, temperature=2.5), x)


@pytest.mark.filterwarnings("error")  # no invalid-value (0/0) or divide-by-zero warnings
@pytest.mark.parametrize("name", MASKED)
def test_a_fully_masked_row_is_constant_with_a_zero_gradient(name):
    fn, fill = MASKED[name]
    x = Tensor(np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), requires_grad=True)
    mask = np.array([[True, False, True], [False, False, False]])
    out = fn(x, mask=mask)
    np.testing.assert_array_equal(out.data[1], [fill] * 3)
    assert out.data[0, 1] == fill
    np.testing.assert_allclose(out.data[0, [0, 2]], MASKED[name][0](Tensor(np.array([1.0, 3.0]))).data, rtol=1e-15)
    g = np.array([[1.0, 5.0, 2.0], [-1.0, 2.0, 3.0]])
    out.backward(g)
    np.testing.assert_array_equal(x.grad.data[1], [0.0, 0.0, 0.0])
    # the kept entries get the gradient of the op on them alone; the one at the masked entry is ignored
    kept = Tensor(np.array([1.0, 3.0]), requires_grad=True)
    fn(kept).backward(g[0, [0, 2]])
    np.testing.assert_allclose(x.grad.data[0], [kept.grad.data[0], 0.0, kept.grad.data[1]], rtol=1e-15)


@pytest.mark.filterwarnings("error")  # (and silently: where's fast path checks for ∞ before it multiplies)
@pytest.mark.parametrize("name", MASKED)
def test_an_infinite_upstream_gradient_at_masked_entries_is_ignored(name):
    x = Tensor(np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), requires_grad=True)
    mask = np.array([[True, False, True], [False, False, False]])
    MASKED[name][0](x, mask=mask).backward(np.array([[1.0, np.inf, 2.0], [np.inf, -np.inf, 3.0]]))
    np.testing.assert_array_equal(x.grad.data[1], [0.0, 0.0, 0.0])
    assert x.grad.data[0, 1] == 0.0 and np.isfinite(x.grad.data).all()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("name", MASKED)
def test_masked_entries_keep_their_constant_when_the_kept_entries_are_all_minus_inf(name):
    # the kept entries' softmax is nan (as PyTorch's), the masked ones stay constants (0, or -inf)
    fn, masked_value = MASKED[name]
    out = fn(Tensor(np.array([[-inf, -inf, 1.0]])), mask=np.array([[False, True, False]]))
    assert out.data[0, 0] == masked_value and out.data[0, 2] == masked_value and np.isnan(out.data[0, 1])


@pytest.mark.parametrize("name", MASKED)
def test_the_gradient_at_masked_entries_is_zero_when_the_row_is_nan(name):
    # a nan upstream gradient at a kept entry makes the row's Σ g·p nan; a masked entry is a constant, so
    # its gradient stays 0 (0·nan would be nan), as PyTorch's masked_fill(−inf) gives
    x = Tensor(np.array([[0.5, -1.0, 2.0], [1.0, 2.0, 3.0]]), requires_grad=True)
    mask = np.array([[True, False, True], [True, True, True]])
    with np.errstate(invalid="ignore"):
        MASKED[name][0](x, mask=mask).backward(np.array([[np.nan, 1.0, 2.0], [1.0, 1.0, 1.0]]))
    assert x.grad.data[0, 1] == 0.0
    assert np.isnan(x.grad.data[0, [0, 2]]).all() and np.isfinite(x.grad.data[1]).all()


@pytest.mark.filterwarnings("error")
def test_entropy_of_a_masked_softmax_has_a_finite_gradient():
    # Σ p log p: the log of a masked p = 0 is -inf, so its upstream gradient there is infinite
    x = Tensor(np.array([[0.5, -1.0, 2.0], [0.0, 0.0, 0.0]]), requires_grad=True)
    mask = np.array([[True, False, True], [False, False, False]])
    logp = x.log_softmax(mask=mask)
    p = x.softmax(mask=mask)
    entropy = -(p * logp.masked_fill(~mask, 0.0)).sum()
    entropy.backward()
    assert np.isfinite(x.grad.data).all()
    assert x.grad.data[0, 1] == 0.0 and (x.grad.data[1] == 0.0).all()


def test_mask_accepts_a_bool_tensor_and_broadcasts():
    x = Tensor(random_array(12, (2, 3, 4)), requires_grad=True)
    keep = np.array([True, True, False, True])
    out = x.softmax(axis=-1, mask=Tensor(keep))
    np.testing.assert_allclose(out.data, x.softmax(mask=np.broadcast_to(keep, (2, 3, 4))).data, rtol=0)
    np.testing.assert_allclose(out.data[..., keep], np_softmax(x.data[..., keep], -1), rtol=1e-14)
    out.sum().backward()
    assert x.grad.shape == (2, 3, 4)


@pytest.mark.parametrize("name", MASKED)
@pytest.mark.parametrize("temperature", [0.1, 0.5, 3.0, 7])
def test_temperature_matches_pytorch_softmax_of_x_over_t(name, temperature):
    torch = pytest.importorskip("torch")
    x, g = random_array(13, (4, 5), -3, 3), random_array(14, (4, 5))
    t = Tensor(x, requires_grad=True)
    out = MASKED[name][0](t, axis=0, temperature=temperature)
    out.backward(g)
    tx = torch.tensor(x, requires_grad=True)
    expected = getattr(torch, name)(tx / temperature, dim=0)
    expected.backward(torch.tensor(g))
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(t.grad.data, tx.grad.numpy(), rtol=1e-12, atol=1e-15)
    check_gradients(lambda u: MASKED[name][0](u, axis=0, temperature=temperature), x)


def test_temperature_and_mask_together_keep_float32():
    x = Tensor(np.array([[1.0, 2.0, 3.0]], np.float32), requires_grad=True)
    for out in (x.softmax(mask=np.array([True, False, True]), temperature=2.0), x.log_softmax(temperature=0.5)):
        assert out.dtype == np.float32
        out.sum().backward()
        assert x.grad.dtype == np.float32


@pytest.mark.parametrize("name", MASKED)
@pytest.mark.parametrize("temperature", [np.float32(0.5), np.int64(2), np.array(0.5), Tensor(0.5)], ids=repr)
def test_temperature_may_be_a_numpy_number_or_0d_tensor(name, temperature):
    x = Tensor(np.array([[1.0, 2.0, 3.0]], np.float32), requires_grad=True)
    out = MASKED[name][0](x, temperature=temperature)
    expected = MASKED[name][0](Tensor(x.data), temperature=float(np.asarray(temperature)))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, expected.data, rtol=1e-6)  # (a float64 T divides in float64)


@pytest.mark.parametrize("name", MASKED)
@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"temperature": 0.0}, ValueError, "temperature must be a finite number > 0, got 0.0"),
        ({"temperature": -1}, ValueError, "temperature must be a finite number > 0, got -1"),
        ({"temperature": np.inf}, ValueError, "temperature must be a finite number > 0, got inf"),
        ({"temperature": np.nan}, ValueError, "temperature must be a finite number > 0, got nan"),
        ({"temperature": "2"}, ValueError, "temperature must be a finite number > 0, got '2'"),
        ({"mask": np.array([1, 0, 1])}, TypeError, "mask must be a bool array (True = keep), got dtype int64"),
        ({"mask": np.ones((3, 1), bool)}, ValueError, "mask of shape (3, 1) does not broadcast to the input's shape (2, 3)"),
        (
            {"mask": np.ones((2, 2, 3), bool)},
            ValueError,
            "mask of shape (2, 2, 3) does not broadcast to the input's shape (2, 3)",
        ),
    ],
)
def test_bad_mask_or_temperature_is_a_clear_error(name, kwargs, error, message):
    with pytest.raises(error, match=re.escape(f"{name}: {message}")):
        MASKED[name][0](Tensor(np.zeros((2, 3)), requires_grad=True), **kwargs)


def test_functional_softmax_takes_mask_and_temperature():
    from tinygrad_sm.nn import functional as F

    x = Tensor(random_array(15, (2, 3)))
    mask = np.array([True, False, True])
    np.testing.assert_array_equal(
        F.softmax(x, dim=-1, mask=mask, temperature=2.0).data, x.softmax(mask=mask, temperature=2.0).data
    )
    np.testing.assert_array_equal(F.log_softmax(x, dim=0, temperature=2.0).data, x.log_softmax(axis=0, temperature=2.0).data)


# ----- log(softmax(x)) warns ------------------------------------------------------------------
def test_log_of_a_softmax_warns_once_per_line():
    x = Tensor(random_array(16, (2, 3)), requires_grad=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        for _ in range(3):
            x.softmax().log()  # one line: one warning
        x.softmax(axis=0).log()  # another line: another
    assert [w.category for w in caught] == [tinygrad_sm.LogOfSoftmaxWarning] * 2
    assert "log(softmax(x)) loses precision where p underflows; use log_softmax(x)" in str(caught[0].message)
    assert caught[0].filename == __file__  # it points at the user's line, not at the library


def test_log_of_a_softmax_warning_can_be_silenced():
    x = Tensor(random_array(17, (3,)), requires_grad=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", category=tinygrad_sm.LogOfSoftmaxWarning)
        with pytest.raises(tinygrad_sm.LogOfSoftmaxWarning):
            x.softmax().log()
        warnings.filterwarnings("ignore", category=tinygrad_sm.LogOfSoftmaxWarning)
        np.testing.assert_allclose(x.softmax().log().data, x.log_softmax().data, rtol=1e-14)
    assert issubclass(tinygrad_sm.LogOfSoftmaxWarning, UserWarning)
    from tinygrad_sm import operations

    assert operations.LogOfSoftmaxWarning is tinygrad_sm.LogOfSoftmaxWarning


def test_log_of_other_tensors_does_not_warn():
    x = Tensor(random_array(18, (2, 3), 0.5, 2.0), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x.log()
        x.softmax().exp().log()  # not the softmax's output itself
        (x.softmax() + 0).log()
        x.log_softmax().exp().log()
        x.sigmoid().log()
        Tensor(x.softmax().data).log()  # detached: no softmax node


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_a_0d_tensor_goes_through_the_in_place_forward_and_backward(name, dtype):
    # (0-d arithmetic gives NumPy scalars, which an in-place exp cannot write into; found by the fuzzer)
    x = Tensor(np.array(0.548, dtype=dtype), requires_grad=True)
    y = getattr(x, name)(axis=0)
    assert y.shape == () and y.dtype == dtype and float(y.data) == (1.0 if name == "softmax" else 0.0)
    (y * 0.05).backward()
    assert x.grad.shape == () and float(x.grad.data) == 0.0
    from tinygrad_sm.operations.rule_helpers import exp_times

    assert exp_times(np.array(0.0, dtype), np.array(2.0, dtype)) == 2.0


def test_the_rules_log_of_a_softmax_output_does_not_warn_but_the_users_does():
    import warnings

    from tinygrad_sm.operations.rule_helpers import log
    from tinygrad_sm.operations.softmax import LogOfSoftmaxWarning

    p = Tensor(np.array([0.3, -0.2, 0.9]), requires_grad=True).softmax()
    with warnings.catch_warnings():
        warnings.simplefilter("error", LogOfSoftmaxWarning)
        logged = log(p)  # (what a recorded backward calls: the op, not the user-facing method)
    np.testing.assert_allclose(logged.data, np.log(p.data))
    assert logged.grad_fn is not None
    with pytest.warns(LogOfSoftmaxWarning):
        p.log()  # (the user's own log of a softmax still warns)


@pytest.mark.parametrize("shape", [(300, 600), (3, 70, 1100), (40, 2000)])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_rows_taken_a_block_at_a_time_give_the_formula(name, shape):
    """Along the last axis, large arrays go a cache-sized block of rows at a time (several blocks here,
    the last one partial): forward and backward still match the float64 formulas, with an inf row too."""
    z = random_array(50, shape).astype(np.float32) * 10
    z[(0,) * (len(shape) - 1)][3] = np.inf  # (a row with +inf: nan, as PyTorch)
    g = random_array(51, shape).astype(np.float32)
    x = Tensor(z, requires_grad=True)
    with np.errstate(invalid="ignore"):  # (inf − inf in the inf row, as NumPy's own formula warns)
        out = getattr(x, name)(axis=-1)
        out.backward(Tensor(g))
    z64, g64 = z.astype(np.float64), g.astype(np.float64)
    with np.errstate(invalid="ignore"):
        p = np_softmax(z64, -1)
        if name == "softmax":
            expected, grad = p, p * (g64 - (g64 * p).sum(axis=-1, keepdims=True))
        else:
            expected, grad = np.log(p), g64 - p * g64.sum(axis=-1, keepdims=True)
    assert out.dtype == np.float32 and x.grad.dtype == np.float32
    np.testing.assert_allclose(out.data, expected, rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(x.grad.data, grad, rtol=2e-4, atol=1e-6)
