"""Errors say which op failed and why, with the shapes or values involved, instead of a raw NumPy traceback."""

from __future__ import annotations

import re

import numpy as np
import pytest

import tinygrad_sm
from tinygrad_sm import Tensor

M34 = Tensor(np.ones((3, 4)))
M52 = Tensor(np.ones((5, 2)))
X32 = Tensor(np.ones((3, 2)), requires_grad=True)
LOGITS = Tensor(np.zeros((3, 4)), requires_grad=True)

CASES = {
    # matmul
    "matmul mismatch": (lambda: M34 @ M52, ValueError, "matmul: shapes (3, 4) and (5, 2) do not align: 4 != 5"),
    "matmul vectors": (lambda: Tensor([1.0, 2.0, 3.0]) @ Tensor([1.0, 2.0]), ValueError,
                       "matmul: shapes (3,) and (2,) do not align: 3 != 2"),
    "matmul batch": (lambda: Tensor(np.ones((2, 3, 4))) @ Tensor(np.ones((3, 4, 2))), ValueError,
                     "matmul: batch shapes of (2, 3, 4) and (3, 4, 2) cannot be broadcast together"),
    "matmul 0-d": (lambda: Tensor(1.0) @ M52, ValueError, "matmul: both operands need at least one dimension"),
    # broadcasting
    "add broadcast": (lambda: X32 + Tensor([1.0, 2.0, 3.0]), ValueError, r"re:add: .*\(3, ?2\).*\(3,\)"),
    "mul broadcast": (lambda: X32 * np.ones((4, 2)), ValueError, r"re:mul: .*\(3, ?2\).*\(4, ?2\)"),
    "broadcast_to": (lambda: X32.broadcast_to((3, 3)), ValueError, "broadcast_to: cannot broadcast shape (3, 2) to (3, 3)"),
    # axes
    "sum axis": (lambda: X32.sum(axis=2), np.exceptions.AxisError,
                 "sum: axis 2 is out of range for a tensor of 2 dimension(s) with shape (3, 2) (expected an axis in [-2, 1])"),
    "mean negative axis": (lambda: X32.mean(axis=(0, -3)), np.exceptions.AxisError, "mean: axis -3 is out of range"),
    "max axis": (lambda: X32.max(axis=5), np.exceptions.AxisError, "max: axis 5 is out of range"),
    "min axis": (lambda: X32.min(axis=-3), np.exceptions.AxisError, "min: axis -3 is out of range"),
    "softmax axis": (lambda: X32.softmax(axis=2), np.exceptions.AxisError, "softmax: axis 2 is out of range"),
    "log_softmax axis": (lambda: X32.log_softmax(axis=-3), np.exceptions.AxisError, "log_softmax: axis -3 is out of range"),
    "logsumexp axis": (lambda: X32.logsumexp(axis=3), np.exceptions.AxisError, "logsumexp: axis 3 is out of range"),
    "swapaxes axis": (lambda: X32.swapaxes(0, 2), np.exceptions.AxisError, "swapaxes: axis 2 is out of range"),
    "stack axis": (lambda: Tensor.stack([X32, X32], axis=3), np.exceptions.AxisError, "stack: axis 3 is out of range"),
    "concatenate axis": (lambda: Tensor.concatenate([X32, X32], axis=2), np.exceptions.AxisError,
                         "concatenate: axis 2 is out of range"),
    "repeated axis": (lambda: X32.sum(axis=(0, -2)), ValueError, "sum: repeated axis in (0, -2)"),
    "float axis": (lambda: X32.sum(axis=1.0), TypeError, "sum: axis must be an int, a tuple of ints or None, got 1.0"),
    "bool axis": (lambda: X32.mean(axis=True), TypeError, "mean: axis must be an int"),
    # shape ops
    "reshape": (lambda: X32.reshape(4), ValueError, "reshape: cannot reshape array of size 6 into shape (4,)"),
    "transpose repeated": (lambda: X32.transpose(0, 0), ValueError, "transpose: repeated axis"),
    "transpose short": (lambda: X32.transpose(0), ValueError, "transpose: axes (0,) are not a permutation of the 2 axes"),
    "index out of range": (lambda: X32[5], IndexError, "getitem: index 5 is out of bounds for axis 0 with size 3"),
    "float index": (lambda: X32[1.5], IndexError, "getitem: only integers, slices"),
    "concatenate shapes": (lambda: Tensor.concatenate([X32, Tensor(np.ones((3, 3)))]), ValueError,
                           "concatenate: shapes (3, 2), (3, 3) differ outside axis 0"),
    "concatenate 0-d": (lambda: Tensor.concatenate([Tensor(1.0), Tensor(2.0)]), ValueError,
                        "concatenate: zero-dimensional tensors cannot be concatenated (use Tensor.stack)"),
    "concatenate nothing": (lambda: Tensor.concatenate([]), ValueError, "concatenate: need at least one tensor"),
    "stack shapes": (lambda: Tensor.stack([Tensor([1.0]), Tensor([1.0, 2.0])]), ValueError,
                     "stack: all tensors must have the same shape, got (1,), (2,)"),
    "stack nothing": (lambda: Tensor.stack([]), ValueError, "stack: need at least one tensor"),
    # elementwise and reductions
    "clip without bounds": (lambda: X32.clip(None, None), ValueError, "clip: at least one of lo and hi must not be None"),
    "max of empty": (lambda: Tensor(np.zeros((0, 3))).max(), ValueError,
                     "max: cannot reduce over axis 0, which has size 0 (shape (0, 3))"),
    "min over an empty axis": (lambda: Tensor(np.zeros((2, 0))).min(axis=1), ValueError,
                               "min: cannot reduce over axis 1, which has size 0"),
    # cross_entropy
    "ce target too large": (lambda: LOGITS.cross_entropy([0, 4, 1]), IndexError,
                            "cross_entropy: target 4 is out of range for 4 classes (expected 0..3, or ignore_index=-100)"),
    "ce negative target": (lambda: LOGITS.cross_entropy([0, -1, 1]), IndexError, "cross_entropy: target -1 is out of range"),
    "ce 1-d target out of range": (lambda: Tensor([1.0, 2.0]).cross_entropy(2), IndexError,
                                   "cross_entropy: target 2 is out of range for 2 classes"),
    "ce float targets": (lambda: LOGITS.cross_entropy(np.array([0.0, 1.0, 2.0])), ValueError,
                         "cross_entropy: target must be integer class indices of shape (3,) or float class probabilities "
                         "of shape (3, 4); got dtype float64 and shape (3,)"),
    "ce bool targets": (lambda: LOGITS.cross_entropy(np.array([True, False, True])), ValueError, "got dtype bool"),
    "ce target shape": (lambda: LOGITS.cross_entropy([0, 1]), ValueError,
                        "cross_entropy: class-index target must have shape (3,) for logits of shape (3, 4), got (2,)"),
    "ce 1-d target shape": (lambda: Tensor([1.0, 2.0]).cross_entropy([0]), ValueError,
                            "class-index target must have shape () for logits of shape (2,), got (1,)"),
    "ce prob target shape": (lambda: LOGITS.cross_entropy(np.ones((3, 3)) / 3), ValueError,
                             "float class probabilities of shape (3, 4); got dtype float64 and shape (3, 3)"),
    "ce reduction": (lambda: LOGITS.cross_entropy([0, 1, 2], reduction="avg"), ValueError,
                     "cross_entropy: reduction must be 'mean', 'sum' or 'none', got 'avg'"),
    "ce smoothing high": (lambda: LOGITS.cross_entropy([0, 1, 2], label_smoothing=1.5), ValueError,
                          "cross_entropy: label_smoothing must be a number in [0, 1], got 1.5"),
    "ce smoothing negative": (lambda: LOGITS.cross_entropy([0, 1, 2], label_smoothing=-0.1), ValueError,
                              "label_smoothing must be a number in [0, 1], got -0.1"),
    "ce smoothing nan": (lambda: LOGITS.cross_entropy([0, 1, 2], label_smoothing=float("nan")), ValueError,
                         "label_smoothing must be a number in [0, 1], got nan"),
    "ce smoothing string": (lambda: LOGITS.cross_entropy([0, 1, 2], label_smoothing="0.1"), ValueError,
                            "label_smoothing must be a number in [0, 1], got '0.1'"),
    "ce logits 3-d": (lambda: Tensor(np.zeros((2, 3, 4))).cross_entropy([0, 1]), ValueError,
                      "cross_entropy: class-index target must have shape (2, 4) for logits of shape (2, 3, 4), got (2,)"),
    "ce integer logits": (lambda: Tensor([[1, 2]]).cross_entropy([0]), TypeError,
                          "cross_entropy: logits must be floating point, got int64"),
    "ce weight shape": (lambda: LOGITS.cross_entropy([0, 1, 2], weight=[1.0, 2.0]), ValueError,
                        "cross_entropy: weight must have shape (4,) (one per class), got (2,)"),
    # tensors
    "strings": (lambda: Tensor(["a", "b"]), TypeError, "Tensor: data must be numbers or booleans, got dtype <U1"),
    "ragged": (lambda: Tensor([[1.0], [1.0, 2.0]]), ValueError, "Tensor: nested lists must be rectangular"),
    "None": (lambda: Tensor(None), TypeError, "Tensor: data must be numbers or booleans, got dtype object"),
    "bad dtype": (lambda: Tensor([1.0], dtype="not a dtype"), TypeError, "Tensor: 'not a dtype' is not a dtype"),
    "int requires grad": (lambda: Tensor([1, 2], requires_grad=True), TypeError,
                          "only floating-point tensors can require gradients; this tensor has dtype int64"),
    "bool requires grad": (lambda: Tensor(np.array([True]), requires_grad=True), TypeError, "has dtype bool"),
    # autograd
    "backward non-scalar": (lambda: (X32 * 2).backward(), RuntimeError,
                            "backward: grad can be implicitly created only for a scalar output, but the output has shape (3, 2)"),
    "backward gradient shape": (lambda: (X32 * 2).backward(np.ones(3)), ValueError,
                                "backward: gradient has shape (3,) but the output has shape (3, 2)"),
    "backward without graph": (lambda: Tensor([1.0]).backward(), RuntimeError, "backward: this tensor does not require grad"),
    "item": (lambda: X32.item(), ValueError, "item(): only a one-element tensor can become a Python scalar, got shape (3, 2)"),
}


@pytest.mark.parametrize("name", CASES)
def test_clear_error(name):
    call, kind, message = CASES[name]
    with pytest.raises(kind) as info:
        call()
    text = str(info.value)
    if message.startswith("re:"):
        assert re.search(message[3:], text), text
    else:
        assert message in text, text
    # the message stands on its own: no chained NumPy traceback ("During handling of the above exception...")
    assert info.value.__cause__ is None
    assert info.value.__context__ is None or info.value.__suppress_context__


def test_axis_error_is_also_a_value_and_index_error():
    # like NumPy's AxisError, so `except ValueError` and `except IndexError` both catch it
    with pytest.raises(ValueError):
        X32.sum(axis=2)
    with pytest.raises(IndexError):
        X32.sum(axis=2)


def test_gradient_of_an_unused_input_names_it():
    x, unused = Tensor([1.0], requires_grad=True), Tensor(np.ones((2, 2)), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"input 1 \(shape \(2, 2\)\) was not used"):
        tinygrad_sm.grad((x * 2).sum(), [x, unused])
