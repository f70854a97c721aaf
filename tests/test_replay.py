"""tinygrad_sm.jit: a replay computes what the eager call computes, bit for bit; what it cannot
replay warns once and runs eagerly."""

from __future__ import annotations

import gc
import importlib.util
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest

import tinygrad_sm
from tinygrad_sm import JitWarning, Tensor, jit, nn, optim
from tinygrad_sm.nn import functional as F  # noqa: N812 - the usual name

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _example(name: str):
    spec = importlib.util.spec_from_file_location(f"_jit_example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mlp_step(sizes=(4, 16, 3), optimizer="sgd", schedule=False):
    model = nn.MLP(list(sizes), rng=0)
    if optimizer == "sgd":
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    else:
        opt = optim.AdamW(model.parameters(), lr=0.01)
    scheduler = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5) if schedule else None
    return model, training_step(model, opt, scheduler)


def training_step(model, opt, scheduler=None):
    """zero_grad, forward, mean cross-entropy, backward, the optimiser's step (and the schedule's)."""

    def step(x, y):
        opt.zero_grad()
        loss = model(Tensor(x)).cross_entropy(y)
        loss.backward()
        opt.step()
        if scheduler is not None:
            scheduler.step()
        return loss

    return step


def batches(shape=(8, 4), classes=3, count=5, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(shape).astype(np.float32), rng.integers(0, classes, shape[0])) for _ in range(count)]


def assert_same_run(make, data, calls=12):
    """The same steps, eagerly and jitted, from the same start: identical losses and parameters."""
    eager_model, eager = make()
    jit_model, step = make()
    jitted = jit(step)
    with warnings.catch_warnings():
        warnings.simplefilter("error", JitWarning)
        for i in range(calls):
            args = data[i % len(data)]
            expected, got = eager(*args), jitted(*args)
            assert np.array_equal(np.asarray(expected.data), np.asarray(got.data)), i
    assert jitted.replaying
    for (name, a), (_, b) in zip(eager_model.state_dict().items(), jit_model.state_dict().items(), strict=True):
        assert np.array_equal(a, b), name
    for a, b in zip(eager_model.parameters(), jit_model.parameters(), strict=True):
        assert np.array_equal(a.grad.data, b.grad.data)
    return jitted


# ----- replay equals eager ----------------------------------------------------------------------
@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_mlp_step_replays_bit_identically(optimizer):
    assert_same_run(lambda: mlp_step(optimizer=optimizer), batches())


def test_a_learning_rate_schedule_inside_the_step_keeps_working():
    jitted = assert_same_run(lambda: mlp_step(schedule=True), batches())
    assert "step" in str(jitted)


def test_tensor_arguments_and_a_returned_tuple():
    def make():
        model = nn.Linear(3, 2, rng=0)
        opt = optim.SGD(model.parameters(), lr=0.1)

        def step(x, y):
            opt.zero_grad()
            out = model(x)
            loss = ((out - y) ** 2).mean()
            loss.backward()
            opt.step()
            return loss, out

        return model, step

    (model, step), (twin, twin_step) = make(), make()
    jitted = jit(step)
    rng = np.random.default_rng(1)
    for _ in range(5):
        x, y = Tensor(rng.standard_normal((4, 3))), Tensor(rng.standard_normal((4, 2)))
        (loss, out), (eager_loss, eager_out) = jitted(x, y), twin_step(x, y)
        assert np.array_equal(loss.data, eager_loss.data)
        assert np.array_equal(out.data, eager_out.data)
    assert jitted.replaying
    assert np.array_equal(model.weight.data, twin.weight.data)


def test_gradients_accumulate_without_zero_grad_as_eagerly():
    def make():
        w = Tensor(np.arange(3.0), requires_grad=True)

        def step(x):
            (w * x).sum().backward()
            return w.grad

        return w, step

    w1, eager = make()
    w2, step = make()
    jitted = jit(step)
    for i in range(5):
        x = Tensor(np.full(3, float(i)))
        eager(x)
        jitted(x)
        assert np.array_equal(w1.grad.data, w2.grad.data)
    assert jitted.replaying


def test_an_input_that_requires_grad_gets_its_gradient_on_every_replay():
    @jit
    def grad_of_square(x):
        (x * x).sum().backward()

    for i in range(4):
        x = Tensor(np.full(3, float(i)), requires_grad=True)
        grad_of_square(x)
        assert np.array_equal(x.grad.data, 2 * x.data)
    assert grad_of_square.replaying


def test_cnn_step_replays_bit_identically():
    cnn = _example("train_cnn")

    def make():
        model = cnn.small_cnn(8, (4, 6), np.random.default_rng(0))
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(model(Tensor(x)), y)
            loss.backward()
            opt.step()
            return loss

        return model, step

    rng = np.random.default_rng(0)
    data = [(rng.standard_normal((6, 1, 8, 8)).astype(np.float32), rng.integers(0, 10, 6)) for _ in range(3)]
    assert_same_run(make, data, calls=6)


