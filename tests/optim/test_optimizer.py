"""Optimisers: PyTorch's update rules (closed form, an independent reference, and torch itself), in place, float32."""

from __future__ import annotations

import numpy as np
import optim_helpers
import pytest

import tinygrad_sm
from tinygrad_sm import Tensor, nn, optim


def scalar_parameter(value: float = 1.0) -> Tensor:
    return Tensor(np.array([value], np.float64), requires_grad=True)


def run_steps(optimizer: optim.Optimizer, parameter: Tensor, grads: list[float]) -> list[float]:
    values = []
    for g in grads:
        parameter.grad = Tensor(np.array([g], parameter.dtype))
        optimizer.step()
        values.append(parameter.numpy()[0])
    return values


# ----- closed form, worked by hand: p0 = 1, gradients 0.5 then -1, lr = 0.1 ----------------
@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, [0.95, 1.05]),  # p ← p − η g
        ({"weight_decay": 0.1}, [0.94, 1.0306]),  # g ← g + λ p:  0.5 + 0.1 = 0.6, then −1 + 0.094 = −0.906
        ({"momentum": 0.9}, [0.95, 1.005]),  # b = 0.5, then b = 0.9·0.5 − 1 = −0.55
        ({"momentum": 0.9, "nesterov": True}, [0.905, 1.0545]),  # d = g + μb: 0.5 + 0.45, then −1 − 0.495
    ],
)
def test_sgd_closed_form(settings, expected):
    p = scalar_parameter()
    np.testing.assert_allclose(run_steps(optim.SGD([p], lr=0.1, **settings), p, [0.5, -1.0]), expected, rtol=1e-12)


def test_adam_closed_form():
    # step 1: m̂ = g and v̂ = g², so p moves by lr · g / (|g| + ε) ≈ lr · sign(g)
    # step 2: m = 0.9·0.05 − 0.1 = −0.055, v = 0.999·0.00025 + 0.001 = 0.00124975,
    #         p = 0.9 − 0.1 · (−0.055 / 0.19) / (√(0.00124975 / 0.001999) + 1e-8)
    p = scalar_parameter()
    values = run_steps(optim.Adam([p], lr=0.1), p, [0.5, -1.0])
    np.testing.assert_allclose(values, [1 - 0.1 * 0.5 / (0.5 + 1e-8), 0.9366103542405654], rtol=1e-12)


# ----- an independent float64 reference of PyTorch's documented algorithms ---------------
def reference_sgd(p, grads, lr, momentum=0.0, weight_decay=0.0, nesterov=False):
    p, buffer, trajectory = p.astype(np.float64), None, []
    for g in grads:
        g = g + weight_decay * p
        if momentum:
            buffer = g.copy() if buffer is None else momentum * buffer + g
            g = g + momentum * buffer if nesterov else buffer
        p = p - lr * g
        trajectory.append(p)
    return trajectory


