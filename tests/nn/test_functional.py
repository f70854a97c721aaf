"""tinygrad_sm.nn.functional: each F name is the Tensor method's op."""

from __future__ import annotations

import numpy as np
import pytest

from tinygrad_sm import Tensor
from tinygrad_sm.nn import functional as F


@pytest.mark.parametrize("name", ["relu", "tanh", "sigmoid", "softmax", "log_softmax"])
def test_each_functional_form_is_the_tensor_method(name):
    x = Tensor(np.array([[0.5, -1.0, 2.0], [0.0, 3.0, -0.5]]))
    np.testing.assert_array_equal(getattr(F, name)(x).data, getattr(x, name)().data)


def test_functional_softmax_takes_pytorchs_dim():
    x = Tensor(np.array([[0.5, -1.0], [0.0, 3.0]]))
    np.testing.assert_array_equal(F.softmax(x, dim=0).data, x.softmax(axis=0).data)


def test_dropout_keeps_the_expectation_and_is_the_identity_when_not_training():
    x = Tensor(np.ones((200, 50)))
    assert F.dropout(x, 0.5, training=False) is x
    y = F.dropout(x, 0.5, rng=0).data
    assert set(np.unique(y)) == {0.0, 2.0}
    assert abs(y.mean() - 1.0) < 0.05
    with pytest.raises(ValueError, match="dropout: p must be a probability"):
        F.dropout(x, 1.5)


def test_every_new_op_of_api_md_is_an_f_function_the_same_op_as_the_tensor_method():
    for name in ("erf", "masked_fill", "repeat", "pad", "leaky_relu", "gelu", "silu", "softplus", "log1p", "elu"):
        assert hasattr(F, name), name
    x = Tensor(np.array([[0.5, -1.0, 2.0], [0.0, 3.0, -0.5]]))
    np.testing.assert_array_equal(F.erf(x).data, x.erf().data)
    np.testing.assert_array_equal(F.repeat(x, 2, 1).data, x.repeat(2, 1).data)
    np.testing.assert_array_equal(F.masked_fill(x, x.data > 0, 9.0).data, x.masked_fill(x.data > 0, 9.0).data)
    assert F.masked_fill is Tensor.masked_fill and F.repeat is Tensor.repeat and F.erf is Tensor.erf


def test_gumbel_softmax_takes_pytorchs_dim():
    x = Tensor(np.array([[0.5, -1.0, 2.0], [0.0, 3.0, -0.5]]))
    np.testing.assert_array_equal(F.gumbel_softmax(x, dim=0, rng=3).data, F.gumbel_softmax(x, axis=0, rng=3).data)
    with pytest.raises(TypeError, match="gumbel_softmax: got both axis= and dim="):
        F.gumbel_softmax(x, axis=0, dim=0)


def test_functional_forms_take_pytorchs_input_keyword():
    x = Tensor(np.array([[0.5, -1.0, 2.0], [0.0, 3.0, -0.5]]), requires_grad=True)
    np.testing.assert_array_equal(F.softmax(input=x, dim=1).data, x.softmax(axis=1).data)
    np.testing.assert_array_equal(F.gelu(input=x, approximate="tanh").data, x.gelu(approximate="tanh").data)
    out = F.relu(input=x)
    assert out.grad_fn is not None  # (the tensor given as input= is the op's input, not a setting)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.data, x.data > 0)
    with pytest.raises(TypeError, match="softmax: got multiple values"):
        x.softmax(input=x)