def test_char_transformer_step_replays_bit_identically():
    example = _example("char_transformer")

    def make():  # (the example's own step: train(), loss, zero_grad, backward, clipping, AdamW, schedule)
        model = example.CharTransformer(6, 16, 2, 1, np.random.default_rng(0))
        opt = optim.AdamW(model.parameters(), lr=1e-2)
        schedule = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
        return model, example.make_train_step(model, opt, schedule)

    rng = np.random.default_rng(0)
    data = [(rng.integers(0, 27, (5, 6)), rng.integers(0, 27, (5, 6))) for _ in range(3)]
    assert_same_run(make, data, calls=6)


def test_dropout_draws_a_new_mask_on_every_replay():
    def make():
        generator = np.random.default_rng(7)  # (the same masks for both runs)
        model = nn.Sequential(nn.Linear(4, 8, rng=0), nn.Dropout(0.5, rng=generator), nn.Linear(8, 3, rng=1))
        return model, training_step(model, optim.SGD(model.parameters(), lr=0.1))

    jitted = assert_same_run(make, batches(), calls=8)
    assert "_dropout_scale" in jitted.source


def test_batch_norm_counts_its_batches_on_replays():
    def make():
        model = nn.Sequential(nn.Linear(4, 6, rng=0), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3, rng=1))
        return model, training_step(model, optim.SGD(model.parameters(), lr=0.1))

    assert_same_run(make, batches(), calls=7)  # (state_dict holds num_batches_tracked and the running stats)


def test_switching_a_module_to_eval_records_again():
    model = nn.Sequential(nn.Linear(4, 6, rng=0), nn.Dropout(0.5), nn.Linear(6, 3, rng=1))

    @jit
    def forward(x):
        return model(Tensor(x))

    data = [batch[0] for batch in batches()]
    with tinygrad_sm.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("error", JitWarning)
        model.eval()
        for x in data:
            assert np.array_equal(forward(x).data, model(Tensor(x)).data)
        assert forward.replaying
        model.train()
        forward(data[0])  # (a new record: the Dropout's mode is another)
        assert not forward.replaying
        model.eval()
        for x in data:
            assert np.array_equal(forward(x).data, model(Tensor(x)).data)
        assert forward.replaying


def test_new_shapes_dtypes_and_settings_record_again():
    calls = []

    @jit
    def scaled(x, factor):
        calls.append(1)
        return x * factor

    a = Tensor(np.ones((2, 3), np.float32))
    for _ in range(3):
        scaled(a, 2.0)
    assert len(calls) == 2  # recorded, recorded again and compared, then replayed
    assert np.array_equal(scaled(Tensor(np.ones((4,), np.float32)), 2.0).data, np.full(4, 2.0))
    assert scaled(Tensor(np.ones(2, np.float64)), 2.0).dtype == np.float64
    assert np.array_equal(scaled(a, 3.0).data, np.full((2, 3), 3.0))
    assert len(calls) == 5


# ----- what cannot be replayed warns once and runs eagerly ---------------------------------------
def _unsafe_cases():
    w = Tensor(np.ones(3), requires_grad=True)

    def item(x):
        loss = (w * x).sum()
        return loss.item()

    def float_of(x):
        return float((w * x).sum())

    def branch(x):
        y = (w * x).sum()
        return y * 2 if y > 0 else y

    def numpy_read(x):
        return Tensor((w * x).numpy() + 1)

    def retain(x):
        loss = (w * x).sum()
        loss.backward(retain_graph=True)
        return loss

    def create(x):
        loss = (w * w * x).sum()
        loss.backward(create_graph=True)
        return loss

    def grad_call(x):
        return tinygrad_sm.grad((w * x).sum(), w)[0]

    def random_constant(x):
        return (w * x * Tensor(np.random.default_rng().standard_normal(3))).detach()

    def data_read(x):
        return Tensor((w * x).data * 2)

    return {
        "item": (item, "item()"),
        "float": (float_of, "float()"),
        "bool": (branch, "bool()"),
        "numpy": (numpy_read, "numpy()"),
        "retain_graph": (retain, "retain_graph"),
        "create_graph": (create, "create_graph"),
        "grad": (grad_call, "tinygrad_sm.grad"),
        "random": (random_constant, "changed between two calls"),
        "data": (data_read, ".data"),
    }


@pytest.mark.parametrize("case", sorted(_unsafe_cases()))
def test_an_unsafe_function_warns_once_naming_the_line_and_runs_eagerly(case):
    fn, reason = _unsafe_cases()[case]
    runs = []

    def counted(x):
        runs.append(1)
        return fn(x)

    jitted = jit(counted)
    with pytest.warns(JitWarning) as caught:
        for i in range(4):
            x = Tensor(np.full(3, float(i + 1)))
            jitted(x)
    messages = [str(w.message) for w in caught if issubclass(w.category, JitWarning)]
    assert len(messages) == 1, messages
    assert reason in messages[0]
    if case != "random":  # (found by comparing two calls: no single line to name)
        assert "test_replay.py:" in messages[0]
    assert len(runs) == 4  # every call ran the function
    assert not jitted.replaying


