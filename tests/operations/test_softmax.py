"""softmax, log_softmax and logsumexp (tinygrad_sm/operations/softmax.py)."""

from __future__ import annotations

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
    ([1000.0, 1000.0, -1000.0], {
        "softmax": ([0.5, 0.5, 0.0], [0.0, 0.0, 0.0]),
        "log_softmax": ([-0.6931471805599453, -0.6931471805599453, -2000.69314718056], [-0.5, -0.5, 1.0]),
        "logsumexp": (1000.6931471805599, [0.5, 0.5, 0.0]),
    }),
    ([0.0, -inf, 1.0], {
        "softmax": ([0.2689414213699951, 0.0, 0.7310585786300049], [0.0, 0.0, 0.0]),
        "log_softmax": ([-1.3132616875182228, -inf, -0.31326168751822286], [0.1931757358900147, 1.0, -1.1931757358900148]),
        "logsumexp": (1.3132616875182228, [0.2689414213699951, 0.0, 0.7310585786300049]),
    }),
    ([-inf, -inf, -inf], {
        "softmax": ([np.nan] * 3, [np.nan] * 3),
        "log_softmax": ([np.nan] * 3, [np.nan] * 3),
        "logsumexp": (-inf, [np.nan] * 3),
    }),
    ([inf, 0.0, 1.0], {
        "softmax": ([np.nan] * 3, [np.nan] * 3),
        "log_softmax": ([np.nan] * 3, [np.nan] * 3),
        "logsumexp": (inf, [np.nan, 0.0, 0.0]),
    }),
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
