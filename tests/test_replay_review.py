"""A hostile review of tinygrad_sm.jit: adversarial steps run twice from the same start, eagerly and
jitted, with a different batch on every call, and everything compared bit for bit after each call
(the outputs, every parameter, gradient and buffer, the optimisers' state dicts, the schedules).

Only behaviour that is right is here; the review's report lists what differs."""

from __future__ import annotations

import gc
import random
import tracemalloc
import warnings

import numpy as np
import pytest

import tinygrad_sm
from tinygrad_sm import JitWarning, Tensor, jit, nn, optim
from tinygrad_sm.distributions import Categorical
from tinygrad_sm.function import Function, register_op
from tinygrad_sm.grad_mode import hooks
from tinygrad_sm.nn import functional as F  # noqa: N812 - the usual name

CALLS = 7
schedules = optim.lr_scheduler


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


# ----- the twin run ---------------------------------------------------------------------------------
def snapshot(value):
    """A copy of a (nested) result or piece of state that compares exactly (dtype, shape, bits).
    A Tensor's ``requires_grad`` is left out: a replay's results have no graph, by design."""
    if isinstance(value, Tensor):
        return ("Tensor", snapshot(value.data))
    if isinstance(value, np.ndarray | np.generic):
        array = np.asarray(value)
        return ("array", array.dtype.str, array.shape, array.tobytes())
    if isinstance(value, tuple | list):
        return (type(value).__name__, tuple(snapshot(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple((k, snapshot(v)) for k, v in value.items()))
    return ("value", value)


def state(objects: dict) -> dict:
    """Everything a step may change: parameters, buffers and gradients of the modules, the
    optimisers' state dicts, the schedules' counters and rates, free tensors and their gradients."""
    seen = {}
    for name, thing in objects.items():
        if isinstance(thing, nn.Module):
            for key, value in thing.state_dict().items():
                seen[f"{name}.{key}"] = snapshot(value)
            for key, p in thing.named_parameters():
                seen[f"{name}.{key}.grad"] = snapshot(p.grad)
        elif isinstance(thing, optim.Optimizer):
            seen[name] = snapshot(thing.state_dict())
        elif isinstance(thing, schedules.LRScheduler):
            seen[name] = (thing.last_epoch, snapshot(thing.get_last_lr()))
        elif isinstance(thing, Tensor):
            seen[name] = (snapshot(thing), snapshot(thing.grad))
        else:
            seen[name] = snapshot(thing)
    return seen


def twin_run(make, calls, between=None, warning=None):
    """``make()`` returns ``(step, objects)``; two copies run the same calls, one eagerly, one
    through ``jit``, and are compared after every call. ``between(i, objects)`` changes both
    copies before call i. With ``warning=None`` the jitted copy must replay without a JitWarning;
    else it must warn exactly once, with that text, and keep running eagerly."""
    eager, eager_objects = make()
    step, jit_objects = make()
    jitted = jit(step)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i, (args, kwargs) in enumerate(calls):
            if between is not None:
                between(i, eager_objects)
                between(i, jit_objects)
            expected, got = eager(*args, **kwargs), jitted(*args, **kwargs)
            assert snapshot(got) == snapshot(expected), f"call {i}: the results differ"
            expected_state, got_state = state(eager_objects), state(jit_objects)
            for key in expected_state:
                assert got_state[key] == expected_state[key], f"call {i}: {key} differs"
    messages = [str(w.message) for w in caught if issubclass(w.category, JitWarning)]
    if warning is None:
        assert messages == [], messages
        assert jitted.replaying
    else:
        assert len(messages) == 1 and warning in messages[0], messages
        assert not jitted.replaying
    return jitted


def batches(shape=(8, 4), classes=3, count=CALLS, seed=0, dtype=np.float32):
    rng = _rng(seed)
    return [((rng.standard_normal(shape).astype(dtype), rng.integers(0, classes, shape[0])), {}) for _ in range(count)]


def mlp():
    return nn.Sequential(nn.Linear(4, 6, rng=0), nn.Tanh(), nn.Linear(6, 3, rng=1))


def maker(body, model=mlp, optimizer=lambda p: optim.SGD(p, lr=0.1, momentum=0.9)):
    """A step ``body(model, opt, *args)`` on a fresh model and optimiser."""

    def make():
        net = model()
        opt = optimizer(net.parameters())

        def step(*args, **kwargs):
            return body(net, opt, *args, **kwargs)

        return step, {"model": net, "opt": opt}

    return make


def train(model, opt, x, y):
    opt.zero_grad()
    loss = model(Tensor(x)).cross_entropy(y)
    loss.backward()
    opt.step()
    return loss


def at(call, change):
    """A ``between`` that makes ``change(objects)`` before call ``call``."""

    def between(i, objects):
        if i == call:
            change(objects)

    return between


# ----- every optimiser and schedule ------------------------------------------------------------------
OPTIMIZERS = {
    "SGD": lambda p: optim.SGD(p, lr=0.1),
    "SGD nesterov weight_decay": lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-2),
    "SGD dampening maximize": lambda p: optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.5, maximize=True),
    "Adam": lambda p: optim.Adam(p, lr=0.01),
    "Adam amsgrad weight_decay": lambda p: optim.Adam(p, lr=0.01, amsgrad=True, weight_decay=0.1),
    "Adam maximize": lambda p: optim.Adam(p, lr=0.01, maximize=True),
    "AdamW amsgrad": lambda p: optim.AdamW(p, lr=0.01, amsgrad=True),
    "RMSprop": lambda p: optim.RMSprop(p, lr=0.01),
    "RMSprop centered momentum weight_decay": lambda p: optim.RMSprop(p, lr=0.01, centered=True, momentum=0.9, weight_decay=0.1),
    "two parameter groups": lambda p: (
        lambda ps: optim.SGD([{"params": ps[:2], "lr": 0.5}, {"params": ps[2:]}], lr=0.1, momentum=0.9)
    )(list(p)),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_optimizer_replays_its_update_and_state(name):
    twin_run(maker(train, optimizer=OPTIMIZERS[name]), batches(count=8))


SCHEDULES = {
    "StepLR": lambda opt: schedules.StepLR(opt, step_size=2, gamma=0.5),
    "ExponentialLR": lambda opt: schedules.ExponentialLR(opt, gamma=0.9),
    "CosineAnnealingLR": lambda opt: schedules.CosineAnnealingLR(opt, T_max=3),
    "LinearLR": lambda opt: schedules.LinearLR(opt, start_factor=0.1, total_iters=4),
    "LambdaLR": lambda opt: schedules.LambdaLR(opt, lambda epoch: 1 / (epoch + 1)),
}


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_every_schedule_stepped_inside_the_step_keeps_working(name):
    def make():
        model = mlp()
        opt = optim.Adam(model.parameters(), lr=0.1)
        schedule = SCHEDULES[name](opt)

        def step(x, y):
            loss = train(model, opt, x, y)
            schedule.step()
            return loss

        return step, {"model": model, "opt": opt, "schedule": schedule}

    twin_run(make, batches(count=8))


# ----- every layer -----------------------------------------------------------------------------------
LAYERS = {
    "Conv2d, MaxPool2d, AvgPool2d": (
        lambda: nn.Sequential(
            nn.Conv2d(2, 4, 3, padding=1, rng=_rng(0)),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(4, 3, 3, stride=2, padding=1, rng=_rng(1)),
            nn.AvgPool2d(2),
            nn.Flatten(),
        ),
        (6, 2, 8, 8),
    ),
    "Conv2d dilation groups, AdaptiveAvgPool2d": (
        lambda: nn.Sequential(
            nn.Conv2d(4, 4, 3, dilation=2, groups=2, rng=_rng(0)),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(4, 3, rng=_rng(1)),
        ),
        (5, 4, 9, 9),
    ),
    "Conv1d, GELU, MaxPool1d, AvgPool1d, AdaptiveMaxPool1d": (
        lambda: nn.Sequential(
            nn.Conv1d(3, 5, 3, rng=_rng(0)),
            nn.GELU(),
            nn.MaxPool1d(2),
            nn.AvgPool1d(2),
            nn.AdaptiveMaxPool1d(1),
            nn.Flatten(),
            nn.Linear(5, 3, rng=_rng(2)),
        ),
        (6, 3, 12),
    ),
    "AdaptiveMaxPool2d": (
        lambda: nn.Sequential(nn.Conv2d(1, 3, 3, rng=_rng(0)), nn.AdaptiveMaxPool2d((1, 1)), nn.Flatten()),
        (6, 1, 7, 7),
    ),
    "BatchNorm1d": (
        lambda: nn.Sequential(nn.Linear(4, 6, rng=0), nn.BatchNorm1d(6), nn.Tanh(), nn.Linear(6, 3, rng=1)),
        (8, 4),
    ),
    "BatchNorm1d on (N, C, L), SiLU": (
        lambda: nn.Sequential(
            nn.Conv1d(4, 6, 1, rng=_rng(0)), nn.BatchNorm1d(6), nn.SiLU(), nn.Flatten(), nn.Linear(18, 3, rng=1)
        ),
        (8, 4, 3),
    ),
    "BatchNorm2d, ELU": (
        lambda: nn.Sequential(
            nn.Conv2d(1, 4, 3, rng=_rng(0)), nn.BatchNorm2d(4), nn.ELU(), nn.Flatten(), nn.Linear(36, 3, rng=1)
        ),
        (8, 1, 5, 5),
    ),
    "BatchNorm without affine or running statistics": (
        lambda: nn.Sequential(
            nn.Linear(4, 6, rng=0),
            nn.BatchNorm1d(6, affine=False, track_running_stats=False),
            nn.Linear(6, 3, rng=1),
        ),
        (8, 4),
    ),
    "LayerNorm, LeakyReLU": (
        lambda: nn.Sequential(nn.Linear(4, 6, rng=0), nn.LayerNorm(6), nn.LeakyReLU(0.1), nn.Linear(6, 3, rng=1)),
        (8, 4),
    ),
    "LayerNorm without bias, Softplus": (
        lambda: nn.Sequential(nn.Linear(4, 6, rng=0), nn.LayerNorm(6, bias=False), nn.Softplus(), nn.Linear(6, 3, rng=1)),
        (8, 4),
    ),
    "Sigmoid, tanh-GELU, LogSoftmax, Identity": (
        lambda: nn.Sequential(
            nn.Identity(),
            nn.Linear(4, 6, rng=0),
            nn.Sigmoid(),
            nn.Linear(6, 6, rng=2),
            nn.GELU(approximate="tanh"),
            nn.Linear(6, 3, rng=1),
            nn.LogSoftmax(dim=1),
        ),
        (8, 4),
    ),
    "Dropout with its own generator": (
        lambda: nn.Sequential(nn.Linear(4, 8, rng=0), nn.Dropout(0.3, rng=_rng(3)), nn.Linear(8, 3, rng=1)),
        (8, 4),
    ),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_every_layer_replays_bit_identically(name):
    model, shape = LAYERS[name]
    twin_run(maker(train, model=model), batches(shape=shape))


def test_batch_norm_with_cumulative_momentum_warns_and_runs_eagerly():
    def model():
        return nn.Sequential(nn.Linear(4, 6, rng=0), nn.BatchNorm1d(6, momentum=None), nn.Linear(6, 3, rng=1))

    twin_run(maker(train, model=model), batches(), warning="momentum=None")


def tokens(count=CALLS, n=4, length=5, vocabulary=11, seed=0):
    rng = _rng(seed)
    return [((rng.integers(0, vocabulary, (n, length)), rng.integers(0, 3, n)), {}) for _ in range(count)]


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("batch_first", [True, False])
def test_embedding_and_attention_with_a_causal_mask(need_weights, batch_first):
    def make():
        embedding = nn.Embedding(11, 8, padding_idx=0, rng=_rng(0))
        attention = nn.MultiheadAttention(8, 2, batch_first=batch_first, rng=_rng(1))
        head = nn.Linear(8, 3, rng=_rng(2))
        opt = optim.Adam([*embedding.parameters(), *attention.parameters(), *head.parameters()], lr=0.01)

        def step(t, y):
            opt.zero_grad()
            h = embedding(t)
            h = h if batch_first else h.swapaxes(0, 1)
            causal = np.triu(np.ones((t.shape[1], t.shape[1]), bool), 1)  # the same every call
            out, weights = attention(h, h, h, attn_mask=causal, need_weights=need_weights)
            out = out if batch_first else out.swapaxes(0, 1)
            loss = F.cross_entropy(head(out.mean(axis=1)), y)
            loss.backward()
            opt.step()
            return loss, None if weights is None else weights.detach()

        return step, {"embedding": embedding, "attention": attention, "head": head, "opt": opt}

    twin_run(make, tokens())


def test_attention_dropout_draws_from_its_generator_on_every_replay():
    def make():
        attention = nn.MultiheadAttention(8, 2, dropout=0.5, batch_first=True, rng=_rng(1))
        opt = optim.SGD(attention.parameters(), lr=0.1)

        def step(x):
            opt.zero_grad()
            out, weights = attention(Tensor(x), Tensor(x), Tensor(x))
            loss = (out * out).mean()
            loss.backward()
            opt.step()
            return loss, weights.detach()

        return step, {"attention": attention, "opt": opt}

    rng = _rng(0)
    twin_run(make, [((rng.standard_normal((2, 3, 8)).astype(np.float32),), {}) for _ in range(CALLS)])


def test_default_generator_dropout_follows_manual_seed_between_calls():
    def run(jitted):
        model = nn.Sequential(nn.Linear(4, 8, rng=0), nn.Dropout(0.5), nn.Linear(8, 3, rng=1))
        opt = optim.SGD(model.parameters(), lr=0.1)

        def step(x, y):
            opt.zero_grad()
            loss = F.dropout(model(Tensor(x)), 0.2).cross_entropy(y)  # (the default generator)
            loss.backward()
            opt.step()
            return loss

        step = jit(step) if jitted else step
        tinygrad_sm.manual_seed(0)
        losses = []
        for i, ((x, y), _) in enumerate(batches(count=8)):
            if i == 4:
                tinygrad_sm.manual_seed(1)
            losses.append(step(x, y).data.copy())
        return losses, step

    eager, _ = run(False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", JitWarning)
        replayed, step = run(True)
    assert step.replaying
    assert [a.tobytes() for a in eager] == [b.tobytes() for b in replayed]


# ----- losses ----------------------------------------------------------------------------------------
LOSSES = {
    "cross_entropy ignore_index label_smoothing": lambda out, y: F.cross_entropy(out, y, ignore_index=1, label_smoothing=0.1),
    "cross_entropy weight, sum": lambda out, y: F.cross_entropy(
        out, y, weight=np.array([1.0, 2.0, 0.5], np.float32), reduction="sum"
    ),
    "cross_entropy none": lambda out, y: F.cross_entropy(out, y, reduction="none").mean(),
    "cross_entropy (N, C, d)": lambda out, y: F.cross_entropy(out.reshape(2, 4, 3).swapaxes(1, 2), y.reshape(2, 4)),
    "CrossEntropyLoss ignore_index": lambda out, y: nn.CrossEntropyLoss(ignore_index=0)(out, y),
    "nll_loss": lambda out, y: F.nll_loss(out.log_softmax(axis=1), y),
    "NLLLoss ignore_index": lambda out, y: nn.NLLLoss(ignore_index=2)(out.log_softmax(axis=1), y),
    "mse_loss against a tensor op": lambda out, y: F.mse_loss(out, out.detach() * 0.5),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_losses_replay_bit_identically(name):
    def body(model, opt, x, y):
        opt.zero_grad()
        loss = LOSSES[name](model(Tensor(x)), y)
        loss.backward()
        opt.step()
        return loss

    twin_run(maker(body), batches())


def test_cross_entropy_with_every_label_ignored_on_one_replay():
    """The count of ignored rows is data: a batch with none left gives nan on a replay too."""

    def body(model, opt, x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(Tensor(x)), y, ignore_index=1)
        loss.backward()
        opt.step()
        return loss

    data = [((x, np.ones_like(y) if i == 5 else y), {}) for i, ((x, y), _) in enumerate(batches(count=8))]
    twin_run(maker(body), data)


def test_class_weights_changed_in_place_between_calls_are_read_afresh():
    def make():
        model = nn.Linear(4, 3, rng=0)
        opt = optim.SGD(model.parameters(), lr=0.1)
        array = np.ones(3, np.float32)
        tensor = Tensor(np.ones(3, np.float32))
        module = nn.CrossEntropyLoss(weight=np.ones(3, np.float32))

        def step(x, y):
            opt.zero_grad()
            out = model(Tensor(x))
            loss = F.cross_entropy(out, y, weight=array) + F.cross_entropy(out, y, weight=tensor) + module(out, y)
            loss.backward()
            opt.step()
            return loss

        return step, {"model": model, "opt": opt, "array": array, "tensor": tensor, "module": module}

    def rebalance(objects):
        objects["array"][...] = [0.2, 1.0, 3.0]
        objects["tensor"].data = np.array([0.5, 1.0, 2.0], np.float32)
        weight = objects["module"].weight
        (weight.data if isinstance(weight, Tensor) else weight)[...] = [3.0, 1.0, 0.2]

    twin_run(make, batches(count=8), between=at(4, rebalance))


# ----- the shapes of a step --------------------------------------------------------------------------
def two_graphs(model, opt, x, y):
    opt.zero_grad()
    xt = Tensor(x)
    first = model(xt).cross_entropy(y)
    first.backward()
    second = (model(xt * -1.0) ** 2).mean()
    second.backward()
    opt.step()
    return first, second


def parameter_many_times(model, opt, x, y):
    opt.zero_grad()
    w = model[0].weight
    h = Tensor(x) @ w.T @ w @ w.T
    loss = (h * h).mean() + (w * w).sum() * 0.01 + model(Tensor(x)).cross_entropy(y)
    loss.backward()
    opt.step()
    return loss


def detached_target(model, opt, x, y):
    opt.zero_grad()
    h = model[0](Tensor(x))
    target = h.detach() * 2
    loss = ((h - target) ** 2).mean() + model(Tensor(x)).cross_entropy(y)
    loss.backward()
    opt.step()
    return loss, target


def no_grad_teacher(model, opt, x, y):
    opt.zero_grad()
    with tinygrad_sm.no_grad():
        teacher = model(Tensor(x)).softmax(axis=-1)
    loss = -(teacher * model(Tensor(x)).log_softmax(axis=-1)).sum(axis=-1).mean()
    loss.backward()
    opt.step()
    return loss, teacher


def integer_tensors(model, opt, x, y):
    opt.zero_grad()
    labels = Tensor(y)
    arithmetic = labels * 2 - (labels + 1)
    loss = model(Tensor(x)).cross_entropy(labels * 3 - labels * 2)
    loss.backward()
    opt.step()
    return loss, arithmetic, labels.sum(), labels.max()


def bool_tensors(model, opt, x, y):
    opt.zero_grad()
    xt = Tensor(x)
    positive = xt > 0
    loss = model(xt * positive).cross_entropy(y)
    loss.backward()
    opt.step()
    return loss, positive.sum(axis=1)


def index_with_input_arrays(model, opt, x, y):
    opt.zero_grad()
    out = model(Tensor(x))
    loss = -out[np.arange(len(y)), y].mean() + out[y].sum() * 0.01
    loss.backward()
    opt.step()
    return loss


def index_with_tensors(model, opt, x, y):
    opt.zero_grad()
    out = model(Tensor(x))
    loss = -out[Tensor(np.arange(len(y))), Tensor(y)].mean()
    loss.backward()
    opt.step()
    return loss


def concatenate_and_stack(model, opt, x, y):
    opt.zero_grad()
    labels = Tensor(y)
    a, b = model(Tensor(x)), model(Tensor(x) * 2)
    both = Tensor.stack([a, b], axis=1)
    loss = Tensor.concatenate([a, b]).cross_entropy(Tensor.concatenate([labels, labels])) + (both**2).mean()
    loss.backward()
    opt.step()
    return loss, both


def masks_from_comparisons(model, opt, x, y):
    opt.zero_grad()
    xt = Tensor(x)
    out = model(xt)
    mask = xt[:, :3] > 0
    loss = (F.where(mask, out, out * 0.1) ** 2).mean() + out.masked_fill(mask, -1.0).mean()
    loss.backward()
    opt.step()
    return loss


def accuracy_inside(model, opt, x, y):
    opt.zero_grad()
    out = model(Tensor(x))
    loss = out.cross_entropy(y)
    loss.backward()
    opt.step()
    correct = out.argmax(axis=1) == y
    confidence = out.detach().softmax(axis=1).max(axis=1)
    return loss, correct, correct.sum(), correct.mean(), (out.argmax(1) == Tensor(y)).sum(), confidence


def dictionary_result(model, opt, x, y, scale=1.0):
    opt.zero_grad()
    out = model(Tensor(x))
    loss = out.cross_entropy(y) * scale
    loss.backward()
    opt.step()
    return {"loss": loss, "logits": out.detach(), "n": len(y), "nested": [loss, (out.detach(),)]}


def shape_reads(model, opt, x, y):
    opt.zero_grad()
    xt = Tensor(x)
    loss = model(xt).cross_entropy(y) * (1.0 / xt.shape[0]) + xt.ndim * 0.0
    loss.backward()
    opt.step()
    return loss, len(xt), xt.size


def clipped(model, opt, x, y):
    opt.zero_grad()
    loss = model(Tensor(x)).cross_entropy(y) * 10
    loss.backward()
    norm = nn.utils.clip_grad_norm_(model.parameters(), 0.5)
    infinity = nn.utils.clip_grad_norm_(model.parameters(), 0.4, norm_type=float("inf"))
    nn.utils.clip_grad_value_(model.parameters(), 0.01)
    opt.step()
    return loss, norm, infinity


def accumulate_without_zero_grad(model, opt, x, y):
    loss = model(Tensor(x)).cross_entropy(y)
    loss.backward()
    opt.step()
    return loss


def accumulate_micro_batches(model, opt, x, y):
    xt, labels = Tensor(x), Tensor(y)
    for i in range(2):
        loss = model(xt[i::2]).cross_entropy(labels[i::2]) / 2
        loss.backward()
    opt.step()
    opt.zero_grad()
    return loss


def zero_grad_to_zeros(model, opt, x, y):
    opt.zero_grad(set_to_none=False)
    loss = model(Tensor(x)).cross_entropy(y)
    loss.backward()
    norm = sum((p.grad * p.grad).sum() for p in model.parameters())  # the same .grad tensors
    opt.step()
    return loss, norm


def module_zero_grad(model, opt, x, y):
    model.zero_grad()
    loss = model(Tensor(x)).cross_entropy(y)
    loss.backward()
    opt.step()
    return loss


def python_sum_penalty(model, opt, x, y):
    opt.zero_grad()
    loss = model(Tensor(x)).cross_entropy(y) + 1e-3 * sum((p * p).sum() for p in model.parameters())
    loss.backward()
    opt.step()
    return loss


def leaf_backward(model, opt, x, y):
    opt.zero_grad()
    w = model[0].weight
    w.backward(Tensor(np.ones((6, 4), np.float32)))  # the backward of a leaf itself
    (w * 2).sum().backward()
    opt.step()
    return w.grad


STEPS = {
    "two backward() on separate graphs": two_graphs,
    "a parameter used many times": parameter_many_times,
    "detach()": detached_target,
    "a no_grad block inside": no_grad_teacher,
    "ops on integer tensors": integer_tensors,
    "bool tensors from comparisons": bool_tensors,
    "indexing with arrays from the inputs": index_with_input_arrays,
    "indexing with Tensors": index_with_tensors,
    "concatenate and stack": concatenate_and_stack,
    "where and masked_fill with masks from comparisons": masks_from_comparisons,
    "accuracy from argmax and ==": accuracy_inside,
    ".shape and len() reads": shape_reads,
    "clip_grad_norm_ and clip_grad_value_": clipped,
    "gradients accumulated without zero_grad": accumulate_without_zero_grad,
    "micro-batches sliced from Tensors": accumulate_micro_batches,
    "zero_grad(set_to_none=False) and a gradient norm": zero_grad_to_zeros,
    "model.zero_grad()": module_zero_grad,
    "an L2 penalty by Python's sum()": python_sum_penalty,
    "backward() of a leaf": leaf_backward,
}


@pytest.mark.parametrize("name", sorted(STEPS))
def test_step_shapes_replay_bit_identically(name):
    twin_run(maker(STEPS[name]), batches(count=8))


def test_keyword_arguments_and_a_dictionary_result():
    twin_run(maker(dictionary_result), [((x, y), {"scale": 0.5}) for (x, y), _ in batches()])


def test_tensor_arguments():
    twin_run(maker(train), [((Tensor(x), Tensor(y)), {}) for (x, y), _ in batches()])


def test_batch_sizes_that_change_and_come_back():
    rng = _rng(3)
    sizes = [8, 8, 8, 5, 8, 5, 5, 8, 3, 5, 3, 3, 3]
    data = [((rng.standard_normal((n, 4)).astype(np.float32), rng.integers(0, 3, n)), {}) for n in sizes]
    twin_run(maker(train), data)


def test_non_contiguous_inputs_contiguous_or_not_from_call_to_call():
    rng = _rng(0)
    data = []
    for i in range(8):
        x = rng.standard_normal((4, 8)).astype(np.float32).T
        data.append(((x if i % 2 else np.ascontiguousarray(x), rng.integers(0, 3, 8)), {}))
    twin_run(maker(train), data)


@pytest.mark.parametrize("scale", [np.float32(0.5), np.array(0.5, np.float32), Tensor(np.array(0.5, np.float32))])
def test_a_scalar_argument_as_numpy_or_tensor(scale):
    def body(model, opt, x, y, factor):
        opt.zero_grad()
        loss = model(Tensor(x)).cross_entropy(y) * factor
        loss.backward()
        opt.step()
        return loss

    twin_run(maker(body), [((x, y, scale), {}) for (x, y), _ in batches()])


def test_train_and_eval_inside_the_step():
    def model():
        return nn.Sequential(nn.Linear(4, 6, rng=0), nn.Dropout(0.5, rng=_rng(1)), nn.BatchNorm1d(6), nn.Linear(6, 3, rng=1))

    def body(net, opt, x, y):
        net.train()
        loss = train(net, opt, x, y)
        net.eval()
        with tinygrad_sm.no_grad():
            validation = net(Tensor(x)).cross_entropy(y)
        return loss, validation

    twin_run(maker(body, model=model), batches(count=8))


def test_jitted_training_and_evaluation_steps_alternate():
    def make():
        model = nn.Sequential(
            nn.Conv2d(1, 4, 3, rng=_rng(0)),
            nn.BatchNorm2d(4),
            nn.ReLU(),
            nn.Dropout(0.3, rng=_rng(2)),
            nn.Flatten(),
            nn.Linear(36, 3, rng=_rng(1)),
        )
        opt = optim.Adam(model.parameters(), lr=0.01)

        def training(x, y):
            model.train()
            return train(model, opt, x, y)

        @tinygrad_sm.no_grad()
        def evaluation(x, y):
            model.eval()
            out = model(Tensor(x))
            return out.cross_entropy(y), (out.argmax(axis=1) == y).sum()

        return model, training, evaluation

    (eager_model, eager_train, eager_eval), (jit_model, jit_train, jit_eval) = make(), make()
    jit_train, jit_eval = jit(jit_train), jit(jit_eval)
    rng = _rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", JitWarning)
        for i in range(8):
            x, y = rng.standard_normal((6, 1, 5, 5)).astype(np.float32), rng.integers(0, 3, 6)
            assert snapshot(jit_train(x, y)) == snapshot(eager_train(x, y)), i
            assert snapshot(jit_eval(x, y)) == snapshot(eager_eval(x, y)), i
    assert jit_train.replaying and jit_eval.replaying
    assert state({"m": jit_model}) == state({"m": eager_model})


def test_a_gan_step_two_optimizers_detach_and_two_backward_calls():
    def make():
        generator = nn.Sequential(nn.Linear(2, 8, rng=0), nn.ReLU(), nn.Linear(8, 4, rng=1))
        critic = nn.Sequential(nn.Linear(4, 8, rng=2), nn.LeakyReLU(0.2), nn.Linear(8, 1, rng=3))
        opt_g = optim.Adam(generator.parameters(), lr=1e-3, betas=(0.5, 0.999))
        opt_c = optim.Adam(critic.parameters(), lr=1e-3, betas=(0.5, 0.999))
        bce = nn.BCEWithLogitsLoss()

        def step(real, z):
            ones = Tensor(np.ones((real.shape[0], 1), np.float32))
            zeros = Tensor(np.zeros((real.shape[0], 1), np.float32))
            fake = generator(Tensor(z))
            opt_c.zero_grad()
            critic_loss = bce(critic(Tensor(real)), ones) + bce(critic(fake.detach()), zeros)
            critic_loss.backward()
            opt_c.step()
            opt_g.zero_grad()
            generator_loss = bce(critic(fake), ones)
            generator_loss.backward()
            opt_g.step()
            return critic_loss, generator_loss

        return step, {"generator": generator, "critic": critic, "opt_g": opt_g, "opt_c": opt_c}

    rng = _rng(0)
    data = [
        ((rng.standard_normal((8, 4)).astype(np.float32), rng.standard_normal((8, 2)).astype(np.float32)), {})
        for _ in range(CALLS)
    ]
    twin_run(make, data)


def test_tied_weights():
    def make():
        embedding = nn.Embedding(10, 4, rng=_rng(0))
        projection = nn.Linear(4, 10, bias=False, rng=_rng(1))
        projection.weight = embedding.weight
        opt = optim.SGD(list(embedding.parameters()), lr=0.1, momentum=0.9)

        def step(t, y):
            opt.zero_grad()
            loss = projection(embedding(t)).reshape(-1, 10).cross_entropy(y.reshape(-1))
            loss.backward()
            opt.step()
            return loss

        return step, {"embedding": embedding, "opt": opt}

    rng = _rng(0)
    twin_run(make, [((rng.integers(0, 10, (3, 4)), rng.integers(0, 10, (3, 4))), {}) for _ in range(CALLS)])


def test_optimising_the_input_tensor_itself():
    def make():
        net = nn.Linear(4, 3, rng=0)
        image = Tensor(_rng(1).standard_normal((2, 4)).astype(np.float32), requires_grad=True)
        opt = optim.Adam([image], lr=0.1)

        def step(picture, target):
            opt.zero_grad()
            loss = ((net(picture) - target) ** 2).mean()
            loss.backward()
            opt.step()
            return loss

        return step, {"net": net, "image": image, "opt": opt}

    eager, eager_objects = make()
    step, jit_objects = make()
    jitted = jit(step)
    target = Tensor(np.ones((2, 3), np.float32))
    for i in range(CALLS):
        expected = eager(eager_objects["image"], target)
        got = jitted(jit_objects["image"], target)
        assert snapshot(got) == snapshot(expected), i
        assert state(jit_objects) == state(eager_objects), i
    assert jitted.replaying


def test_results_kept_from_earlier_calls_are_not_overwritten_by_later_replays():
    def make():
        model = nn.Sequential(nn.Linear(4, 6, rng=0), nn.ReLU(), nn.LayerNorm(6), nn.Linear(6, 3, rng=1))
        opt = optim.Adam(model.parameters(), lr=0.01)

        def step(x, y):
            opt.zero_grad()
            out = model(Tensor(x))
            loss = out.cross_entropy(y)
            loss.backward()
            opt.step()
            logits = out.detach()
            return loss, logits, logits.softmax(axis=-1), model[0].weight.grad, model[3].bias.grad

        return step

    eager, jitted = make(), jit(make())
    kept_eager, kept_jit = [], []
    for (x, y), _ in batches(count=8):
        kept_eager.append(eager(x, y))
        kept_jit.append(jitted(x, y))
    assert jitted.replaying
    assert [snapshot(r) for r in kept_jit] == [snapshot(r) for r in kept_eager]


def test_a_gradient_passed_to_backward_is_not_aliased_by_grad():
    @jit
    def backward_twice(x, g):
        x.backward(g)
        (x * 1.0).backward(g)
        return x.grad

    for i in range(5):
        x = Tensor(np.zeros(3, np.float32), requires_grad=True)
        g = Tensor(np.full(3, float(i), np.float32))
        result = backward_twice(x, g)
        g.data[...] = 100
        assert np.array_equal(result.data, np.full(3, 2.0 * i))
    assert backward_twice.replaying


# ----- dtypes ------------------------------------------------------------------------------------------
@pytest.fixture
def float64_default():
    tinygrad_sm.set_default_dtype(np.float64)
    yield
    tinygrad_sm.set_default_dtype(np.float32)


@pytest.mark.parametrize("data_dtype", [np.float64, np.float32])
@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
def test_float64_default_dtype(float64_default, data_dtype, optimizer):
    twin_run(maker(train, optimizer=OPTIMIZERS[optimizer]), batches(count=8, dtype=data_dtype))


def test_default_dtype_toggled_between_calls():
    def body(model, opt, x, y):
        opt.zero_grad()
        loss = (model(Tensor(x)) * Tensor([2.0])).cross_entropy(y)
        loss.backward()
        opt.step()
        return loss

    def toggle(i, objects):
        tinygrad_sm.set_default_dtype(np.float64 if i % 2 else np.float32)

    try:
        twin_run(maker(body), batches(count=8), between=toggle)
    finally:
        tinygrad_sm.set_default_dtype(np.float32)


@pytest.mark.parametrize(
    "convert", [lambda x: Tensor(x, dtype=np.float64), lambda x: Tensor(x).astype(np.float64), Tensor.from_numpy]
)
def test_inputs_converted_by_tensor_ops(convert):
    def body(model, opt, x, y):
        opt.zero_grad()
        loss = model(convert(x)).cross_entropy(y)
        loss.backward()
        opt.step()
        return loss

    twin_run(maker(body), batches(count=8))


def test_float64_inputs_to_a_float32_model():
    twin_run(maker(train), batches(count=8, dtype=np.float64))


# ----- state changed between calls, which a replay reads afresh -----------------------------------------
def _set_group(key, value):
    return lambda objects: objects["opt"].param_groups[0].__setitem__(key, value)


CHANGES = {
    "lr": _set_group("lr", 0.01),
    "momentum": _set_group("momentum", 0.0),
    "p.data replaced, same shape and dtype": lambda o: setattr(o["model"][0].weight, "data", np.zeros((6, 4), np.float32)),
    "model.load_state_dict": lambda o: o["model"].load_state_dict(
        {k: np.ones_like(v) for k, v in o["model"].state_dict().items()}
    ),
    "optimizer.load_state_dict": lambda o: o["opt"].load_state_dict(o["opt"].state_dict()),
    "optimizer state cleared": lambda o: o["opt"].state.clear(),
    "gradients left by an eager backward": lambda o: o["model"](Tensor(np.ones((2, 4), np.float32))).sum().backward(),
}


@pytest.mark.parametrize("name", sorted(CHANGES))
def test_state_changed_between_calls_is_read_afresh(name):
    twin_run(maker(accumulate_without_zero_grad), batches(count=8), between=at(4, CHANGES[name]))


MODE_CHANGES = {
    "Dropout model.eval()": (lambda o: o["model"].eval(), lambda: nn.Dropout(0.5, rng=_rng(3))),
    "Dropout layer alone eval()": (lambda o: o["model"][1].eval(), lambda: nn.Dropout(0.5, rng=_rng(3))),
    "Dropout training = False": (lambda o: setattr(o["model"][1], "training", False), lambda: nn.Dropout(0.5, rng=_rng(3))),
    "BatchNorm eval()": (lambda o: o["model"].eval(), lambda: nn.BatchNorm1d(6)),
    "BatchNorm reset_running_stats()": (lambda o: o["model"][1].reset_running_stats(), lambda: nn.BatchNorm1d(6)),
}


@pytest.mark.parametrize("name", sorted(MODE_CHANGES))
def test_module_modes_changed_between_calls(name):
    change, middle = MODE_CHANGES[name]

    def model():
        return nn.Sequential(nn.Linear(4, 6, rng=0), middle(), nn.Linear(6, 3, rng=1))

    twin_run(maker(train, model=model), batches(count=8), between=at(4, change))


# ----- what cannot be replayed warns once and runs eagerly ------------------------------------------------
def _python_random(kind):
    def make():
        model = nn.Linear(4, 3, rng=0)
        opt = optim.SGD(model.parameters(), lr=0.1)
        python, numpy = random.Random(0), np.random.RandomState(0)

        def step(x, y):
            opt.zero_grad()
            scale = python.random() if kind == "random" else float(numpy.rand())
            loss = model(Tensor(x)).cross_entropy(y) * scale
            loss.backward()
            opt.step()
            return loss

        return step, {"model": model, "opt": opt}

    return make


def _counter_scale():
    def make():
        model = mlp()
        opt = optim.SGD(model.parameters(), lr=0.1)
        calls = [0]

        def step(x, y):
            calls[0] += 1
            opt.zero_grad()
            loss = model(Tensor(x)).cross_entropy(y) * (1.0 / calls[0])
            loss.backward()
            opt.step()
            return loss

        return step, {"model": model, "opt": opt}

    return make


def _reads(read):
    def body(model, opt, x, y):
        loss = train(model, opt, x, y)
        return read(loss)

    return maker(body)


def _saliency():
    def make():
        model = nn.Linear(4, 3, rng=0)

        def step(x, y):
            image = Tensor(x, requires_grad=True)
            model(image).cross_entropy(y).backward()
            return image.grad

        return step, {"model": model}

    return make


def _numpy_on_inputs(prepare):
    def body(model, opt, x, y):
        opt.zero_grad()
        x, y = prepare(x, y)
        loss = model(Tensor(x)).cross_entropy(y)
        loss.backward()
        opt.step()
        return loss

    return maker(body)


def _input_reader_op():
    class SquareReadingInputs(Function):  # (its backward reads the input's value through ctx.inputs)
        @staticmethod
        def forward(ctx, x):
            return x * x

        @staticmethod
        def backward(ctx, grad):
            return 2 * ctx.inputs[0].data * grad

    return SquareReadingInputs


UNSAFE = {
    "Python's random": (_python_random("random"), "two calls recorded different programs"),
    "np.random": (_python_random("numpy"), "two calls recorded different programs"),
    "a counter as a scale": (_counter_scale(), "two calls recorded different programs"),
    ".item()": (_reads(lambda loss: loss.item()), "item()"),
    "an f-string": (_reads(lambda loss: f"{loss}"), "format()"),
    "str()": (_reads(str), "repr()"),
    "x / 2 in NumPy": (_numpy_on_inputs(lambda x, y: (x / 2.0, y)), "changed between two calls"),
    "y.flatten() in NumPy": (_numpy_on_inputs(lambda x, y: (x, y.flatten())), "changed between two calls"),
    "a forward whose graph is returned": (maker(lambda m, o, x, y: m(Tensor(x)).cross_entropy(y)), "no backward()"),
}


@pytest.mark.parametrize("name", sorted(UNSAFE))
def test_what_cannot_be_replayed_warns_once_and_matches_eager(name):
    make, reason = UNSAFE[name]
    twin_run(make, batches(count=6), warning=reason)


def test_a_custom_backward_reading_ctx_inputs_warns():
    op = _input_reader_op()

    def body(model, opt, x, y):
        opt.zero_grad()
        loss = op.apply(model(Tensor(x))).cross_entropy(y)
        loss.backward()
        opt.step()
        return loss

    twin_run(maker(body), batches(count=6), warning=".data")


def test_a_forward_only_function_under_no_grad_replays():
    model = nn.Sequential(nn.Linear(4, 6, rng=0), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3, rng=1))
    model.eval()

    @jit
    def predict(x):
        with tinygrad_sm.no_grad():
            return model(Tensor(x)).softmax(axis=-1)

    with warnings.catch_warnings():
        warnings.simplefilter("error", JitWarning)
        for (x, _), _ in batches():
            with tinygrad_sm.no_grad():
                expected = model(Tensor(x)).softmax(axis=-1)
            assert snapshot(predict(x)) == snapshot(expected)
    assert predict.replaying


# ----- exceptions, nesting, custom ops ------------------------------------------------------------------
def test_an_out_of_range_class_on_a_replay_raises_as_eagerly():
    data = batches(count=6)
    (x, y), _ = data[4]
    y = y.copy()
    y[0] = 7
    eager, _ = maker(train)()
    step, _ = maker(train)()
    jitted = jit(step)
    for i, ((x_i, y_i), _) in enumerate(data):
        if i == 4:
            x_i, y_i = x, y
            with pytest.raises(IndexError) as expected:
                eager(x_i, y_i)
            with pytest.raises(IndexError) as got:
                jitted(x_i, y_i)
            assert str(got.value) == str(expected.value)
        else:
            assert snapshot(jitted(x_i, y_i)) == snapshot(eager(x_i, y_i))
    assert jitted.replaying


def test_an_exception_while_recording_leaves_nothing_patched_and_later_calls_replay():
    model = nn.Linear(4, 3, rng=0)
    opt = optim.SGD(model.parameters(), lr=0.1)
    calls = [0]
    item = Tensor.item

    @jit
    def step(x, y):
        calls[0] += 1
        opt.zero_grad()
        loss = model(Tensor(x)).cross_entropy(y)
        if calls[0] in (1, 3):
            raise RuntimeError("interrupted")
        loss.backward()
        opt.step()
        return loss

    for i, ((x, y), _) in enumerate(batches(count=7)):
        if i in (0, 2):
            with pytest.raises(RuntimeError, match="interrupted"):
                step(x, y)
            assert hooks.recorder is None and hooks.observer is None
            assert Tensor.item is item
        else:
            step(x, y)
    assert step.replaying


def _nested(compile_inner_first: bool):
    """An outer step that calls a jitted inner training step twice (compiled on its own first, or not)."""
    model = nn.Linear(4, 3, rng=0)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def inner(x, y):
        opt.zero_grad()
        loss = model(x).cross_entropy(y)
        loss.backward()
        opt.step()
        return loss

    inner = jit(inner)
    if compile_inner_first:
        for (x, y), _ in batches(count=3, seed=2):
            inner(Tensor(x), y)
        assert inner.replaying

    def outer(x, y):
        xt = Tensor(x)
        return inner(xt, y), inner(xt * 2.0, y)

    return outer, {"model": model, "opt": opt}


@pytest.mark.parametrize("compile_inner_first", [False, True])
def test_a_jitted_step_called_inside_another_jitted_function(compile_inner_first):
    twin_run(lambda: _nested(compile_inner_first), batches())


class _Cube(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 3 * x**2 * grad


class _CheckedScale(Function):
    """Its check validates and derives the factor once; forward and backward only compute."""

    @staticmethod
    def check(ctx, x, factor):
        if x.ndim != 2:
            raise ValueError(f"review_scale: expected a 2-d input, got shape {x.shape}")
        ctx.factor = float(factor)

    @staticmethod
    def forward(ctx, x, factor):
        return x * ctx.factor

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.factor, None


class _ScalarSum(Function):
    """A forward that returns a Python float (apply makes it an array)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return float(np.sum(x))

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return np.ones_like(x) * grad


CUSTOM = {
    "without check": ("review_cube", _Cube, lambda h: h.review_cube()),
    "with check": ("review_scale", _CheckedScale, lambda h: h.review_scale(0.5)),
    "a Python float forward": ("review_scalar_sum", _ScalarSum, lambda h: h + h.review_scalar_sum() * 0.01),
}


@pytest.mark.parametrize("name", sorted(CUSTOM))
def test_user_defined_ops(name, registry_cleanup):  # (registered for this test only: the fuzzer checks the registry)
    op_name, op, use = CUSTOM[name]
    register_op(op_name, op)

    def body(model, opt, x, y):
        opt.zero_grad()
        loss = use(model(Tensor(x))).cross_entropy(y)
        loss.backward()
        opt.step()
        return loss

    twin_run(maker(body), batches(count=8))


@pytest.mark.parametrize(
    "make",
    [_numpy_on_inputs(lambda x, y: (x[:, ::-1], y)), _saliency()],
    ids=["a NumPy view x[:, ::-1]", "an input made inside that requires grad"],
)
def test_views_of_inputs_and_leaves_made_inside_replay(make):
    twin_run(make, batches(count=6))


# ----- the review's reproducers, after the fixes --------------------------------------------------
# (each comment on a call says what a replay did before the fix; the assertions are what it does now)


# 1. NumPy work on an input inside the step becomes a constant; with equal first two calls it is frozen
def test_numpy_on_an_input_is_frozen_when_the_first_two_batches_are_equal():
    def body(model, opt, x, y):
        opt.zero_grad()
        loss = model(Tensor(x / 255.0)).cross_entropy(y.flatten())
        loss.backward()
        opt.step()
        return loss

    data = batches(count=7)
    data = [data[0], data[0], *data[1:]]  # e.g. "overfit one batch first", or a warm-up on one batch
    # (equal first two calls cannot tell a constant from NumPy on an input: a third call with other
    # values is recorded and compared, and the difference warns)
    twin_run(maker(body), data, warning="changed between two calls")


# 2. The same, inside the library: MultiheadAttention's key_padding_mask is combined with NumPy
def test_attention_padding_mask_is_frozen_when_the_first_two_batches_have_no_padding():
    def make():
        rng = np.random.default_rng
        emb, mha, head = (
            nn.Embedding(11, 8, rng=rng(0)),
            nn.MultiheadAttention(8, 2, batch_first=True, rng=rng(1)),
            nn.Linear(8, 3, rng=rng(2)),
        )
        opt = optim.SGD([*emb.parameters(), *mha.parameters(), *head.parameters()], lr=0.1)

        def step(tokens, pad, y):
            opt.zero_grad()
            h = emb(tokens)
            out, _ = mha(h, h, h, key_padding_mask=pad, need_weights=False)
            loss = head(out.mean(axis=1)).cross_entropy(y)
            loss.backward()
            opt.step()
            return loss

        return step, {"emb": emb, "mha": mha, "head": head}

    g = np.random.default_rng(0)
    data = []
    for i in range(7):
        t, pad = g.integers(1, 11, (4, 5)), np.zeros((4, 5), bool)
        if i >= 2:  # the first two batches happen to need no padding
            pad[:, 3:], t[:, 3:] = True, 0
        data.append(((t, pad, g.integers(0, 3, 4)), {}))
    twin_run(make, data, warning="key_padding_mask")  # (a mask made with NumPy: eagerly)


# 3. Random draws in library code (Categorical.sample): frozen when the first two draws agree
def test_a_sampled_action_is_frozen_when_the_first_two_samples_agree():
    def make():
        policy = nn.Linear(3, 2, rng=0)
        opt = optim.SGD(policy.parameters(), lr=0.1)
        gen = np.random.default_rng(0)

        def step(obs, reward):
            opt.zero_grad()
            dist = Categorical(logits=policy(Tensor(obs)))
            action = dist.sample(rng=gen)
            loss = -(dist.log_prob(action) * reward).sum()
            loss.backward()
            opt.step()
            return action, loss

        return step, {"policy": policy}

    g = np.random.default_rng(0)
    twin_run(make, [((g.standard_normal((1, 3)).astype(np.float32), 1.0), {}) for _ in range(8)], warning="Categorical.sample")
    # eager actions 1 1 1 1 0 0 1 0, jit 1 1 1 1 1 1 1 1 (no warning)


# 4. An input array changed in place inside the step: not replayed, no warning
def test_an_input_normalised_in_place_inside_the_step():
    def make():
        model = nn.Linear(4, 3, rng=0)
        opt = optim.SGD(model.parameters(), lr=0.1)

        def step(x, y):
            x /= 2.0
            return train(model, opt, x, y)

        return step, model

    (eager, _m1), (step, _m2) = make(), make()
    jitted = jit(step)
    for (x, y), _ in batches(count=6):
        assert np.array_equal(eager(x.copy(), y).data, jitted(x.copy(), y).data)  # call 2: 1.0406 vs 1.0606


# 5. requires_grad changed between calls (freeze / unfreeze for fine-tuning) is ignored
@pytest.mark.parametrize("frozen_first", [False, True])
def test_freezing_or_unfreezing_a_layer_between_calls(frozen_first):
    def model():
        net = mlp()
        net[0].requires_grad_(not frozen_first) if frozen_first else None
        return net

    twin_run(
        maker(train, model=model, optimizer=lambda p: optim.SGD(p, lr=0.1)),
        batches(count=8),
        between=at(4, lambda o: o["model"][0].requires_grad_(frozen_first)),
    )
    # frozen at call 4: the replay still updates model.0.weight; unfrozen at 4: the replay never trains it


# 6. Objects replaced between calls: the record keeps the old ones
def test_a_parameter_replaced_between_calls():
    twin_run(
        maker(train),
        batches(count=8),
        between=at(4, lambda o: setattr(o["model"][2], "bias", Tensor(np.ones(3, np.float32), requires_grad=True))),
    )


def test_globals_rebound_between_calls():
    global model, opt
    model, opt = nn.Linear(4, 3, rng=0), None
    opt = optim.SGD(model.parameters(), lr=0.1)

    def train_step(x, y):
        return train(model, opt, x, y)

    step = jit(train_step)
    for (x, y), _ in batches(count=4):
        step(x, y)
    model = nn.Linear(4, 3, rng=1)  # "start again": a new model and optimiser under the same names
    opt = optim.SGD(model.parameters(), lr=0.1)
    before = model.weight.data.copy()
    (x, y), _ = batches(count=5)[4]
    step(x, y)
    assert not np.array_equal(model.weight.data, before)  # (before the fix: the replay trained the old model)


def test_a_dropped_grad_read_inside_the_step():
    def body(m, o, x, y):
        o.zero_grad(set_to_none=False)
        loss = m(Tensor(x)).cross_entropy(y)
        loss.backward()
        norm = sum((p.grad * p.grad).sum() for p in m.parameters())
        o.step()
        return loss, norm

    twin_run(maker(body), batches(count=8), between=at(4, lambda o: o["model"].zero_grad()))
    # call 4: the norm is read from the .grad tensors zero_grad() dropped (0.2286 vs 0.1452)


# 7. Module attributes read as constants are not guarded
@pytest.mark.parametrize("change", ["dropout p", "batchnorm momentum", "batchnorm eps", "leaky slope"])
def test_module_attributes_changed_between_calls(change):
    middle = {"dropout p": lambda: nn.Dropout(0.5, rng=np.random.default_rng(3)), "leaky slope": lambda: nn.LeakyReLU(0.1)}.get(
        change, lambda: nn.BatchNorm1d(6)
    )
    attribute, value = {
        "dropout p": ("p", 0.1),
        "batchnorm momentum": ("momentum", 0.5),
        "batchnorm eps": ("eps", 0.5),
        "leaky slope": ("negative_slope", 0.5),
    }[change]
    twin_run(
        maker(train, model=lambda: nn.Sequential(nn.Linear(4, 6, rng=0), middle(), nn.Linear(6, 3, rng=1))),
        batches(count=8),
        between=at(4, lambda o: setattr(o["model"][1], attribute, value)),
    )


# 9. Every value of a non-Tensor argument keeps a record: memory grows without bound, no warning
def test_a_float_argument_that_changes_every_call_does_not_grow_memory():
    model = nn.Sequential(nn.Linear(64, 128, rng=0), nn.ReLU(), nn.Linear(128, 10, rng=1))
    opt = optim.SGD(model.parameters(), lr=0.1)

    @jit
    def step(x, y, scale):
        opt.zero_grad()
        loss = model(Tensor(x)).cross_entropy(y) * scale
        loss.backward()
        opt.step()
        return loss

    g = np.random.default_rng(0)
    x, y = g.standard_normal((256, 64)).astype(np.float32), g.integers(0, 10, 256)
    for i in range(10):
        step(x, y, 1.0 + i)
    gc.collect()
    tracemalloc.start()
    for i in range(100):
        step(x, y, 100.0 + i)
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert grown < 1_000_000, grown  # ~35 MB per 100 calls (one record per value), no JitWarning


# 10. Hyper-parameter and data checks of the eager step are skipped on a replay
def test_an_invalid_learning_rate_set_between_calls_raises_as_eagerly():
    eager, eager_objects = maker(train)()
    step, objects = maker(train)()
    jitted = jit(step)
    for (x, y), _ in batches(count=3):
        eager(x, y), jitted(x, y)
    eager_objects["opt"].param_groups[0]["lr"] = objects["opt"].param_groups[0]["lr"] = -1.0
    (x, y), _ = batches(count=4)[3]
    with pytest.raises(ValueError, match="invalid learning rate"):
        eager(x, y)
    with pytest.raises(ValueError, match="invalid learning rate"):
        jitted(x, y)  # the replay updates with lr = -1


def test_a_parameter_of_another_shape_between_calls_raises_the_eager_error():
    eager, eager_objects = maker(train)()
    step, objects = maker(train)()
    jitted = jit(step)
    for (x, y), _ in batches(count=3):
        eager(x, y), jitted(x, y)
    for o in (eager_objects, objects):
        o["model"][0].bias.data = np.zeros(1, np.float32)
    (x, y), _ = batches(count=4)[3]
    with pytest.raises(ValueError, match="linear: bias must have shape"):
        jitted(x, y)  # NumPy's "non-broadcastable output operand with shape (1,) ..."


# 11. requires_grad_() on an input inside the step is not replayed
def test_requires_grad_set_on_an_input_inside_the_step():
    model = nn.Linear(4, 3, rng=0)

    @jit
    def saliency(x, y):
        x.requires_grad_()
        model(x).cross_entropy(y).backward()
        return x.grad

    for (x, y), _ in batches(count=4):
        t = Tensor(x)
        saliency(t, y)
        assert t.requires_grad  # False on a replay (t.grad is set all the same)


# 12. Tensor(x) of an input is not copied on a replay: the result aliases the caller's array
def test_tensor_of_an_input_is_a_copy_on_a_replay_too():
    @jit
    def f(x):
        return Tensor(x) * 1.0, Tensor(x)

    buffer = np.zeros((2, 4), np.float32)
    kept = []
    for i in range(5):
        buffer[...] = i  # a loader refilling one buffer
        kept.append(f(buffer)[1])
    assert [t.data[0, 0] for t in kept] == [0, 1, 2, 3, 4]  # replays: 4, 4, 4


# 13. A custom op's ctx is reused from call to call on a replay (a fresh one per call eagerly)
class MaybeScale(Function):
    @staticmethod
    def forward(ctx, x):
        if (x > 1).any():
            ctx.big = True
        return x * 1.0

    @staticmethod
    def backward(ctx, grad):
        return grad * (2.0 if getattr(ctx, "big", False) else 1.0)


def test_a_custom_op_sees_a_fresh_ctx_on_every_replay():
    def body(m, o, x, y):
        o.zero_grad()
        loss = MaybeScale.apply(m(Tensor(x))).cross_entropy(y)
        loss.backward()
        o.step()
        return loss

    twin_run(maker(body, model=lambda: nn.Linear(4, 3, rng=0), optimizer=lambda p: optim.SGD(p, lr=0.1)), batches(count=8))


# 14. @jit on a method
def test_jit_as_a_method_decorator():
    class Trainer:
        def __init__(self):
            self.model = nn.Linear(4, 3, rng=0)
            self.opt = optim.SGD(self.model.parameters(), lr=0.1)

        @jit
        def step(self, x, y):
            return train(self.model, self.opt, x, y)

    (x, y), _ = batches(count=1)[0]
    Trainer().step(x, y)  # TypeError: Trainer.step() missing 1 required positional argument: 'y'


# 15. False alarms before the fix (correct but eager, with a misleading reason): now replayed
def test_returning_attention_weights_or_probabilities_replays():
    def body(m, o, x, y):
        o.zero_grad()
        out = m(Tensor(x))
        loss = out.cross_entropy(y)
        loss.backward()
        o.step()
        return loss, out.softmax(axis=1)  # a backward outside would fail eagerly too (graph freed)

    twin_run(maker(body), batches())


def test_accuracy_by_astype_replays():
    def body(m, o, x, y):
        loss = train(m, o, x, y)
        return loss, (m(Tensor(x)).argmax(axis=1) == y).astype(np.float32).mean()

    twin_run(maker(body), batches())  # warns "two calls used different tensors from outside (P..)"


def test_micro_batches_sliced_from_the_input_array_replay():
    def body(m, o, x, y):
        for i in range(2):
            (m(Tensor(x[i::2])).cross_entropy(y[i::2]) / 2).backward()
        o.step()
        o.zero_grad()

    twin_run(maker(body), batches())  # warns "an array made inside the function changed"


def test_attention_with_a_padding_mask_runs_eagerly():
    def make():
        rng = np.random.default_rng
        emb, mha = nn.Embedding(11, 8, rng=rng(0)), nn.MultiheadAttention(8, 2, batch_first=True, rng=rng(1))
        opt = optim.SGD([*emb.parameters(), *mha.parameters()], lr=0.1)

        def step(tokens, pad):
            opt.zero_grad()
            h = emb(tokens)
            out, _ = mha(h, h, h, key_padding_mask=pad, need_weights=False)
            loss = (out**2).mean()
            loss.backward()
            opt.step()
            return loss

        return step, {"emb": emb, "mha": mha}

    g = np.random.default_rng(0)
    twin_run(make, [((g.integers(0, 11, (4, 5)), g.random((4, 5)) < 0.3), {}) for _ in range(7)], warning="key_padding_mask")
