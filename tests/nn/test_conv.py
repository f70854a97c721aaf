"""Conv1d, Conv2d and the pools (MaxPool1d/2d, AvgPool1d/2d, the adaptive ones): PyTorch's parameters, init, outputs and
gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
from nn_parity import assert_matches_torch, same_layout

from tinygrad_sm import Tensor, nn

torch = pytest.importorskip("torch")


def random(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize(
    "arguments",
    [
        dict(in_channels=3, out_channels=4, kernel_size=3),
        dict(in_channels=4, out_channels=6, kernel_size=(3, 2), stride=2, padding=1, dilation=(1, 2), groups=2),
        dict(in_channels=2, out_channels=2, kernel_size=3, padding="same", bias=False),
        dict(in_channels=2, out_channels=4, kernel_size=2, padding="valid", groups=2),
    ],
)
def test_conv2d_matches_pytorch(arguments):
    assert_matches_torch(nn.Conv2d(**arguments, rng=0), torch.nn.Conv2d(**arguments), [random(2, arguments["in_channels"], 7, 6)])


@pytest.mark.parametrize(
    "arguments",
    [
        dict(in_channels=3, out_channels=4, kernel_size=3),
        dict(in_channels=4, out_channels=2, kernel_size=2, stride=2, padding=2, dilation=2, groups=2, bias=False),
        dict(in_channels=2, out_channels=3, kernel_size=4, padding="same"),
    ],
)
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
def test_conv1d_matches_pytorch(arguments):
    assert_matches_torch(nn.Conv1d(**arguments, rng=0), torch.nn.Conv1d(**arguments), [random(2, arguments["in_channels"], 9)])


def test_conv_init_is_kaiming_uniform_with_a_sqrt5_and_reproducible():
    layer = nn.Conv2d(8, 16, 3, groups=2, rng=0)
    bound = 1 / math.sqrt(8 // 2 * 3 * 3)
    for parameter in (layer.weight, layer.bias):
        assert parameter.dtype == np.float32 and parameter.requires_grad and np.abs(parameter.numpy()).max() <= bound
    assert np.abs(layer.weight.numpy()).max() > 0.95 * bound
    assert abs(layer.weight.numpy().std() - bound / math.sqrt(3)) < 0.1 * bound  # U(-b, b) has std b/√3
    np.testing.assert_array_equal(nn.Conv2d(8, 16, 3, groups=2, rng=0).weight.numpy(), layer.weight.numpy())
    assert layer.weight.shape == (16, 4, 3, 3) and layer.stride == (1, 1) and layer.padding == (0, 0)
    assert nn.Conv1d(2, 3, 5, bias=False, rng=0).bias is None


def test_conv_argument_errors():
    with pytest.raises(ValueError, match=r"Conv2d: in_channels \(3\) must be divisible by groups \(2\)"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match=r"Conv2d: out_channels \(3\) must be divisible by groups \(2\)"):
        nn.Conv2d(4, 3, 3, groups=2)
    with pytest.raises(ValueError, match="padding_mode must be 'zeros', 'reflect', 'replicate' or 'circular', got 'mirror'"):
        nn.Conv2d(1, 1, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="padding='same' is not supported for strided"):
        nn.Conv1d(1, 1, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match=r"Conv2d: kernel_size must be an int >= 1 or 2 of them, got \(3, 3, 3\)"):
        nn.Conv2d(1, 1, (3, 3, 3))
    with pytest.raises(ValueError, match=r"Conv2d: kernel_size must be an int >= 1 or 2 of them, got 3.0"):
        nn.Conv2d(1, 1, 3.0)
    with pytest.raises(ValueError, match="padding must be 'same', 'valid'"):
        nn.Conv2d(1, 1, 3, padding="full")
    with pytest.raises(ValueError, match="out_channels must be a positive integer"):
        nn.Conv1d(1, 0, 3)
    with pytest.raises(ValueError, match="channels"):  # the op names the mismatch
        nn.Conv2d(3, 4, 3, rng=0)(Tensor(random(1, 2, 5, 5)))


@pytest.mark.parametrize(
    "arguments",
    [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=(3, 2), stride=(1, 2), padding=(1, 0))],
)
@pytest.mark.parametrize("kind", ["MaxPool2d", "AvgPool2d"])
def test_pooling_matches_pytorch(kind, arguments):
    x = np.random.default_rng(0).permutation(2 * 3 * 7 * 6).reshape(2, 3, 7, 6).astype(np.float32) / 10  # no ties
    assert_matches_torch(getattr(nn, kind)(**arguments), getattr(torch.nn, kind)(**arguments), [x])


def test_pooling_has_no_parameters_and_checks_padding():
    pool = nn.MaxPool2d(3)
    assert pool.stride == 3 and list(pool.parameters()) == [] and pool.state_dict() == {}  # as given, as PyTorch
    same_layout(pool, torch.nn.MaxPool2d(3))
    with pytest.raises(ValueError, match="AvgPool2d: padding .* must be at most half the kernel size"):
        nn.AvgPool2d(2, padding=2)


def test_a_small_convnet_state_dict_moves_both_ways():
    ours = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, rng=0), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 3 * 3, 5, rng=1)
    )
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(36, 5)
    )
    assert_matches_torch(ours, theirs, [random(3, 1, 6, 6)])


@pytest.mark.parametrize(
    ("ours", "theirs", "shape"),
    [
        (
            lambda: nn.Conv2d(4, 2, 3, stride=2, padding=1, groups=2, rng=0),
            lambda: torch.nn.Conv2d(4, 2, 3, stride=2, padding=1, groups=2),
            (2, 4, 5, 5),
        ),
        (lambda: nn.Conv1d(2, 3, 3, dilation=2, rng=0), lambda: torch.nn.Conv1d(2, 3, 3, dilation=2), (2, 2, 7)),
        (lambda: nn.MaxPool2d(2), lambda: torch.nn.MaxPool2d(2), (1, 2, 4, 4)),
        (lambda: nn.AvgPool2d(3, stride=2, padding=1), lambda: torch.nn.AvgPool2d(3, stride=2, padding=1), (1, 2, 5, 5)),
    ],
    ids=["conv2d", "conv1d", "max_pool2d", "avg_pool2d"],
)
def test_second_derivatives_match_pytorch(ours, theirs, shape):
    from nn_parity import assert_second_derivatives_match_torch

    x = np.random.default_rng(0).permutation(math.prod(shape)).reshape(shape) / 10  # no ties for max_pool2d
    assert_second_derivatives_match_torch(ours, theirs(), [x])


# ----- padding modes, reprs and the pools' other arguments, as PyTorch --------------------------
PADDED = [
    ("Conv2d", dict(kernel_size=3, padding=1), (2, 4, 6, 5)),
    ("Conv2d", dict(kernel_size=(2, 3), padding="same", dilation=2), (2, 4, 6, 5)),
    ("Conv2d", dict(kernel_size=3, padding=(2, 1), stride=2, groups=2), (4, 6, 5)),  # unbatched
    ("Conv1d", dict(kernel_size=4, padding="same"), (2, 4, 7)),
    ("Conv1d", dict(kernel_size=3, padding=2, dilation=2), (2, 4, 7)),
]


@pytest.mark.parametrize("padding_mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize(("kind", "arguments", "shape"), PADDED)
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
def test_padding_modes_match_pytorch(padding_mode, kind, arguments, shape):
    from nn_parity import assert_second_derivatives_match_torch

    ours = getattr(nn, kind)(4, 6, padding_mode=padding_mode, **arguments, rng=0)
    theirs = getattr(torch.nn, kind)(4, 6, padding_mode=padding_mode, **arguments)
    assert repr(ours) == repr(theirs)
    assert_matches_torch(ours, theirs, [random(*shape)])
    make_ours = lambda: getattr(nn, kind)(4, 6, padding_mode=padding_mode, **arguments, rng=0)  # noqa: E731
    assert_second_derivatives_match_torch(make_ours, theirs, [random(*shape, seed=1)])


def test_padding_modes_check_the_padding_as_pytorch():
    with pytest.raises(ValueError, match="Conv1d: padding_mode='reflect' needs a padding of at most 2 on an axis of size 3"):
        nn.Conv1d(1, 1, 3, padding=3, padding_mode="reflect", rng=0)(Tensor(random(1, 1, 3)))
    with pytest.raises(ValueError, match="Conv2d: padding_mode='circular' needs a padding of at most 3 on an axis of size 3"):
        nn.Conv2d(1, 1, 3, padding=(0, 4), padding_mode="circular", rng=0)(Tensor(random(1, 1, 5, 3)))
    nn.Conv1d(1, 1, 3, padding=3, padding_mode="circular", rng=0)(Tensor(random(1, 1, 3)))  # at most once around


@pytest.mark.parametrize(
    "make",
    [
        lambda nn: nn.Conv2d(4, 8, 3, padding="same", dilation=2, groups=2),
        lambda nn: nn.Conv1d(3, 6, 3, padding="valid", bias=False),
        lambda nn: nn.Conv2d(3, 6, 3, padding=1, padding_mode="circular"),
        lambda nn: nn.MaxPool2d(2),
        lambda nn: nn.MaxPool2d((3, 2), stride=[2, 1], padding=1, dilation=2, ceil_mode=True),
        lambda nn: nn.AvgPool2d(3, 2, 1, True, False, 4),
        lambda nn: nn.AvgPool2d((3,), (2,), (1,)),
        lambda nn: nn.MaxPool2d(2, ()),  # () is the default stride, kept as given
    ],
)
def test_reprs_and_attributes_are_pytorch_s(make):
    ours, theirs = make(nn), make(torch.nn)
    assert repr(ours) == repr(theirs)
    for name in ("kernel_size", "stride", "padding", "dilation", "groups", "padding_mode", "ceil_mode", "return_indices",
                 "count_include_pad", "divisor_override"):  # fmt: skip
        if hasattr(theirs, name):
            assert getattr(ours, name) == getattr(theirs, name), name


@pytest.mark.parametrize(
    ("kind", "arguments"),
    [
        ("MaxPool2d", (3, 2, 1, 2, False, True)),  # dilation, ceil_mode
        ("MaxPool2d", ((3,), (2,), (1,))),
        ("AvgPool2d", (3, 2, 1, True, False)),  # ceil_mode, count_include_pad=False
        ("AvgPool2d", (3, None, 1, False, True, 4)),  # divisor_override
    ],
)
def test_pools_take_pytorch_s_other_arguments(kind, arguments):
    x = np.random.default_rng(0).permutation(2 * 3 * 9 * 8).reshape(2, 3, 9, 8).astype(np.float32) / 10  # no ties
    assert_matches_torch(getattr(nn, kind)(*arguments), getattr(torch.nn, kind)(*arguments), [x])


def test_max_pool2d_module_returns_indices():
    x = random(2, 3, 7, 6)
    out, indices = nn.MaxPool2d(3, 2, 1, return_indices=True)(Tensor(x))
    expected, expected_indices = torch.nn.MaxPool2d(3, 2, 1, return_indices=True)(torch.tensor(x))
    np.testing.assert_array_equal(out.data, expected.numpy())
    np.testing.assert_array_equal(indices.data, expected_indices.numpy())


# ----- the 1-d and the adaptive pools ---------------------------------------------------------------
NEW_POOLS = [  # (module, its arguments, the input shape)
    ("MaxPool1d", (3,), (2, 3, 9)),
    ("MaxPool1d", (3, 2, 1, 2, False, True), (2, 3, 9)),  # dilation, ceil_mode
    ("AvgPool1d", (3, 2, 1, True, False), (2, 3, 9)),  # ceil_mode, count_include_pad=False
    ("AvgPool1d", ((2,),), (3, 8)),  # unbatched
    ("AdaptiveAvgPool1d", (4,), (2, 3, 9)),
    ("AdaptiveMaxPool1d", (4,), (2, 3, 9)),
    ("AdaptiveAvgPool2d", (1,), (2, 3, 5, 4)),  # the global average pool
    ("AdaptiveAvgPool2d", ((3, None),), (2, 3, 7, 5)),
    ("AdaptiveMaxPool2d", ((3, 2),), (2, 3, 7, 5)),
    ("AdaptiveMaxPool2d", (4,), (3, 6, 6)),  # unbatched
]


@pytest.mark.parametrize(("kind", "arguments", "shape"), NEW_POOLS)
def test_1d_and_adaptive_pools_match_pytorch(kind, arguments, shape):
    from nn_parity import assert_second_derivatives_match_torch

    x = np.random.default_rng(0).permutation(math.prod(shape)).reshape(shape).astype(np.float32) / 10  # no ties
    ours, theirs = getattr(nn, kind)(*arguments), getattr(torch.nn, kind)(*arguments)
    assert repr(ours) == repr(theirs) and list(ours.parameters()) == [] and ours.state_dict() == {}
    for name in ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "count_include_pad", "output_size"):
        if hasattr(theirs, name):
            assert getattr(ours, name) == getattr(theirs, name), name
    assert_matches_torch(ours, theirs, [x])
    tanh_after = lambda: nn.Sequential(getattr(nn, kind)(*arguments), nn.Tanh())  # noqa: E731
    assert_second_derivatives_match_torch(tanh_after, torch.nn.Sequential(theirs, torch.nn.Tanh()), [x.astype(np.float64)])


@pytest.mark.parametrize("kind", ["MaxPool1d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d"])
def test_new_max_pools_return_indices(kind):
    x = np.round(random(2, 3, 7, 6) * 2)  # ties
    x = x[:, :, 0] if kind.endswith("1d") else x
    out, indices = getattr(nn, kind)(3, return_indices=True)(Tensor(x))
    expected, expected_indices = getattr(torch.nn, kind)(3, return_indices=True)(torch.tensor(x))
    np.testing.assert_array_equal(out.data, expected.numpy())
    np.testing.assert_array_equal(indices.data, expected_indices.numpy())


def test_new_pools_check_their_arguments_at_construction():
    with pytest.raises(ValueError, match=r"AvgPool1d: padding \(2,\) must be at most half the kernel size \(2,\)"):
        nn.AvgPool1d((2,), padding=(2,))
    with pytest.raises(ValueError, match="MaxPool1d: padding 2 must be at most half the kernel size 3"):
        nn.MaxPool1d(3, padding=2)
    with pytest.raises(ValueError, match="MaxPool1d: kernel_size must be an int >= 1 or 1 of them, got 0"):
        nn.MaxPool1d(0)
    with pytest.raises(ValueError, match=r"AdaptiveAvgPool2d: output_size must be a positive int or 2 of them .*got \(0, 2\)"):
        nn.AdaptiveAvgPool2d((0, 2))
    with pytest.raises(ValueError, match="AdaptiveMaxPool1d: output_size must be a positive int or 1 of them, got None"):
        nn.AdaptiveMaxPool1d(None)
    with pytest.raises(ValueError, match="adaptive_avg_pool2d: expected a 3-D .* got a 2-D input of shape"):
        nn.AdaptiveAvgPool2d(1)(Tensor(random(4, 4)))  # the op names itself at forward


def test_a_convnet_with_global_average_pooling_moves_both_ways():
    def convnet(nn, **rng):
        return nn.Sequential(
            nn.Conv2d(2, 4, 3, padding=1, **rng), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3, **rng)
        )

    ours, theirs = convnet(nn, rng=0), convnet(torch.nn)
    assert_matches_torch(ours, theirs, [random(3, 2, 6, 5)])
