"""embedding (tinygrad_sm/operations/embedding.py)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import check_gradients, check_second_derivatives, random_array

import tinygrad_sm
from tinygrad_sm import Tensor
from tinygrad_sm.nn import functional as F  # noqa: N812  (PyTorch's habit)

torch = pytest.importorskip("torch")

INDICES = [np.array(3), np.array([1, 4, 1]), np.array([[0, 2], [2, 2], [4, 0]]), np.zeros((2, 0), np.int64)]


@pytest.mark.parametrize("indices", INDICES, ids=["0-d", "1-d repeats", "2-d", "empty"])
def test_embedding_gradcheck(indices):
    check_gradients(lambda w: F.embedding(indices, w), random_array(1, (5, 3)))
    # a padding row that is never looked up changes nothing
    check_gradients(lambda w: F.embedding(indices, w, padding_idx=-1), random_array(1, (6, 3)))


def test_the_padding_row_gets_exactly_the_gradient_it_would_get_as_a_constant():
    # (a gradcheck cannot see padding_idx: the output does depend on that row, by design)
    indices = np.array([[1, 3, 3], [0, 3, 2]])
    weight = random_array(6, (4, 2))
    padded = Tensor(weight, requires_grad=True)
    (F.embedding(indices, padded, padding_idx=3) ** 2).sum().backward()
    plain = Tensor(weight, requires_grad=True)
    (F.embedding(indices, plain) ** 2).sum().backward()
    np.testing.assert_array_equal(padded.grad.data[:3], plain.grad.data[:3])
    np.testing.assert_array_equal(padded.grad.data[3], 0.0)


def test_embedding_second_derivatives():
    # linear in the table, so the second derivative goes through the upstream gradient only
    indices = np.array([[1, 0], [1, 3]])
    check_second_derivatives(lambda w: F.embedding(indices, w, padding_idx=0) ** 2, random_array(2, (4, 2)))


@pytest.mark.parametrize("padding_idx", [None, 0, 3, -2])
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8])
def test_embedding_matches_pytorch(padding_idx, dtype):
    weight = random_array(3, (6, 4))
    indices = np.array([[5, 0, 3, 3], [3, 1, 0, 5]], dtype=dtype)
    ours = Tensor(weight, requires_grad=True)
    out = F.embedding(Tensor(indices), ours, padding_idx=padding_idx)
    theirs = torch.tensor(weight, requires_grad=True)
    expected = torch.nn.functional.embedding(torch.tensor(indices.astype(np.int64)), theirs, padding_idx=padding_idx)
    np.testing.assert_array_equal(out.data, expected.detach().numpy())
    upstream = random_array(4, out.shape)
    out.backward(upstream)
    expected.backward(torch.tensor(upstream))
    np.testing.assert_allclose(ours.grad.data, theirs.grad.numpy(), rtol=1e-14)


def test_repeated_indices_accumulate_and_the_padding_row_gets_nothing():
    weight = Tensor(np.ones((4, 2)), requires_grad=True)
    F.embedding([[1, 3, 1], [1, 2, 3]], weight, padding_idx=3).sum().backward()
    np.testing.assert_array_equal(weight.grad.data, [[0, 0], [3, 3], [1, 1], [0, 0]])


def test_embedding_accepts_lists_ints_and_keeps_the_table_dtype():
    weight = Tensor(random_array(5, (3, 2)).astype(np.float32), requires_grad=True)
    out = F.embedding(2, weight)
    assert out.shape == (2,) and out.dtype == np.float32
    np.testing.assert_array_equal(F.embedding([[0], [2]], weight).data, weight.data[[[0], [2]]])
    out.sum().backward()
    assert weight.grad.dtype == np.float32


def test_embedding_is_a_registered_op():
    assert "embedding" in tinygrad_sm.ops() and not hasattr(Tensor, "embedding")


@pytest.mark.parametrize(
    "indices, padding_idx, error, message",
    [
        ([1, 12], None, IndexError, r"embedding: index 12 is out of range for a table of 10 rows"),
        ([[3], [-1]], None, IndexError, r"embedding: index -1 is out of range for a table of 10 rows"),
        (np.array([1.0, 2.0]), None, TypeError, r"embedding: indices must be integers, got dtype float64"),
        (np.array([True]), None, TypeError, r"embedding: indices must be integers, got dtype bool"),
        ([1], 10, ValueError, r"embedding: padding_idx 10 is out of range for a table of 10 rows"),
        ([1], -11, ValueError, r"embedding: padding_idx -11 is out of range"),
        ([1], 1.0, TypeError, r"embedding: padding_idx must be an int or None, got 1.0"),
    ],
)
def test_embedding_errors(indices, padding_idx, error, message):
    with pytest.raises(error, match=message):
        F.embedding(indices, Tensor(np.zeros((10, 3))), padding_idx=padding_idx)


def test_embedding_needs_a_2d_table():
    with pytest.raises(ValueError, match=r"embedding: weight must be a 2-D table \(rows, dim\), got shape \(10,\)"):
        F.embedding([1], Tensor(np.zeros(10)))
