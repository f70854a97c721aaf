"""Shared by the tests of the nn layers: a module against the PyTorch module built with the same
arguments — state_dict keys and shapes, then outputs and every gradient with PyTorch's weights
loaded into ours, and outputs with ours loaded into PyTorch's."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tinygrad_sm import Tensor, nn


def same_layout(ours: nn.Module, theirs: Any) -> None:
    """The same state_dict keys in the same order, with the same shapes."""
    mine, their = ours.state_dict(), theirs.state_dict()
    assert list(mine) == list(their)
    assert [v.shape for v in mine.values()] == [tuple(v.shape) for v in their.values()]


def _first(output: Any) -> Any:
    return output[0] if isinstance(output, tuple) else output


def assert_matches_torch(
    ours: nn.Module,
    theirs: Any,
    inputs: Sequence[np.ndarray],
    rtol: float = 1e-5,
    atol: float = 1e-5,
    call: Callable[[Any, list], Any] = lambda module, xs: module(*xs),
    outputs: Callable[[Any], list] = lambda out: [_first(out)],
) -> None:
    """Load PyTorch's state into ours and compare outputs and the gradients of the float inputs and
    of every parameter (for a random upstream gradient); then load ours into a fresh copy of
    PyTorch's and compare outputs again. ``call(module, inputs)`` runs a module; ``outputs(result)``
    picks the tensors to compare (the first differentiated)."""
    import copy

    import torch

    same_layout(ours, theirs)
    ours.load_state_dict(theirs.state_dict())
    grad_inputs = [x.dtype.kind == "f" for x in inputs]
    our_inputs = [Tensor(x, requires_grad=g) for x, g in zip(inputs, grad_inputs)]
    their_inputs = [torch.tensor(x, requires_grad=g) for x, g in zip(inputs, grad_inputs)]
    our_out, their_out = outputs(call(ours, our_inputs)), outputs(call(theirs, their_inputs))
    for a, b in zip(our_out, their_out, strict=True):
        if b is None:
            assert a is None
            continue
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=rtol, atol=atol)

    upstream = np.random.default_rng(0).standard_normal(our_out[0].shape).astype(our_out[0].dtype)
    (our_out[0] * Tensor(upstream)).sum().backward()
    (their_out[0] * torch.from_numpy(upstream)).sum().backward()
    for a, b, g in zip(our_inputs, their_inputs, grad_inputs):
        if g:
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=rtol, atol=atol)
    their_parameters = dict(theirs.named_parameters())
    for name, parameter in ours.named_parameters():
        expected = their_parameters[name].grad
        expected = np.zeros(parameter.shape) if expected is None else expected.numpy()
        np.testing.assert_allclose(parameter.grad.numpy(), expected, rtol=rtol, atol=atol, err_msg=name)

    # and the other way: ours (re-drawn, so not PyTorch's numbers) loaded into PyTorch's
    for parameter in ours.parameters():
        parameter.data[...] = np.random.default_rng(1).uniform(-1, 1, parameter.shape)
    theirs_again = copy.deepcopy(theirs)
    theirs_again.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    our_out = outputs(call(ours, [Tensor(x) for x in inputs]))
    their_out = outputs(call(theirs_again, [torch.tensor(x) for x in inputs]))
    for a, b in zip(our_out, their_out, strict=True):
        if b is not None:
            np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=rtol, atol=atol)


def assert_second_derivatives_match_torch(
    make_ours: Callable[[], nn.Module],
    theirs: Any,
    inputs: Sequence[np.ndarray],
    call: Callable[[Any, list], Any] = lambda module, xs: module(*xs),
) -> None:
    """Hessian-vector products of ⟨w, module(x)⟩ with respect to the first input, through
    ``backward(create_graph=True)``, equal PyTorch's, in float64 (ours built with float64 as the
    default dtype and PyTorch's state loaded; theirs converted with ``.double()``)."""
    import torch

    import tinygrad_sm

    theirs = theirs.double()
    previous = tinygrad_sm.get_default_dtype()
    tinygrad_sm.set_default_dtype(np.float64)
    try:
        ours = make_ours()
    finally:
        tinygrad_sm.set_default_dtype(previous)
    ours.load_state_dict(theirs.state_dict())
    inputs = [np.asarray(x, np.float64) for x in inputs]
    rng = np.random.default_rng(0)
    our_inputs = [Tensor(x, requires_grad=True) for x in inputs]
    their_inputs = [torch.tensor(x, requires_grad=True) for x in inputs]
    our_out, their_out = _first(call(ours, our_inputs)), _first(call(theirs, their_inputs))
    w, v = rng.standard_normal(our_out.shape), rng.standard_normal(inputs[0].shape)
    (our_grad,) = tinygrad_sm.grad((our_out * Tensor(w)).sum(), [our_inputs[0]], create_graph=True)
    (their_grad,) = torch.autograd.grad((their_out * torch.from_numpy(w)).sum(), [their_inputs[0]], create_graph=True)
    np.testing.assert_allclose(our_grad.numpy(), their_grad.detach().numpy(), rtol=1e-9, atol=1e-10)
    if not our_grad.requires_grad:  # the gradient does not depend on x or the parameters: zero HVPs
        assert (
            not their_grad.requires_grad
            or not torch.autograd.grad(
                (their_grad * torch.from_numpy(v)).sum(), [their_inputs[0]], allow_unused=True, materialize_grads=True
            )[0].any()
        )
        return
    ours_hv = tinygrad_sm.grad((our_grad * Tensor(v)).sum(), [our_inputs[0], *ours.parameters()], allow_unused=True)
    their_parameters = [dict(theirs.named_parameters())[name] for name, _ in ours.named_parameters()]
    theirs_hv = torch.autograd.grad(
        (their_grad * torch.from_numpy(v)).sum(), [their_inputs[0], *their_parameters], allow_unused=True
    )
    for a, b in zip(ours_hv, theirs_hv, strict=True):
        expected = 0.0 if b is None else b.numpy()
        np.testing.assert_allclose(0.0 if a is None else a.numpy(), expected, rtol=1e-8, atol=1e-10)