def test_anomaly_detection_runs_eagerly_with_a_warning():
    jitted = jit(lambda x: x * 2)
    with tinygrad_sm.detect_anomaly(), pytest.warns(JitWarning, match="anomaly"):
        for _ in range(3):
            jitted(Tensor([1.0]))


def test_a_closure_step_is_not_replayed():
    model = nn.Linear(2, 1, rng=0)
    opt = optim.SGD(model.parameters(), lr=0.1)

    def step(x):
        def closure():
            opt.zero_grad()
            loss = model(x).sum()
            loss.backward()
            return loss

        return opt.step(closure)

    jitted = jit(step)
    with pytest.warns(JitWarning, match="arguments"):
        for _ in range(3):
            jitted(Tensor(np.ones((3, 2))))


# ----- looking at the record ----------------------------------------------------------------------
def test_print_lists_the_program_and_source_is_numpy():
    _, step = mlp_step()
    jitted = jit(step)
    assert "not called yet" in str(jitted)
    for x, y in batches()[:3]:
        jitted(x, y)
    listing = str(jitted)
    body = listing.split("\n", 1)[1]
    assert body.index("linear") < body.index("cross_entropy") < body.index("backward of")
    assert "Optimizer.zero_grad" in listing and "test_replay.py" in listing
    source = jitted.source
    assert source.startswith("def replay(inputs):")
    assert "Linear.forward(c0, x0" in source  # (each op's own forward, on the arrays)
    assert "Tensor(" not in source  # no Tensors: arrays and the ops' own forward/backward


def test_a_replayed_step_does_not_grow_memory():
    _, step = mlp_step(sizes=(16, 32, 4))
    jitted = jit(step)
    data = batches(shape=(32, 16), classes=4)
    for i in range(20):
        jitted(*data[i % 5])
    tracemalloc.start()
    try:
        for i in range(50):
            jitted(*data[i % 5])
        gc.collect()  # (a full collection also empties CPython's free lists, which tracemalloc counts)
        first, _ = tracemalloc.get_traced_memory()
        for i in range(1000):
            jitted(*data[i % 5])
        gc.collect()
        last, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert last - first < 2_000, (first, last)


def test_jit_refuses_what_is_not_callable():
    with pytest.raises(TypeError, match="jit: expected a function"):
        jit(3)


def test_clearing_a_gradient_inside_the_function_is_replayed():
    z = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    g = Tensor(np.ones((2, 3)))

    @jit
    def softmax_grad():
        z.grad = None
        z.softmax(axis=-1).backward(g * 2)
        return z.grad

    first = softmax_grad().data.copy()
    for _ in range(4):
        assert np.array_equal(softmax_grad().data, first)
    assert softmax_grad.replaying
    z.zero_grad()

    @jit
    def with_zero_grad():
        z.zero_grad()
        (z * z).sum().backward()

    for _ in range(4):
        with_zero_grad()
        assert np.array_equal(z.grad.data, 2 * z.data)
    assert with_zero_grad.replaying


def test_returning_an_inputs_gradient():
    @jit
    def grad_of_cube(x):
        (x * x * x).sum().backward()
        return x.grad

    for i in range(4):
        x = Tensor(np.full(2, float(i)), requires_grad=True)
        assert np.array_equal(grad_of_cube(x).data, 3 * x.data**2)
    assert grad_of_cube.replaying


def test_a_returned_tensor_that_needs_its_graph_runs_eagerly():
    model = nn.Linear(3, 2, rng=0)
    forward = jit(lambda x: model(x))
    with pytest.warns(JitWarning, match="no backward"):
        for _ in range(3):
            out = forward(Tensor(np.ones((4, 3))))
            out.sum().backward()  # (needs the graph: eagerly, it is there)
    assert model.weight.grad is not None
    with tinygrad_sm.no_grad():  # (no graph wanted: replayed)
        inference = jit(lambda x: model(x))
        for _ in range(3):
            inference(Tensor(np.ones((4, 3))))
    assert inference.replaying


def test_broadcast_and_promoted_gradients_are_fitted_on_a_replay_as_eagerly():
    def make():
        w = Tensor(np.ones(3), requires_grad=True)  # (float64, broadcast over the rows)
        b = Tensor(np.ones((), np.float32), requires_grad=True)  # (float32, promoted)

        def step(x):
            w.grad = b.grad = None
            ((w * x + b) ** 2).sum().backward()

        return w, b, step

    w1, b1, eager = make()
    w2, b2, step = make()
    jitted = jit(step)
    for i in range(5):
        x = Tensor(np.random.default_rng(i).standard_normal((4, 3)))
        eager(x)
        jitted(x)
        assert np.array_equal(w1.grad.data, w2.grad.data) and w2.grad.shape == (3,)
        assert np.array_equal(b1.grad.data, b2.grad.data) and b2.grad.dtype == np.float32
    assert jitted.replaying
