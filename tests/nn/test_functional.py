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