def reference_adam(p, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    p, m, v, trajectory = p.astype(np.float64), 0.0, 0.0, []
    for t, g in enumerate(grads, start=1):
        g = g + weight_decay * p
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g * g
        m_hat, v_hat = m / (1 - betas[0] ** t), v / (1 - betas[1] ** t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
        trajectory.append(p)
    return trajectory


SGD_SETTINGS = [
    {"lr": 0.1},
    {"lr": 0.1, "momentum": 0.9},
    {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01},
    {"lr": 0.1, "momentum": 0.5, "nesterov": True},
    {"lr": 0.02, "momentum": 0.9, "weight_decay": 1e-3, "nesterov": True},
]
ADAM_SETTINGS = [
    {},
    {"lr": 0.01},
    {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1},
]
CASES = [(optim.SGD, reference_sgd, s) for s in SGD_SETTINGS] + [(optim.Adam, reference_adam, s) for s in ADAM_SETTINGS]


def random_problem(steps: int = 8, dtype=np.float64):
    rng = np.random.default_rng(0)
    start = rng.normal(size=(3, 4)).astype(dtype)
    grads = [rng.normal(size=(3, 4)).astype(dtype) for _ in range(steps)]
    return start, grads


@pytest.mark.parametrize(("optimizer_class", "reference", "settings"), CASES)
def test_several_steps_match_the_reference_algorithm(optimizer_class, reference, settings):
    start, grads = random_problem()
    p = Tensor(start, requires_grad=True)
    optimizer = optimizer_class([p], **settings)
    for g, expected in zip(grads, reference(start, grads, **settings)):
        p.grad = Tensor(g)
        optimizer.step()
        np.testing.assert_allclose(p.numpy(), expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(("optimizer_class", "reference", "settings"), CASES)
def test_several_float32_steps_match_torch(optimizer_class, reference, settings):
    torch = pytest.importorskip("torch")
    start, grads = random_problem(steps=10, dtype=np.float32)
    ours = Tensor(start, requires_grad=True)
    theirs = torch.tensor(start, requires_grad=True)
    our_optimizer = optimizer_class([ours], **settings)
    their_optimizer = getattr(torch.optim, optimizer_class.__name__)([theirs], **settings)
    for g in grads:
        ours.grad = Tensor(g)
        theirs.grad = torch.from_numpy(g.copy())
        our_optimizer.step()
        their_optimizer.step()
        np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert ours.dtype == np.float32


def test_training_an_mlp_matches_torch_step_for_step():
    torch = pytest.importorskip("torch")
    ours = nn.MLP([4, 8, 3], rng=0)
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    with torch.no_grad():
        for their_p, our_p in zip(theirs.parameters(), ours.parameters()):
            their_p.copy_(torch.from_numpy(our_p.numpy()))
    our_optimizer = optim.Adam(ours.parameters(), lr=0.01)
    their_optimizer = torch.optim.Adam(theirs.parameters(), lr=0.01)
    rng = np.random.default_rng(1)
    for _ in range(5):
        x = rng.normal(size=(16, 4)).astype(np.float32)
        y = rng.integers(0, 3, size=16)
        our_optimizer.zero_grad()
        ours(Tensor(x)).cross_entropy(y).backward()
        our_optimizer.step()
        their_optimizer.zero_grad()
        torch.nn.functional.cross_entropy(theirs(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        their_optimizer.step()
    for our_p, their_p in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(our_p.numpy(), their_p.detach().numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("optimizer_class", "settings"),
    [(optim.SGD, {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.1, "nesterov": True}), (optim.Adam, {"weight_decay": 0.1})],
)
def test_steps_update_in_place_keep_the_dtype_record_no_graph_and_reuse_their_buffers(optimizer_class, settings):
    p32 = Tensor(np.ones((2, 3), np.float32), requires_grad=True)
    p64 = Tensor(np.ones(4), requires_grad=True)
    optimizer = optimizer_class([p32, p64], **settings)
    arrays = (p32.data, p64.data)
    (p32.sum() * 2 + (p64 * p64).sum()).backward()
    grads = (p32.grad.numpy().copy(), p64.grad.numpy().copy())
    optimizer.step()
    state_arrays = {key: value for key, value in optimizer.state[p32].items() if isinstance(value, np.ndarray)}
    optimizer.step()
    assert p32.data is arrays[0] and p64.data is arrays[1]
    assert p32.dtype == np.float32 and p64.dtype == np.float64
    assert all(value.dtype == np.float32 for value in state_arrays.values())
    assert p32.is_leaf and p32.grad_fn is None and p32.requires_grad
    np.testing.assert_array_equal(p32.grad.numpy(), grads[0])  # the gradient is read, never changed
    np.testing.assert_array_equal(p64.grad.numpy(), grads[1])
    assert all(optimizer.state[p32][key] is value for key, value in state_arrays.items())  # no new buffers per step


@pytest.mark.parametrize("shape", [(300, 1000), (70_000,), (3, 40_000, 2), (2, 3), ()])
def test_big_sgd_updates_go_in_blocks_with_the_same_result(shape):
    # the blockwise p -= lr * d (small temporaries) must give exactly the one-shot result
    from tinygrad_sm.optim.optimizer import subtract_scaled

    rng = np.random.default_rng(0)
    param = rng.normal(size=shape).astype(np.float32)
    direction = rng.normal(size=shape).astype(np.float32)
    expected = param - np.float32(0.1) * direction
    subtract_scaled(param, 0.1, direction)
    assert np.array_equal(param, expected)


def test_parameters_without_a_gradient_are_left_alone():
    used, unused = Tensor.ones(2, requires_grad=True), Tensor.ones(2, requires_grad=True)
    optimizer = optim.SGD([used, unused], lr=0.5, momentum=0.9, weight_decay=0.1)
    used.grad = Tensor(np.ones(2, np.float32))
    optimizer.step()
    np.testing.assert_array_equal(unused.numpy(), [1.0, 1.0])
    assert unused not in optimizer.state
    np.testing.assert_allclose(used.numpy(), [1 - 0.5 * 1.1] * 2, rtol=1e-6)


def test_zero_grad_sets_grads_to_none():
    p = Tensor.ones(3, requires_grad=True)
    optimizer = optim.Adam([p])
    (p * 2).sum().backward()
    optimizer.zero_grad()
    assert p.grad is None


def test_zero_grad_with_set_to_none_false_zeroes_the_gradients_in_place():
    p, unused = Tensor.ones(3, requires_grad=True), Tensor.ones(2, requires_grad=True)
    optimizer = optim.SGD([p, unused], lr=0.1)
    (p * 2).sum().backward()
    grad = p.grad
    optimizer.zero_grad(set_to_none=False)
    assert p.grad is grad and (grad.numpy() == 0).all() and unused.grad is None


def test_parameter_groups_and_changing_the_learning_rate_between_steps():
    a, b = scalar_parameter(), scalar_parameter()
    optimizer = optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    assert optimizer.param_groups[0]["lr"] == 0.1 and optimizer.param_groups[1]["lr"] == 1.0
    a.grad = b.grad = Tensor(np.array([1.0]))
    optimizer.step()
    assert a.numpy()[0] == pytest.approx(0.9) and b.numpy()[0] == pytest.approx(0.0)
    optimizer.param_groups[0]["lr"] = 0.5
    optimizer.step()
    assert a.numpy()[0] == pytest.approx(0.4)


def test_step_with_a_closure_returns_its_loss():
    p = Tensor(np.array([3.0], np.float32), requires_grad=True)
    optimizer = optim.SGD([p], lr=0.25)

    def closure():
        optimizer.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    with tinygrad_sm.no_grad():
        loss = optimizer.step(closure)
    assert loss.item() == 9.0 and p.numpy()[0] == pytest.approx(1.5)


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda p: optim.SGD([], lr=0.1), ValueError, "empty parameter list"),
        (lambda p: optim.SGD([p], lr=-0.1), ValueError, "invalid learning rate"),
        (lambda p: optim.SGD([p], lr=float("nan")), ValueError, "invalid learning rate"),
        (lambda p: optim.SGD([p], lr=0.1, momentum=-1), ValueError, "invalid momentum"),
        (lambda p: optim.SGD([p], lr=0.1, nesterov=True), ValueError, "nesterov=True requires a momentum"),
        (lambda p: optim.Adam([p], betas=(0.9, 1.0)), ValueError, r"invalid beta2"),
        (lambda p: optim.Adam([p], betas=0.9), ValueError, "betas must be a pair"),
        (lambda p: optim.Adam([p], eps=-1e-8), ValueError, "invalid eps"),
        (lambda p: optim.Adam([p], weight_decay=-1), ValueError, "invalid weight_decay"),
        (lambda p: optim.Adam(p), TypeError, "not one Tensor"),
        (lambda p: optim.Adam([p, p]), ValueError, "appears more than once"),
        (lambda p: optim.Adam([p * 2]), ValueError, "non-leaf"),
        (lambda p: optim.Adam([Tensor([1, 2])]), TypeError, "dtype int64"),
        (lambda p: optim.Adam([np.ones(2)]), TypeError, "not a Tensor"),
        (lambda p: optim.Adam([{"params": [p], "momentum": 0.9}]), TypeError, "unknown hyper-parameter"),
    ],
)
def test_bad_arguments_raise_clear_errors(make, error, message):
    with pytest.raises(error, match=message):
        make(Tensor.ones(2, requires_grad=True))


# ----- 0-d parameters: the state must be updated in place, as for any other shape -----------
ZERO_D_SETTINGS = [
    (optim.SGD, {"lr": 0.1, "momentum": 0.9}),
    (optim.SGD, {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.1}),
    (optim.SGD, {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.1, "nesterov": True}),
    (optim.SGD, {"lr": 0.1, "weight_decay": 0.1}),
    (optim.Adam, {"lr": 0.1}),
    (optim.Adam, {"lr": 0.1, "weight_decay": 0.1}),
]


@pytest.mark.parametrize(("optimizer_class", "settings"), ZERO_D_SETTINGS)
def test_a_0d_parameter_matches_torch(optimizer_class, settings):
    # 5 steps on p² from p = 1; with momentum 0.9 and lr 0.1 PyTorch reaches -0.5804
    # (a momentum buffer that is rebound instead of updated in place gave -0.2037)
    torch = pytest.importorskip("torch")
    ours = Tensor(1.0, requires_grad=True)
    theirs = torch.tensor(1.0, requires_grad=True)
    our_optimizer = optimizer_class([ours], **settings)
    their_optimizer = getattr(torch.optim, optimizer_class.__name__)([theirs], **settings)
    for _ in range(5):
        our_optimizer.zero_grad()
        (ours * ours).backward()
        our_optimizer.step()
        their_optimizer.zero_grad()
        (theirs * theirs).backward()
        their_optimizer.step()
        assert ours.shape == () and ours.dtype == np.float32
        np.testing.assert_allclose(ours.item(), theirs.item(), rtol=1e-5, atol=1e-7)
    if settings == {"lr": 0.1, "momentum": 0.9}:
        assert ours.item() == pytest.approx(-0.5804, abs=1e-4)
    for value in our_optimizer.state[ours].values():
        assert isinstance(value, np.ndarray | int)  # buffers are ndarrays, never NumPy scalars


def test_a_0d_parameter_with_numpy_scalar_data_and_grad_is_still_updated():
    # in-place tricks can leave NumPy scalars where arrays belong; updates must not be lost
    p = Tensor(1.0, requires_grad=True)
    optimizer = optim.SGD([p], lr=0.1, momentum=0.9)
    values = []
    for _ in range(3):
        p.data = np.float32(p.item())
        p.grad = Tensor(1.0)
        p.grad.data = np.float32(2 * p.item())
        optimizer.step()
        values.append(p.item())
    # by hand: b = 2, p = 0.8; b = 0.9·2 + 1.6 = 3.4, p = 0.46; b = 0.9·3.4 + 0.92 = 3.98, p = 0.062
    np.testing.assert_allclose(values, [0.8, 0.46, 0.062], rtol=1e-5)
    assert isinstance(optimizer.state[p]["momentum_buffer"], np.ndarray)


# ----- step() checks everything before it changes anything --------------------------------
def two_parameters_with_state(optimizer_class, settings):
    """Two parameters after one good step (so state exists), and snapshots of everything."""
    first, second = Tensor(np.ones(3), requires_grad=True), Tensor(np.ones((2, 2)), requires_grad=True)
    optimizer = optimizer_class([first, second], **settings)
    first.grad, second.grad = Tensor(np.full(3, 0.5)), Tensor(np.full((2, 2), 0.5))
    optimizer.step()
    return first, second, optimizer


def snapshot(optimizer, parameters):
    values = [p.numpy().copy() for p in parameters]
    state = {id(p): {k: np.copy(v) for k, v in s.items()} for p, s in optimizer.state.items()}
    return values, state


# bad gradient arrays, put in place behind the .grad setter's back (p.grad.data = ...)
BAD_GRADS = [
    (np.ones(4), ValueError, r"has shape \(2, 2\) but its gradient has shape \(4,\)"),
    (np.ones((1, 2)), ValueError, r"shape \(2, 2\) but its gradient has shape \(1, 2\); .*no broadcasting"),
    (np.array(1.0), ValueError, r"gradient has shape \(\)"),
    (np.ones((2, 2), np.float32), TypeError, r"\(shape \(2, 2\)\) has dtype float64 but its gradient has dtype float32"),
    (np.ones((2, 2), np.int64), TypeError, "gradient has dtype int64"),
]


@pytest.mark.parametrize(
    ("optimizer_class", "settings"),
    [
        (optim.SGD, {"lr": 0.1}),
        (optim.SGD, {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.1}),
        (optim.Adam, {"lr": 0.1, "weight_decay": 0.1}),
    ],
)
@pytest.mark.parametrize(("bad_grad", "error", "message"), BAD_GRADS)
def test_a_bad_gradient_on_a_later_parameter_changes_nothing(optimizer_class, settings, bad_grad, error, message):
    first, second, optimizer = two_parameters_with_state(optimizer_class, settings)
    before = snapshot(optimizer, [first, second])
    first.grad = Tensor(np.full(3, 0.5))
    second.grad = Tensor(np.ones((2, 2)))  # passes any check on assignment...
    second.grad.data = bad_grad  # ...then is replaced behind its back
    with pytest.raises(error, match=f"{optimizer_class.__name__}: parameter 1 .*{message}"):
        optimizer.step()
    after = snapshot(optimizer, [first, second])
    for old, new in zip(before[0], after[0]):
        np.testing.assert_array_equal(old, new)
    assert before[1].keys() == after[1].keys()
    for key, state in before[1].items():
        assert state.keys() == after[1][key].keys()
        for name, value in state.items():
            np.testing.assert_array_equal(value, after[1][key][name])


def test_a_bad_gradient_on_a_fresh_optimiser_creates_no_state():
    first, second = Tensor(np.ones(3), requires_grad=True), Tensor(np.ones(2), requires_grad=True)
    optimizer = optim.SGD([first, second], lr=0.1, momentum=0.9)
    first.grad, second.grad = Tensor(np.ones(3)), Tensor(np.ones(2))
    second.grad.data = np.ones(3)
    with pytest.raises(ValueError, match=r"SGD: parameter 1 has shape \(2,\) but its gradient has shape \(3,\)"):
        optimizer.step()
    assert optimizer.state == {}
    np.testing.assert_array_equal(first.numpy(), np.ones(3))


def test_errors_name_the_group_and_later_groups_are_checked_first():
    a, b = Tensor(np.ones(2), requires_grad=True), Tensor(np.ones(2), requires_grad=True)
    optimizer = optim.Adam([{"params": [a]}, {"params": [b], "lr": 0.5}])
    a.grad, b.grad = Tensor(np.ones(2)), Tensor(np.ones(2))
    b.grad.data = np.ones(5)
    with pytest.raises(ValueError, match=r"Adam: parameter 0 of group 1 has shape \(2,\) but its gradient has shape \(5,\)"):
        optimizer.step()
    np.testing.assert_array_equal(a.numpy(), [1.0, 1.0])
    assert optimizer.state == {}


def test_hyperparameters_changed_between_steps_are_checked_before_any_update():
    a, b = Tensor(np.ones(2), requires_grad=True), Tensor(np.ones(2), requires_grad=True)
    optimizer = optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.1)
    a.grad, b.grad = Tensor(np.ones(2)), Tensor(np.ones(2))
    optimizer.param_groups[1]["lr"] = "fast"
    with pytest.raises(ValueError, match="SGD: invalid learning rate"):
        optimizer.step()
    np.testing.assert_array_equal(a.numpy(), [1.0, 1.0])


def test_parameter_data_replaced_with_another_shape_or_dtype_is_reported():
    p = Tensor(np.ones(3), requires_grad=True)
    optimizer = optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = Tensor(np.ones(3))
    optimizer.step()
    p.data, p.grad = np.ones(4), Tensor(np.ones(4))
    with pytest.raises(ValueError, match=r"SGD: parameter 0 has shape \(4,\) .* its state 'momentum_buffer' has shape \(3,\)"):
        optimizer.step()
    p.data = np.broadcast_to(np.ones(1), (3,))
    p.grad = Tensor(np.ones(3))
    with pytest.raises(ValueError, match="read-only data"):
        optimizer.step()


def test_a_grad_that_is_not_a_tensor_is_refused():
    p = Tensor(np.ones(2), requires_grad=True)
    optimizer = optim.SGD([p], lr=0.1)
    with pytest.raises(TypeError, match="grad must be a Tensor|has a .grad of type ndarray; expected a Tensor"):
        p.grad = np.ones(2)  # refused here by Tensor, or else by step()
        optimizer.step()
    np.testing.assert_array_equal(p.numpy(), [1.0, 1.0])


# ----- state dicts in PyTorch's format: ours loads into torch, torch's into ours -------------
STATE_CASES = [
    (optim.SGD, {"lr": 0.05}),  # (PyTorch keeps momentum_buffer None; we keep nothing)
    (optim.SGD, {"lr": 0.05, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01}),
    (optim.Adam, {"lr": 0.01, "amsgrad": True, "weight_decay": 0.01}),
    (optim.AdamW, {"lr": 0.01}),
    (optim.RMSprop, {"momentum": 0.5, "centered": True}),
]
GROUPS = [{"lr": 0.02}, {"weight_decay": 0.1}]


def continue_both(our_optimizer, ours, their_optimizer, theirs, steps=10):
    torch = pytest.importorskip("torch")
    for grads in optim_helpers.gradient_stream(steps, seed=2):
        for p, q, g in zip(ours, theirs, grads):
            p.grad, q.grad = Tensor(g.copy()), torch.from_numpy(g.copy())
        our_optimizer.step()
        their_optimizer.step()
        optim_helpers.assert_same_parameters(ours, theirs)


@pytest.mark.parametrize(("optimizer_class", "settings"), STATE_CASES)
def test_our_state_dict_loads_into_torch_and_both_continue_identically(optimizer_class, settings):
    torch = pytest.importorskip("torch")
    ours, theirs, our_params, their_params = optim_helpers.run_both(torch, optimizer_class, settings, groups=GROUPS, steps=10)
    saved = ours.state_dict()
    optim_helpers.assert_state_dicts_agree(saved, theirs.state_dict())
    fresh = [torch.tensor(p.numpy().copy(), requires_grad=True) for p in our_params]
    their_twin = getattr(torch.optim, optimizer_class.__name__)(optim_helpers.grouped(fresh, GROUPS), **settings)
    their_twin.load_state_dict(optim_helpers.to_torch_state_dict(torch, saved))
    continue_both(ours, our_params, their_twin, fresh)


@pytest.mark.parametrize(("optimizer_class", "settings"), STATE_CASES)
def test_torch_state_dict_loads_into_ours_and_both_continue_identically(optimizer_class, settings):
    torch = pytest.importorskip("torch")
    ours, theirs, our_params, their_params = optim_helpers.run_both(torch, optimizer_class, settings, groups=GROUPS, steps=10)
    fresh = [Tensor(q.detach().numpy().copy(), requires_grad=True) for q in their_params]
    our_twin = optimizer_class(optim_helpers.grouped(fresh, GROUPS), lr=0.5)  # (the groups' settings come from the dict)
    our_twin.load_state_dict(theirs.state_dict())
    optim_helpers.assert_state_dicts_agree(our_twin.state_dict(), theirs.state_dict())
    assert all(isinstance(value, int) for state in our_twin.state.values() for key, value in state.items() if key == "step")
    continue_both(our_twin, fresh, theirs, their_params)


def test_a_state_dict_holds_copies_and_only_pytorchs_keys():
    p = Tensor(np.ones(3), requires_grad=True)
    optimizer = optim.Adam([p], weight_decay=0.1)
    p.grad = Tensor(np.ones(3))
    optimizer.step()
    saved = optimizer.state_dict()
    assert list(saved["state"][0]) == ["step", "exp_avg", "exp_avg_sq"]  # (no work arrays)
    assert saved["param_groups"] == [
        {
            **{"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.1, "amsgrad": False},
            **{"maximize": False, "foreach": None, "params": [0]},
        }
    ]
    saved["state"][0]["exp_avg"][:] = 100.0
    assert optimizer.state[p]["exp_avg"][0] == pytest.approx(0.11)  # (1 − β₁)·(g + λp)


def test_loading_replaces_the_settings_in_the_same_group_dicts_and_keeps_a_schedulers_initial_lr():
    a, b = Tensor(np.ones(2), requires_grad=True), Tensor(np.ones(2), requires_grad=True)
    source = optim.SGD([a], lr=0.3, momentum=0.9)
    optim.lr_scheduler.StepLR(source, step_size=2)
    target = optim.SGD([b], lr=0.1)
    group = target.param_groups[0]
    target.load_state_dict(source.state_dict())
    assert target.param_groups[0] is group and group["params"] == [b]
    assert group["lr"] == 0.3 and group["momentum"] == 0.9 and group["initial_lr"] == 0.3


def saved_sgd_state():
    p = Tensor(np.ones(3), requires_grad=True)
    optimizer = optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = Tensor(np.ones(3))
    optimizer.step()
    return optimizer.state_dict()


def with_changes(change):
    saved = saved_sgd_state()
    change(saved)
    return saved


def set_state(key, value):
    return with_changes(lambda saved: saved["state"][0].update({key: value}))


def set_group(key, value):
    return with_changes(lambda saved: saved["param_groups"][0].update({key: value}))


@pytest.mark.parametrize(
    ("saved", "message"),
    [
        ({"state": {}}, "expected a dict with 'state' and 'param_groups'"),
        (with_changes(lambda s: s["param_groups"].append({"params": []})), r"has 2 parameter group\(s\), this optimiser has 1"),
        (set_group("params", [0, 1]), r"group 0 has 1 parameter\(s\) but the saved group has 2"),
        (with_changes(lambda s: s["state"].update({7: {}})), "the state of parameter 7 matches no parameter"),
        (
            set_state("momentum_buffer", np.ones(4)),
            r"shape \(3,\) but its saved 'momentum_buffer' has shape \(4,\)",
        ),
        (set_state("exp_avg", np.ones(3)), "unknown state entry 'exp_avg'; SGD keeps"),
        (set_group("differentiable", True), "group 0 has differentiable=True, which SGD does not implement"),
        (set_group("betas", (0.9, 0.99)), "group 0 has an unknown hyper-parameter 'betas'"),
        (set_group("lr", -1.0), "SGD: invalid learning rate"),
    ],
)
def test_a_bad_state_dict_raises_a_clear_error_and_changes_nothing(saved, message):
    p = Tensor(np.ones(3), requires_grad=True)
    optimizer = optim.SGD([p], lr=0.5)
    with pytest.raises(ValueError, match=message):
        optimizer.load_state_dict(saved)
    assert optimizer.state == {} and optimizer.param_groups[0]["lr"] == 0.5 and optimizer.param_groups[0]["momentum"] == 0.0


def test_adamw_refuses_a_state_dict_of_adams_l2_weight_decay():
    torch = pytest.importorskip("torch")
    q = torch.ones(2, requires_grad=True)
    saved = torch.optim.Adam([q]).state_dict()
    with pytest.raises(ValueError, match="decoupled_weight_decay=False, which AdamW does not implement"):
        optim.AdamW([Tensor(np.ones(2), requires_grad=True)]).load_state_dict(saved)


def test_an_optimiser_subclassed_as_in_pytorch_steps_saves_and_loads():
    # PyTorch's recipe: defaults to the base class, its own step(), self.state[p] starts as {}
    class MomentumOnly(optim.Optimizer):
        def __init__(self, params, lr=0.1, momentum=0.9):
            super().__init__(params, dict(lr=lr, momentum=momentum))

        def step(self, closure=None):
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    state = self.state[p]
                    if len(state) == 0:
                        state["velocity"] = np.zeros_like(p.data)
                    state["velocity"] = group["momentum"] * state["velocity"] + p.grad.data
                    p.data -= group["lr"] * state["velocity"]

    p = Tensor(np.ones(3), requires_grad=True)
    optimizer = MomentumOnly([p], lr=0.1)
    p.grad = Tensor(np.full(3, 2.0))
    optimizer.step()
    optimizer.step()
    np.testing.assert_allclose(p.numpy(), 1 - 0.1 * 2 - 0.1 * (0.9 * 2 + 2))
    other = MomentumOnly([Tensor(np.ones(3), requires_grad=True)], lr=0.1)
    other.load_state_dict(optimizer.state_dict())
    np.testing.assert_allclose(list(other.state.values())[0]["velocity"], np.full(3, 3.8))
    scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.05)


def test_named_parameters_as_torch_and_their_state_dicts_load_both_ways():
    torch = pytest.importorskip("torch")
    theirs_model = torch.nn.Linear(3, 2).double()
    ours_model = nn.Linear(3, 2)
    ours_model.load_state_dict(theirs_model.state_dict())
    ours_model.weight.data = ours_model.weight.data.astype(np.float64)
    ours_model.bias.data = ours_model.bias.data.astype(np.float64)
    theirs = torch.optim.Adam(theirs_model.named_parameters(), lr=0.1)
    ours = optim.Adam(ours_model.named_parameters(), lr=0.1)
    assert ours.param_groups[0]["param_names"] == ["weight", "bias"]
    x = np.random.default_rng(0).normal(size=(4, 3))
    for _ in range(2):
        theirs.zero_grad()
        ours.zero_grad()
        (theirs_model(torch.from_numpy(x)) ** 2).sum().backward()
        (ours_model(Tensor(x)) ** 2).sum().backward()
        theirs.step()
        ours.step()
    np.testing.assert_allclose(ours_model.weight.numpy(), theirs_model.weight.detach().numpy(), rtol=1e-12)
    assert ours.state_dict()["param_groups"][0]["param_names"] == ["weight", "bias"]
    fresh = optim.Adam(nn.Linear(3, 2).parameters(), lr=0.1)
    fresh.load_state_dict(theirs.state_dict())  # (param_names was an unknown hyper-parameter)
    assert fresh.param_groups[0]["param_names"] == ["weight", "bias"]
    with pytest.raises(ValueError, match="with its name"):
        optim.SGD([("weight", ours_model.weight), ours_model.bias], lr=0.1)
    with pytest.raises(ValueError, match="or every one without"):
        ours.add_param_group({"params": [Tensor(np.ones(1), requires_grad=True)]})


@pytest.mark.parametrize(
    ("name", "settings"),
    [
        ("SGD", {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.1}),
        ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
        ("Adam", {"lr": 0.1, "weight_decay": 0.1, "amsgrad": True}),
        ("AdamW", {"lr": 0.1}),
        ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True, "weight_decay": 0.1}),
    ],
)
def test_maximize_ascends_as_torch_and_foreach_is_accepted(name, settings):
    torch = pytest.importorskip("torch")
    start = np.random.default_rng(3).normal(size=(2, 3))
    ours_p = Tensor(start.copy(), requires_grad=True)
    theirs_p = torch.tensor(start.copy(), requires_grad=True)
    ours = getattr(optim, name)([ours_p], maximize=True, foreach=False, **settings)
    theirs = getattr(torch.optim, name)([theirs_p], maximize=True, foreach=False, **settings)
    for step in range(3):
        grad = np.random.default_rng(step).normal(size=(2, 3))
        ours_p.grad, theirs_p.grad = Tensor(grad), torch.from_numpy(grad)
        ours.step()
        theirs.step()
    np.testing.assert_allclose(ours_p.numpy(), theirs_p.detach().numpy(), rtol=1e-12, atol=1e-14)
    resumed = getattr(optim, name)([Tensor(start.copy(), requires_grad=True)], **settings)
    resumed.load_state_dict(theirs.state_dict())
    assert resumed.param_groups[0]["maximize"] is True
