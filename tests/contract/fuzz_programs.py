"""Random programs for the differential fuzzer (tests/contract/test_fuzz.py).

A *program* is a short straight-line piece of Python over a few leaf tensors:

    x0 = Tensor(np.array([[0.5, -1.25]], dtype=np.float32), requires_grad=True)
    v0 = x0.exp()
    v1 = v0 * x0.detach()
    v2 = v1.sum(axis=-1, keepdims=True)

Every op of ``tinygrad_sm.ops()`` has a row in ``OP_SPECS``: its name, its arity, a builder that
draws its arguments (axes, shapes, indices, a partner operand, ...) for an input of known shape and
dtype, and two templates that render the call as tinygrad_sm source and as PyTorch source. The
generator chains 3-8 rows; the runners execute the rendered lines (so the printed program *is* the
repro), and the test compares outputs, first derivatives and Hessian-vector products.

Where PyTorch's own answer is a convention of its kernels rather than the math, the comparison skips or
relaxes exactly that (each function says why): ``has_power_convention`` and ``softplus_at_threshold`` (the
HVP is not compared), ``elu_of_nan`` and ``padded_convolution_of_non_finite`` (a nan of tinygrad_sm's may
stand where PyTorch has a number), ``infinite_layer_norm_weight`` (an inf of tinygrad_sm's may stand where
PyTorch has nan), ``normalizes_equal_values`` (counted as rounding). The PyTorch side of softmax with a
mask, of batch_norm, layer_norm and scaled_dot_product_attention is written to compute the API's result
with a second derivative, and gelu's in float64 (see ``torch_softmax``, ``batch_norm_call``,
``torch_layer_norm``, ``math_attention``, ``torch_gelu``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import strategies as st

import tinygrad_sm
from tinygrad_sm import Tensor
from tinygrad_sm.nn import functional as tiny_functional

MAX_SIZE = 96  # no value gets more elements than this (keeps every program fast)
MAX_NDIM = 4
FLOATS = ("float32", "float64")


# ----- what the generator knows about a value ---------------------------------------------
@dataclass(frozen=True)
class Meta:
    """A value of the program: its name in the source, its shape and its dtype (as PyTorch gives it)."""

    name: str
    shape: tuple[int, ...]
    dtype: str

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def is_float(self) -> bool:
        return self.dtype in FLOATS


@dataclass(frozen=True)
class Leaf:
    """An input tensor: floats require grad, int64 leaves do not. ``fill`` says how its values are drawn."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    fill: str  # "uniform" | "round" (ties, zeros, kinks) | "special" (inf, nan, 0, tiny, huge) | "positive"

    @property
    def requires_grad(self) -> bool:
        return self.dtype in FLOATS


@dataclass(frozen=True)
class Step:
    """One line of the program: ``name = <op applied to operands with params>``."""

    name: str
    op: str
    operands: tuple[str, ...]
    params: dict
    shape: tuple[int, ...]
    dtype: str

    def source(self, library: str) -> str:
        spec = OP_SPECS[self.op]
        template = spec.tiny if library == "tinygrad_sm" else spec.torch
        return f"{self.name} = {template(list(self.operands), self.params)}"


@dataclass
class Program:
    dtype: str  # the float dtype of the leaves
    leaves: list[Leaf]
    constants: dict[str, np.ndarray]  # index arrays, class targets, class weights
    steps: list[Step]
    seed: int  # leaf values, upstream gradient and HVP direction come from it
    hvp: bool  # also compare a Hessian-vector product
    default_dtype: str = "float32"  # what int -> float ops and Python floats give (both libraries are set to it)
    widened_from: Program | None = None  # the float32 program this float64 copy was made of (see ``widened``)

    def __repr__(self) -> str:  # (hypothesis prints it; the notes hold the full source)
        ops = " -> ".join(step.op for step in self.steps)
        return f"<Program {self.dtype}, {len(self.leaves)} leaves, {ops}, seed={self.seed}, hvp={self.hvp}>"

    def _repr_pretty_(self, printer, cycle) -> None:  # what hypothesis prints
        printer.text(repr(self))

    @property
    def output(self) -> Meta:
        last = self.steps[-1]
        return Meta(last.name, last.shape, last.dtype)

    @property
    def precision(self) -> str:
        """float32 if any value is float32 (a float64 gradient that flowed through float32 has float32's precision)."""
        dtypes = {leaf.dtype for leaf in self.leaves} | {step.dtype for step in self.steps}
        return "float32" if "float32" in dtypes else "float64"

    def widened(self) -> Program:
        """The same program in float64: every float32 leaf, constant, ``astype`` and the default dtype
        (int -> float ops, int tensor * Python float) become float64. The leaves, the upstream gradient and
        the HVP direction hold the very same numbers (the float32 values, cast), so the only difference
        from this program is the precision of the arithmetic."""
        def wide(dtype: str) -> str:
            return "float64" if dtype == "float32" else dtype

        def wide_step(step: Step) -> Step:
            params = {**step.params, "dtype": wide(step.params["dtype"])} if step.op == "astype" else step.params
            return dataclasses.replace(step, params=params, dtype=wide(step.dtype))

        return Program(
            dtype=wide(self.dtype),
            leaves=[dataclasses.replace(leaf, dtype=wide(leaf.dtype)) for leaf in self.leaves],
            constants={name: widen(array) for name, array in self.constants.items()},
            steps=[wide_step(step) for step in self.steps],
            seed=self.seed, hvp=self.hvp, default_dtype="float64", widened_from=self,
        )

    # the arrays every run uses
    def leaf_arrays(self) -> dict[str, np.ndarray]:
        if self.widened_from is not None:
            return {name: widen(array) for name, array in self.widened_from.leaf_arrays().items()}
        rng = np.random.default_rng(self.seed)
        return {leaf.name: leaf_values(leaf, rng) for leaf in self.leaves}

    def upstream(self, dtype: str) -> np.ndarray:
        """The non-unit upstream gradient w (backward of sum(out * w))."""
        if self.widened_from is not None:
            return self.widened_from.upstream(self.widened_from.output.dtype).astype(dtype)
        rng = np.random.default_rng(self.seed + 1)
        return rng.uniform(-2, 2, self.output.shape).round(2).astype(dtype)

    def directions(self) -> dict[str, np.ndarray]:
        """The HVP direction v, one array per leaf that requires grad."""
        if self.widened_from is not None:
            return {name: widen(array) for name, array in self.widened_from.directions().items()}
        rng = np.random.default_rng(self.seed + 2)
        return {leaf.name: rng.uniform(-1, 1, leaf.shape).round(2).astype(leaf.dtype)
                for leaf in self.leaves if leaf.requires_grad}

    def source(self, library: str = "tinygrad_sm") -> str:
        """The program as runnable Python (the repro printed when a comparison fails)."""
        lines = ["import numpy as np"]
        if library == "tinygrad_sm":
            lines += ["import tinygrad_sm", "from tinygrad_sm import Tensor", "from tinygrad_sm.nn import functional as F"]
        else:
            lines += ["import torch", "from torch.nn import functional as F", "from fuzz_programs import math_attention, promote"]
        lines.append("inf, nan = np.inf, np.nan")
        if self.default_dtype != "float32":
            module = "tinygrad_sm" if library == "tinygrad_sm" else "torch"
            lines.append(f"{module}.set_default_dtype({module if library == 'torch' else 'np'}.{self.default_dtype})")
        for leaf, array in zip(self.leaves, self.leaf_arrays().values()):
            made = array_source(array)
            if library == "tinygrad_sm":
                lines.append(f"{leaf.name} = Tensor({made}, requires_grad={leaf.requires_grad})")
            else:
                lines.append(f"{leaf.name} = torch.tensor({made}, requires_grad={leaf.requires_grad})")
        for name, array in self.constants.items():
            made = array_source(array)
            lines.append(f"{name} = {made}" if library == "tinygrad_sm" else f"{name} = torch.tensor({made})")
        lines += [step.source(library) for step in self.steps]
        out = self.output
        if out.is_float:
            w = array_source(self.upstream(out.dtype))
            w = w if library == "tinygrad_sm" else f"torch.tensor({w})"
            lines.append(f"({out.name} * {w}).sum().backward()")
            grads = ", ".join(f"{leaf.name}.grad" for leaf in self.leaves if leaf.requires_grad)
            lines.append(f"print({out.name}, {grads})")
        else:
            lines.append(f"print({out.name})")
        return "\n".join(lines)


def widen(array: np.ndarray) -> np.ndarray:
    """A float32 array as float64 (the same numbers); other arrays unchanged."""
    return array.astype(np.float64) if array.dtype == np.float32 else array


@contextlib.contextmanager
def default_dtype(dtype: str, library: str) -> Iterator[None]:
    """Run with ``library``'s default dtype set to ``dtype`` (and put the previous one back)."""
    if library == "tinygrad_sm":
        get, set_ = tinygrad_sm.get_default_dtype, tinygrad_sm.set_default_dtype
        wanted = np.dtype(dtype)
    else:
        import torch

        get, set_, wanted = torch.get_default_dtype, torch.set_default_dtype, getattr(torch, dtype)
    previous = get()
    set_(wanted)
    try:
        yield
    finally:
        set_(previous)


def array_source(array: np.ndarray) -> str:
    if array.size == 0 or array.ndim == 0:
        if array.size == 0:
            return f"np.zeros({array.shape}, dtype=np.{array.dtype})"
        return f"np.array({array.item()!r}, dtype=np.{array.dtype})"
    return f"np.array({array.tolist()!r}, dtype=np.{array.dtype})"


# (no huge finite values: 1e30 - 1e30 cancellations make rounding differences, not bugs; 100 overflows exp in float32)
SPECIALS = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-30, -1e-30, 100.0, -100.0, 1.0, -1.0])


def leaf_values(leaf: Leaf, rng: np.random.Generator) -> np.ndarray:
    if leaf.dtype == "int64":
        return rng.integers(-3, 4, leaf.shape).astype(np.int64)
    if leaf.fill == "positive":
        values = rng.uniform(0.2, 2.0, leaf.shape).round(3)
    elif leaf.fill == "round":  # small integers and halves: ties for max/min, zeros for relu/abs, clip bounds
        values = rng.integers(-4, 5, leaf.shape) / 2.0
    else:
        values = rng.uniform(-2.0, 2.0, leaf.shape).round(3)
        if leaf.fill == "special" and values.size:
            where = rng.random(leaf.shape) < 0.3
            values = np.where(where, rng.choice(SPECIALS, leaf.shape), values)
    return np.asarray(values, dtype=leaf.dtype)


# ----- dtype rules (PyTorch's, which tinygrad_sm follows) ------------------------------------
def promote_dtypes(a: str, b: str) -> str:
    """The result dtype of a binary op on two tensors (int64 with a float gives the float, as in PyTorch)."""
    if a in FLOATS and b in FLOATS:
        return "float64" if "float64" in (a, b) else "float32"
    return a if a in FLOATS else b


def with_scalar(dtype: str, scalar: Any) -> str:
    """The result dtype of tensor ∘ Python scalar: a float scalar makes an integer tensor float32."""
    return "float32" if dtype == "int64" and isinstance(scalar, float) else dtype


def float_of(dtype: str) -> str:
    """The dtype of exp, log, ... of a tensor: integers become float32 (PyTorch's default dtype)."""
    return dtype if dtype in FLOATS else "float32"


def promote(a, b):
    """For the PyTorch side: cast two tensors of different float dtypes to float64, as NumPy (and tinygrad_sm) do;
    PyTorch would keep float32 when the float64 one is 0-d."""
    import torch

    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dtype != b.dtype \
            and a.is_floating_point() and b.is_floating_point():
        return a.double(), b.double()
    return a, b


def math_attention(*args, **kwargs):
    """For the PyTorch side: F.scaled_dot_product_attention on PyTorch's math kernel (the fused CPU kernel it
    picks for some shapes has no second derivative)."""
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with sdpa_kernel(SDPBackend.MATH):
        return torch.nn.functional.scaled_dot_product_attention(*args, **kwargs)


def size_of(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


def fits(shape: tuple[int, ...]) -> bool:
    return len(shape) <= MAX_NDIM and size_of(shape) <= MAX_SIZE


# ----- the generation context -------------------------------------------------------------
class Builder:
    """Holds what has been generated so far; op builders draw from it and may add leaves and constants."""

    def __init__(self, draw, dtype: str):
        self.draw, self.dtype = draw, dtype
        # Choices come from hypothesis' own Random, which shrinks towards the first option, 0 and False
        # and favours them while generating too: so lists of options put the usual case first and
        # ``chance(p)`` is False for a draw of 0. Which op comes next is drawn from a NumPy generator
        # instead, or the first op in the table would be a quarter of all steps.
        self.random = draw(st.randoms(use_true_random=False))
        self.op_rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        self.values: list[Meta] = []
        self.leaves: list[Leaf] = []
        self.constants: dict[str, np.ndarray] = {}
        self.steps: list[Step] = []

    def fresh_leaf(self, shape: tuple[int, ...], dtype: str | None = None, fill: str | None = None) -> Meta:
        dtype = dtype or self.dtype
        fill = fill or self.choice(["uniform", "uniform", "round", "special", "positive"])
        leaf = Leaf(f"x{len(self.leaves)}", tuple(shape), dtype, fill)
        self.leaves.append(leaf)
        meta = Meta(leaf.name, leaf.shape, dtype)
        self.values.append(meta)
        return meta

    def constant(self, array: np.ndarray) -> str:
        name = f"c{len(self.constants)}"
        self.constants[name] = np.asarray(array)
        return name

    def choice(self, options):
        return self.random.choice(list(options))

    def chance(self, p: float) -> bool:
        return self.random.random() > 1 - p

    def integer(self, low: int, high: int) -> int:
        return self.random.randint(low, high)

    def booleans(self, count: int) -> list[bool]:
        return [self.chance(0.5) for _ in range(count)]

    def existing(self, accept: Callable[[Meta], bool]) -> Meta | None:
        candidates = [v for v in self.values if accept(v)]
        return self.choice(candidates) if candidates else None

    def partner(self, shape_ok: Callable[[tuple[int, ...]], bool], make_shape: Callable[[], tuple[int, ...]],
                dtype: str | None = None) -> Meta | None:
        """An operand for an op that needs a second tensor: an existing value that fits (of ``dtype`` if given,
        else any), or a fresh leaf (of ``dtype``, else the program's)."""
        if self.chance(0.5):
            found = self.existing(lambda v: shape_ok(v.shape) and (dtype is None or v.dtype == dtype))
            if found is not None:
                return found
        shape = make_shape()
        return self.fresh_leaf(shape, dtype) if shape_ok(shape) else None


# ----- strategies for op arguments ---------------------------------------------------------
def draw_axis(b: Builder, ndim: int, allow_none=True, allow_tuple=True, allow_empty_tuple=False):
    kinds = ["int", "int"] + ["none"] * allow_none + ["tuple"] * allow_tuple + ["empty"] * allow_empty_tuple
    kind = b.choice(kinds)
    if kind == "none":
        return None
    if kind == "empty":
        return ()
    if ndim == 0:
        return b.choice([0, -1]) if kind == "int" else (b.choice([0, -1]),)
    if kind == "int":
        return b.integer(-ndim, ndim - 1)
    chosen = b.random.sample(range(ndim), b.integer(1, ndim))
    return tuple(a - ndim if b.chance(0.5) else a for a in chosen)


def axes_tuple(axis, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, tuple) else (axis,)
    return tuple(sorted(a % ndim for a in axes)) if ndim else ()


def reduced_shape(shape, axis, keepdims: bool) -> tuple[int, ...]:
    axes = axes_tuple(axis, len(shape))
    if keepdims:
        return tuple(1 if i in axes else n for i, n in enumerate(shape))
    return tuple(n for i, n in enumerate(shape) if i not in axes)


def broadcast_partner_shape(b: Builder, shape: tuple[int, ...]) -> tuple[int, ...]:
    """A shape that broadcasts with ``shape``: a suffix of it, some axes set to 1 (or stretched), maybe new leading axes."""
    keep = b.integer(0, len(shape))
    dims = list(shape[len(shape) - keep:])
    for i, n in enumerate(dims):
        if b.chance(0.3):
            dims[i] = 1
        elif n == 1 and b.chance(0.3):
            dims[i] = b.integer(0, 3)
    lead = [b.integer(1, 3) for _ in range(b.choice([0, 0, 0, 1]))]
    return tuple(lead + dims)


def broadcasts(a: tuple[int, ...], c: tuple[int, ...]) -> tuple[int, ...] | None:
    try:
        out = np.broadcast_shapes(a, c)
    except ValueError:
        return None
    return out if fits(out) else None


def small_shape(b: Builder) -> tuple[int, ...]:
    ndim = b.choice([1, 2, 3, 0, 2])
    return tuple(0 if b.chance(0.06) else b.choice([2, 3, 1, 4]) for _ in range(ndim))


# ----- builders: (b, x) -> (operands, params, shape, dtype) or None if the op does not apply --------
def build_unary(b: Builder, x: Meta):
    return [x.name], {}, x.shape, float_of(x.dtype)


def build_same_dtype(b: Builder, x: Meta):  # neg, abs, relu keep integers integer
    return [x.name], {}, x.shape, x.dtype


def build_guarded(b: Builder, x: Meta):
    """log and sqrt: mostly of |x| + 0.5 (defined everywhere); sometimes of x itself (nan, -inf: PyTorch decides)."""
    return [x.name], {"guard": b.chance(0.8)}, x.shape, float_of(x.dtype)


SCALARS = [2.0, 1.0, -1.0, 0.0, 0.5, -2.5, 3.0, 1e-3, 2, 3, -1, 0, 1]


def build_binary(op: str):
    def build(b: Builder, x: Meta):
        kind = b.choice(["tensor", "right scalar", "left scalar", "tensor", "tensor", "self", "detached"])
        params: dict[str, Any] = {"guard": op == "pow" and b.chance(0.7)}
        if kind.endswith("scalar"):
            scalar = b.choice(SCALARS)
            if op == "pow" and x.dtype == "int64":
                scalar = float(scalar) if kind == "left scalar" or scalar < 0 else scalar  # no int ** negative int
            if op == "div" and x.dtype == "int64" and isinstance(scalar, int):
                scalar = float(scalar)  # int / int is true division in both; keep the scalar float for clarity
            written = f"({scalar!r})" if scalar < 0 else repr(scalar)
            operands = [x.name, written] if kind == "right scalar" else [written, x.name]
            dtype = with_scalar(x.dtype, scalar)
            if op == "div":
                dtype = float_of(dtype)
            return operands, params, x.shape, dtype
        if kind in ("self", "detached"):
            other = x if kind == "self" or b.chance(0.5) else b.existing(lambda v: broadcasts(v.shape, x.shape) is not None)
            if other is None:
                return None
            name = other.name + ".detach()" if kind == "detached" else other.name
            shape = broadcasts(x.shape, other.shape)
        else:
            other = b.partner(lambda s: broadcasts(x.shape, s) is not None, lambda: broadcast_partner_shape(b, x.shape))
            if other is None:
                return None
            name, shape = other.name, broadcasts(x.shape, other.shape)
        if shape is None:
            return None
        if op == "pow" and x.dtype == "int64" and other.dtype == "int64":
            return None  # integer ** negative integer raises in NumPy; PyTorch gives 0
        dtype = promote_dtypes(x.dtype, other.dtype)
        if op == "div":
            dtype = float_of(dtype)
        operands = [x.name, name] if b.chance(0.7) else [name, x.name]
        return operands, params, shape, dtype

    return build


def build_clip(b: Builder, x: Meta):
    bounds = [None, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5] if x.is_float else [None, -1, 0, 1, 2]
    lo, hi = b.choice(bounds), b.choice(bounds)
    if lo is None and hi is None:
        hi = bounds[-1]
    if lo is not None and hi is not None and lo > hi and not b.chance(0.2):
        lo, hi = hi, lo  # (lo > hi is allowed: every value becomes hi)
    return [x.name], {"lo": lo, "hi": hi}, x.shape, x.dtype


def build_astype(b: Builder, x: Meta):
    # float -> int64 truncates, so a computed value one rounding step below an integer would change it:
    # only leaves (exact values) are cast to integers
    to_int = x.is_float and x.name.startswith("x")
    target = b.choice(["float32", "float64", "float32", "float64", "int64"] if to_int else ["float32", "float64"])
    return [x.name], {"dtype": target}, x.shape, target


def build_reduce(op: str):
    def build(b: Builder, x: Meta):
        if op == "mean" and not x.is_float:
            return None  # PyTorch's mean refuses integers
        axis = draw_axis(b, x.ndim, allow_empty_tuple=op in ("sum", "mean") or b.chance(0.1))
        keepdims = b.chance(0.4)
        if op in ("max", "min") and any(x.shape[a] == 0 for a in axes_tuple(axis, x.ndim)) and axis != ():
            return None  # both raise on an empty reduction; not interesting
        shape = x.shape if axis == () else reduced_shape(x.shape, axis, keepdims)
        return [x.name], {"axis": axis, "keepdims": keepdims, "ndim": x.ndim}, shape, x.dtype

    return build


def build_logsumexp(b: Builder, x: Meta):
    if not x.is_float:
        return None
    axis = draw_axis(b, x.ndim)
    keepdims = b.chance(0.4)
    return [x.name], {"axis": axis, "keepdims": keepdims, "ndim": x.ndim}, reduced_shape(x.shape, axis, keepdims), x.dtype


def build_reshape(b: Builder, x: Meta):
    size = size_of(x.shape)
    if size == 0:
        dims = [b.choice([0, 1, 2, 3]) for _ in range(b.integer(1, 3))]
        dims[b.integer(0, len(dims) - 1)] = 0
        return [x.name], {"shape": tuple(dims)}, tuple(dims), x.dtype
    dims, rest = [], size
    for _ in range(b.integer(0, 3)):
        divisors = [d for d in range(1, rest + 1) if rest % d == 0]
        d = b.choice(divisors)
        dims.append(d)
        rest //= d
    if rest != 1 or not dims:
        dims.append(rest)
    dims = [1] * b.choice([0, 0, 1]) + dims
    dims = dims[:MAX_NDIM] if size_of(dims[:MAX_NDIM]) == size else dims
    if len(dims) > MAX_NDIM:
        return None
    shape = tuple(dims)
    written = list(shape)
    if written and b.chance(0.3):
        written[b.integer(0, len(written) - 1)] = -1
    return [x.name], {"shape": tuple(written)}, shape, x.dtype


def build_transpose(b: Builder, x: Meta):
    if b.chance(0.25):
        return [x.name], {"perm": None, "reversed": tuple(range(x.ndim))[::-1]}, x.shape[::-1], x.dtype
    perm = b.random.sample(range(x.ndim), x.ndim)
    perm = tuple(p - x.ndim if b.chance(0.3) else p for p in perm)
    return [x.name], {"perm": perm}, tuple(x.shape[p] for p in perm), x.dtype


def build_swapaxes(b: Builder, x: Meta):
    if x.ndim == 0:
        return None
    i, j = b.integer(-x.ndim, x.ndim - 1), b.integer(-x.ndim, x.ndim - 1)
    shape = list(x.shape)
    shape[i], shape[j] = shape[j], shape[i]
    return [x.name], {"a": i, "b": j}, tuple(shape), x.dtype


def build_broadcast_to(b: Builder, x: Meta):
    dims = [b.integer(1, 3) if n == 1 and b.chance(0.6) else n for n in x.shape]
    shape = tuple([b.choice([0, 1, 2, 3]) for _ in range(b.choice([0, 1, 1, 2]))] + dims)
    return ([x.name], {"shape": shape}, shape, x.dtype) if fits(shape) else None


def build_getitem(b: Builder, x: Meta):
    """Ints, slices (positive steps: PyTorch has no negative ones), and at most one integer array or boolean mask.
    An int is not combined with an array: x[0, :, idx] means different things in NumPy and PyTorch."""
    if x.ndim == 0:
        return [x.name], {"index": b.choice(["()", "..."])}, (), x.dtype
    if b.chance(0.15):  # a mask over the whole tensor
        mask = b.booleans(size_of(x.shape))
        mask = np.array(mask, dtype=bool).reshape(x.shape)
        return [x.name], {"index": b.constant(mask)}, (int(mask.sum()),), x.dtype
    count = b.integer(1, x.ndim)
    advanced_at = b.integer(0, count - 1) if b.chance(0.5) else None
    parts, shape = [], []
    for axis in range(count):
        n = x.shape[axis]
        if axis == advanced_at:
            if b.chance(0.5) or n == 0:
                mask = np.array(b.booleans(n), dtype=bool)
                parts.append(b.constant(mask))
                shape.append(int(mask.sum()))
            else:
                idx = np.array([b.integer(-n, n - 1) for _ in range(b.integer(0, 4))], dtype=np.int64)
                parts.append(b.constant(idx))
                shape.append(len(idx))
            continue
        if n > 0 and advanced_at is None and b.chance(0.3):
            parts.append(repr(b.integer(-n, n - 1)))
            continue
        start, stop = b.choice([None, None, -n - 1, -1, 0, 1, 2, n + 1]), b.choice([None, None, -1, 0, 1, 2, 3, n + 1])
        step = b.choice([None, None, 1, 2, 3])
        parts.append(":".join("" if part is None else str(part) for part in (start, stop, step)))
        shape.append(len(range(*slice(start, stop, step).indices(n))))
    shape += x.shape[count:]
    if b.chance(0.15):
        parts.append("...")
    return [x.name], {"index": ", ".join(parts)}, tuple(shape), x.dtype


def build_join(op: str):
    def build(b: Builder, x: Meta):
        if op == "concatenate" and x.ndim == 0:
            return None
        ndim = x.ndim + (op == "stack")
        axis = b.integer(-ndim, ndim - 1)
        a = axis % ndim
        others = []
        for _ in range(b.integer(0, 2)):
            if op == "stack":
                other = x if b.chance(0.3) else b.partner(lambda s: s == x.shape, lambda: x.shape, x.dtype)
            else:
                def same_but_axis(s, a=a):
                    return len(s) == x.ndim and all(m == n for i, (m, n) in enumerate(zip(s, x.shape)) if i != a)

                def make(a=a):
                    return tuple(b.integer(0, 3) if i == a else n for i, n in enumerate(x.shape))
                other = x if b.chance(0.3) else b.partner(same_but_axis, make, x.dtype)
            if other is None or other.dtype != x.dtype:
                return None
            others.append(other)
        group = [x, *others]
        if op == "stack":
            shape = x.shape[:a] + (len(group),) + x.shape[a:]
        else:
            shape = x.shape[:a] + (sum(v.shape[a] for v in group),) + x.shape[a + 1:]
        if not fits(shape):
            return None
        return [v.name for v in group], {"axis": axis}, shape, x.dtype

    return build


def build_matmul(b: Builder, x: Meta):
    if x.ndim == 0 or not x.is_float:
        return None
    on_left = b.chance(0.6)

    def out_shape(s):
        left, right = (x.shape, s) if on_left else (s, x.shape)
        try:
            shape = np.matmul(np.zeros(left), np.zeros(right)).shape
        except ValueError:
            return None
        return shape if fits(shape) and len(s) >= 1 else None

    def make():
        k = x.shape[-1] if on_left else (x.shape[-2] if x.ndim > 1 else x.shape[0])
        if on_left:
            return b.choice([(k,), (k, b.integer(0, 3)), (b.integer(1, 2), k, b.integer(1, 3))])
        return b.choice([(k,), (b.integer(0, 3), k), (b.integer(1, 2), b.integer(1, 3), k)])

    other = b.partner(lambda s: out_shape(s) is not None, make, x.dtype)
    if other is None or other.dtype != x.dtype:
        return None
    operands = [x.name, other.name] if on_left else [other.name, x.name]
    return operands, {}, out_shape(other.shape), x.dtype


def build_linear(b: Builder, x: Meta):
    if x.ndim == 0 or not x.is_float:
        return None
    features = x.shape[-1]
    weight = b.partner(lambda s: len(s) == 2 and s[1] == features, lambda: (b.integer(0, 3), features), x.dtype)
    if weight is None or weight.dtype != x.dtype:
        return None
    out_features = weight.shape[0]
    bias = None
    if b.chance(0.6):
        bias = b.partner(lambda s: s == (out_features,), lambda: (out_features,), x.dtype)
        if bias is None or bias.dtype != x.dtype:
            return None
    shape = x.shape[:-1] + (out_features,)
    if not fits(shape):
        return None
    return [x.name, weight.name] + ([bias.name] if bias else []), {}, shape, x.dtype


def class_layout(x: Meta) -> tuple[int, tuple[int, ...]] | None:
    """(C, the target's shape) for logits (C,), (N, C) or (N, C, d1, ...): classes on axis 1 (axis 0 unbatched)."""
    if x.ndim == 0 or x.shape[min(1, x.ndim - 1)] == 0:
        return None
    if x.ndim == 1:
        return x.shape[0], ()
    return x.shape[1], x.shape[:1] + x.shape[2:]


def class_weight(b: Builder, classes: int, dtype: str) -> str:
    weight = np.random.default_rng(b.integer(0, 99)).uniform(0.1, 2.0, classes).round(2).astype(dtype)
    return b.constant(weight)


def class_targets(b: Builder, classes: int, shape: tuple[int, ...], ignore_index: int) -> str:
    """Class indices of ``shape``, about one in five ``ignore_index``."""
    picks = [ignore_index if b.chance(0.2) else b.integer(0, classes - 1) for _ in range(size_of(shape))]
    return b.constant(np.array(picks, dtype=np.int64).reshape(shape))


def build_cross_entropy(b: Builder, x: Meta):
    layout = class_layout(x) if x.is_float else None
    if layout is None:
        return None
    classes, target_shape = layout
    params: dict[str, Any] = {
        "reduction": b.choice(["mean", "sum", "none"]),
        "label_smoothing": b.choice([0.0, 0.0, 0.1, 0.5, 1.0]),
        "ignore_index": b.choice([-100, -100, b.integer(0, classes - 1)]),  # (PyTorch refuses it with probabilities)
        "weight": class_weight(b, classes, x.dtype) if b.chance(0.3) else None,
    }
    if b.chance(0.55):  # class indices
        params["target"] = class_targets(b, classes, target_shape, params["ignore_index"])
    elif params["ignore_index"] != -100 and not b.chance(0.05):
        return None
    elif b.chance(0.5):  # a constant probability target
        probs = np.random.default_rng(b.integer(0, 99)).uniform(0, 1, x.shape)
        class_axis = min(1, x.ndim - 1)
        params["target"] = b.constant((probs / probs.sum(axis=class_axis, keepdims=True)).astype(x.dtype))
    else:  # a differentiable target (need not sum to 1: neither library checks)
        target = b.partner(lambda s: s == x.shape, lambda: x.shape, x.dtype)
        if target is None or target.dtype != x.dtype:
            return None
        # through sigmoid: probabilities in (0, 1) whatever the partner holds (an infinite "probability"
        # makes both libraries' gradients nan or inf in ways that depend on the order of their sums)
        params["target"] = f"{target.name}.sigmoid()"
    shape = target_shape if params["reduction"] == "none" else ()
    return [x.name], params, shape, x.dtype


def build_where(b: Builder, x: Meta):
    """where(c, x, y): a constant boolean condition; y a tensor or a Python scalar; all three broadcast."""
    condition_shape = broadcast_partner_shape(b, x.shape)
    shape = broadcasts(x.shape, condition_shape)
    if shape is None:
        return None
    condition = np.random.default_rng(b.integer(0, 99)).random(condition_shape) < 0.5
    if b.chance(0.3):
        other = repr(b.choice([0.0, 1.0, -2.0, 0, 1]))
        dtype = with_scalar(x.dtype, eval(other))
    else:
        meta = b.partner(lambda s: broadcasts(shape, s) is not None, lambda: broadcast_partner_shape(b, shape))
        if meta is None:
            return None
        other, dtype, shape = meta.name, promote_dtypes(x.dtype, meta.dtype), broadcasts(shape, meta.shape)
    operands = [x.name, other] if b.chance(0.5) else [other, x.name]
    return [b.constant(condition), *operands], {}, shape, dtype


# ----- builders of the second milestone's ops ---------------------------------------------------
def build_activation(**options):
    """leaky_relu, elu, gelu, silu, softplus: float input only (PyTorch has no integer kernels for them,
    tinygrad_sm computes them in float); each keyword drawn from its options."""
    def build(b: Builder, x: Meta):
        if not x.is_float:
            return None
        return [x.name], {name: b.choice(values) for name, values in options.items()}, x.shape, x.dtype

    return build


def build_extremum(b: Builder, x: Meta):
    """maximum/minimum of two tensors that broadcast (sometimes x with itself: a tie everywhere)."""
    other = x if b.chance(0.15) else b.partner(lambda s: broadcasts(x.shape, s) is not None,
                                                  lambda: broadcast_partner_shape(b, x.shape))
    if other is None:
        return None
    operands = [x.name, other.name] if b.chance(0.6) else [other.name, x.name]
    return operands, {}, broadcasts(x.shape, other.shape), promote_dtypes(x.dtype, other.dtype)


def draw_mask(b: Builder, shape: tuple[int, ...]) -> str:
    """A constant bool mask that broadcasts to ``shape`` without enlarging it (a suffix, some axes 1)."""
    dims = shape[len(shape) - b.integer(0, len(shape)):]
    dims = tuple(1 if b.chance(0.3) else n for n in dims)
    return b.constant(np.random.default_rng(b.integer(0, 99)).random(dims) < b.choice([0.6, 0.3, 0.9]))


def build_masked_fill(b: Builder, x: Meta):
    value = b.choice([0.0, -1.5, 2.0, -math.inf]) if x.is_float else b.choice([0, 1, -2])
    return [x.name], {"mask": draw_mask(b, x.shape), "value": value}, x.shape, x.dtype


def build_softmax(b: Builder, x: Meta):
    """The axis, and for float input sometimes mask= (fully masked rows included) and temperature=."""
    if not x.is_float and (size_of(x.shape) == 0 or not b.chance(0.05)):
        return None  # softmax of integers: PyTorch raises (rarely generated, to check that tinygrad_sm raises too)
    axis = draw_axis(b, x.ndim, allow_none=False, allow_tuple=False)
    params = {"axis": axis, "mask": None, "temperature": None}
    if x.is_float and b.chance(0.35):
        params["mask"] = draw_mask(b, x.shape)
    if x.is_float and b.chance(0.3):
        params["temperature"] = b.choice([0.5, 2.0, 1.0, 3.0])  # (T < 1 scales up: 0.1 makes float32 1/p³ overflow)
    return [x.name], params, x.shape, x.dtype


def build_pad(b: Builder, x: Meta):
    """F.pad widths for the last 1..ndim axes (last axis first), each -n..2: negative widths crop."""
    if x.ndim == 0:
        return None
    shape, pad = list(x.shape), []
    for axis in reversed(range(x.ndim - b.integer(1, x.ndim), x.ndim)):
        n = shape[axis]
        before = b.integer(-n, 2)
        after = b.integer(-(n + min(before, 0)), 2)
        pad += [before, after]
        shape[axis] = n + before + after
    value = b.choice([0.0, 0.0, 1.5, -2.0]) if x.is_float else b.choice([0, 0, 1, -2])
    return ([x.name], {"pad": tuple(pad), "value": value}, tuple(shape), x.dtype) if fits(tuple(shape)) else None


def build_repeat(b: Builder, x: Meta):
    repeats = tuple(b.choice([0, 1, 1, 2, 3]) for _ in range(x.ndim + b.choice([0, 0, 1])))
    if len(repeats) > MAX_NDIM:
        return None
    shape = (1,) * (len(repeats) - x.ndim) + x.shape
    out = tuple(r * n for r, n in zip(repeats, shape))
    return ([x.name], {"repeats": repeats}, out, x.dtype) if fits(out) else None


def build_nll_loss(b: Builder, x: Meta):
    layout = class_layout(x) if x.is_float else None
    if layout is None:
        return None
    classes, target_shape = layout
    ignore_index = b.choice([-100, -100, b.integer(0, classes - 1)])
    params = {
        "target": class_targets(b, classes, target_shape, ignore_index),
        "weight": class_weight(b, classes, x.dtype) if b.chance(0.3) else None,
        "ignore_index": ignore_index,
        "reduction": b.choice(["mean", "sum", "none"]),
    }
    return [x.name], params, target_shape if params["reduction"] == "none" else (), x.dtype


def build_mse_loss(b: Builder, x: Meta):
    """mse_loss(x, t): t a tensor of x's shape (both differentiable), or x itself (a zero loss)."""
    if not x.is_float:
        return None
    target = x if b.chance(0.1) else b.partner(lambda s: s == x.shape, lambda: x.shape, x.dtype)
    if target is None or target.dtype != x.dtype:
        return None
    reduction = b.choice(["mean", "sum", "none"])
    return [x.name, target.name], {"reduction": reduction}, x.shape if reduction == "none" else (), x.dtype


def build_bce_with_logits(b: Builder, x: Meta):
    """Targets in [0, 1]: a constant (some exactly 0 or 1) or a differentiable tensor through sigmoid; weight
    a constant broadcasting to x, pos_weight one per class (the last axis) or one for all."""
    if not x.is_float:
        return None
    rng = np.random.default_rng(b.integer(0, 99))
    params: dict[str, Any] = {"reduction": b.choice(["mean", "sum", "none"]), "weight": None, "pos_weight": None}
    if b.chance(0.5):
        params["target"] = b.constant(rng.choice([0.0, 1.0, 0.25, 0.5, 0.9], x.shape).astype(x.dtype))
    else:
        target = b.partner(lambda s: s == x.shape, lambda: x.shape, x.dtype)
        if target is None or target.dtype != x.dtype:
            return None
        params["target"] = f"{target.name}.sigmoid()"
    if b.chance(0.3):
        dims = tuple(1 if b.chance(0.3) else n for n in x.shape[len(x.shape) - b.integer(0, x.ndim):])
        params["weight"] = b.constant(rng.uniform(0.1, 2.0, dims).round(2).astype(x.dtype))
    if b.chance(0.4):
        dims = b.choice([x.shape[-1:], (1,)]) if x.ndim else ()
        params["pos_weight"] = b.constant(rng.uniform(0.1, 3.0, dims).round(2).astype(x.dtype))
    return [x.name], params, x.shape if params["reduction"] == "none" else (), x.dtype


def window_output(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """How many windows fit along an axis (PyTorch's formula, floor mode)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def as_int_or_tuple(b: Builder, values: tuple[int, ...]):
    """An int where every axis has the same value (sometimes still written as a tuple), else the tuple."""
    return values[0] if len(set(values)) == 1 and b.chance(0.6) else tuple(values)


def draw_windows(b: Builder, sizes: tuple[int, ...]):
    """(kernel, stride, padding, dilation), each a tuple with one entry per spatial axis, drawn so that at least
    one window fits along every axis: the dilated kernel d·(k − 1) + 1 is at most the padded size n + 2p."""
    per_axis = []
    for n in sizes:
        d, p = b.choice([1, 1, 2]), b.choice([0, 0, 1])
        k = b.integer(1, min(3, (n + 2 * p - 1) // d + 1))
        per_axis.append((k, b.integer(1, 2), p, d))
    return tuple(zip(*per_axis))


def spatial_input(b: Builder, x: Meta, spatial: int) -> Meta | None:
    """x if it is a float (N, C, *size) or (C, *size) input without empty channel or spatial axes, else (half the
    time) a fresh leaf of such a shape (a chained value seldom has 3 or 4 axes)."""
    if x.is_float and x.ndim in (spatial + 1, spatial + 2) and 0 not in x.shape[-spatial - 1:]:
        return x
    if not b.chance(0.5):
        return None
    batch = (b.choice([1, 2, 1, 2, 0]),) * b.chance(0.8)
    shape = batch + (b.integer(1, 3),) + tuple(b.integer(1, 4) for _ in range(spatial))
    return b.fresh_leaf(shape) if fits(shape) else None


def build_conv(spatial: int):
    """conv1d/conv2d: x is the input (N, C, *size) or unbatched (C, *size); the weight (C_out, C/groups, *k)
    and the bias (C_out,) are partners; padding an int, a tuple, "same" (stride 1) or "valid"."""
    def build(b: Builder, x: Meta):
        x = spatial_input(b, x, spatial)
        if x is None:
            return None
        channels, sizes = x.shape[-spatial - 1], x.shape[-spatial:]
        kernel, stride, padding, dilation = draw_windows(b, sizes)
        groups = b.choice([1, 1, channels])
        out_channels = groups * b.integer(1, 2)
        written_padding: Any = as_int_or_tuple(b, padding)
        if b.chance(0.2):
            written_padding, stride = b.choice(["same", "valid"]), (1,) * spatial
            padding = (0,) * spatial
        if written_padding == "same":
            out_sizes = sizes
        else:
            out_sizes = tuple(window_output(n, k, s, p, d) for n, k, s, p, d in zip(sizes, kernel, stride, padding, dilation))
        if min(out_sizes) < 1:
            return None
        weight_shape = (out_channels, channels // groups, *kernel)
        weight = b.partner(lambda s: s == weight_shape, lambda: weight_shape, x.dtype)
        if weight is None or weight.dtype != x.dtype:
            return None
        operands = [x.name, weight.name]
        if b.chance(0.5):
            bias = b.partner(lambda s: s == (out_channels,), lambda: (out_channels,), x.dtype)
            if bias is None or bias.dtype != x.dtype:
                return None
            operands.append(bias.name)
        params = {"stride": as_int_or_tuple(b, stride), "padding": written_padding,
                  "dilation": as_int_or_tuple(b, dilation), "groups": groups}
        return operands, params, x.shape[:-spatial - 1] + (out_channels, *out_sizes), x.dtype

    return build


def build_unfold(b: Builder, x: Meta):
    """F.unfold of (N, C, H, W) or (C, H, W): (N, C·kh·kw, L) columns."""
    x = spatial_input(b, x, 2)
    if x is None:
        return None
    kernel, stride, padding, dilation = draw_windows(b, x.shape[-2:])
    blocks = math.prod(window_output(n, k, s, p, d) for n, k, s, p, d in zip(x.shape[-2:], kernel, stride, padding, dilation))
    params = {"kernel_size": as_int_or_tuple(b, kernel), "dilation": as_int_or_tuple(b, dilation),
              "padding": as_int_or_tuple(b, padding), "stride": as_int_or_tuple(b, stride)}
    return [x.name], params, x.shape[:-3] + (x.shape[-3] * math.prod(kernel), blocks), x.dtype


FOLD_SETTINGS = [(k, s, p, d) for k in itertools.product((1, 2, 3), repeat=2) for s in (1, 2) for p in (0, 1) for d in (1, 2)]


def build_fold(b: Builder, x: Meta):
    """F.fold of columns (N, C·kh·kw, L) or (C·kh·kw, L) onto an output_size image: x itself if some
    kernel, stride, padding, dilation and output size make L windows of C·kh·kw (e.g. after an unfold),
    else a fresh leaf of the right shape."""
    settings = []
    if x.is_float and x.ndim in (2, 3) and x.shape[-2] > 0:
        for (kernel, s, p, d), out in itertools.product(FOLD_SETTINGS, itertools.product(range(1, 6), repeat=2)):
            blocks = [window_output(n, k, s, p, d) for n, k in zip(out, kernel)]
            if x.shape[-2] % math.prod(kernel) == 0 and min(blocks) >= 1 and math.prod(blocks) == x.shape[-1]:
                settings.append((kernel, s, p, d, out))
    if settings and b.chance(0.8):
        kernel, s, p, d, out = b.choice(settings)
        columns = x
    else:
        kernel, s, p, d = b.choice(FOLD_SETTINGS)
        out = (b.integer(1, 5), b.integer(1, 5))
        blocks = [window_output(n, k, s, p, d) for n, k in zip(out, kernel)]
        if min(blocks) < 1:
            return None
        shape = (b.integer(0, 2),) * b.chance(0.7) + (b.integer(1, 2) * math.prod(kernel), math.prod(blocks))
        columns = b.partner(lambda c: c == shape, lambda: shape, x.dtype) if fits(shape) else None
        if columns is None or not columns.is_float:
            return None
    params = {"output_size": as_int_or_tuple(b, out), "kernel_size": as_int_or_tuple(b, kernel),
              "dilation": d, "padding": p, "stride": s}
    channels = columns.shape[-2] // math.prod(kernel)
    return [columns.name], params, columns.shape[:-2] + (channels, *out), columns.dtype


def build_pool(b: Builder, x: Meta):
    """max_pool2d/avg_pool2d of (N, C, H, W) or (C, H, W); padding at most half the kernel (PyTorch's limit);
    stride None (the kernel) or drawn."""
    x = spatial_input(b, x, 2)
    if x is None:
        return None
    kernel, stride, padding = [], [], []
    for n in x.shape[-2:]:
        k = b.integer(1, min(3, n + 1))
        p = b.integer(0, k // 2)
        if k > n + 2 * p:
            return None
        kernel.append(k)
        stride.append(b.integer(1, 3))
        padding.append(p)
    written_stride = None if b.chance(0.3) else as_int_or_tuple(b, tuple(stride))
    if written_stride is None:
        stride = kernel
    out = tuple(window_output(n, k, s, p, 1) for n, k, s, p in zip(x.shape[-2:], kernel, stride, padding))
    params = {"kernel_size": as_int_or_tuple(b, tuple(kernel)), "stride": written_stride,
              "padding": as_int_or_tuple(b, tuple(padding))}
    return [x.name], params, x.shape[:-2] + out, x.dtype


def build_adaptive_pool(b: Builder, x: Meta):
    """adaptive_avg_pool2d/adaptive_max_pool2d of (N, C, H, W) or (C, H, W): output_size an int or a pair, each
    1..size + 1 (larger than the input: overlapping windows) or None (that size kept)."""
    x = spatial_input(b, x, 2)
    if x is None:
        return None
    sizes = [b.integer(1, n + 1) for n in x.shape[-2:]]
    if b.chance(0.4) and sizes[0] == sizes[1]:
        written: Any = sizes[0]
    else:
        written = tuple(None if b.chance(0.2) else s for s in sizes)
        sizes = [n if s is None else s for n, s in zip(x.shape[-2:], written)]
    return [x.name], {"output_size": written}, x.shape[:-2] + tuple(sizes), x.dtype


def build_layer_norm(b: Builder, x: Meta):
    """layer_norm over the last 1..ndim axes, weight and bias partners of that shape (each optional)."""
    if not x.is_float or x.ndim == 0:
        return None
    normalized = x.shape[x.ndim - b.integer(1, x.ndim):]
    operands = [x.name]
    params: dict[str, Any] = {"normalized_shape": normalized[0] if len(normalized) == 1 and b.chance(0.5) else normalized,
                              "weight": None, "bias": None, "eps": b.choice([1e-5, 1e-5, 0.1])}
    for name in ("weight", "bias"):
        if b.chance(0.5):
            partner = b.partner(lambda s: s == normalized, lambda: normalized, x.dtype)
            if partner is None or partner.dtype != x.dtype:
                return None
            params[name] = partner.name
    return operands, params, x.shape, x.dtype


def build_batch_norm(b: Builder, x: Meta):
    """batch_norm of (N, C, ...): training (running buffers or None) or eval (running buffers), weight and
    bias partners (C,). The buffers are constants copied in the rendered call (training updates them).
    No zero channels: PyTorch raises an IndexError when an empty weight or bias is given."""
    if not x.is_float or x.ndim < 2 or x.ndim > 4 or x.shape[1] == 0:
        return None
    channels, rng = x.shape[1], np.random.default_rng(b.integer(0, 99))
    training = b.chance(0.6)
    params: dict[str, Any] = {"channels": channels, "training": training, "momentum": b.choice([0.1, 0.5, 1.0]),
                              "eps": b.choice([1e-5, 1e-5, 0.1]), "running_mean": None, "running_var": None,
                              "weight": None, "bias": None}
    if not training or b.chance(0.5):
        params["running_mean"] = b.constant(rng.uniform(-1, 1, channels).round(2).astype(x.dtype))
        params["running_var"] = b.constant(rng.uniform(0.5, 2, channels).round(2).astype(x.dtype))
    for name in ("weight", "bias"):
        if b.chance(0.5):
            partner = b.partner(lambda s: s == (channels,), lambda: (channels,), x.dtype)
            if partner is None or partner.dtype != x.dtype:
                return None
            params[name] = partner.name
    return [x.name], params, x.shape, x.dtype


def build_embedding(b: Builder, x: Meta):
    """x is the weight (V, D); the indices a constant of 0-2 nonempty axes; padding_idx None or a row (negative too)."""
    if not x.is_float or x.ndim != 2 or x.shape[0] == 0:
        return None
    rows = x.shape[0]
    index_shape = tuple(b.integer(1, 3) for _ in range(b.choice([1, 2, 0])))  # (no index: PyTorch's HVP raises)
    indices = np.random.default_rng(b.integer(0, 99)).integers(0, rows, index_shape)
    padding_idx = b.choice([None, None, b.integer(-rows, rows - 1)])
    return [x.name], {"indices": b.constant(indices), "padding_idx": padding_idx}, index_shape + x.shape[1:], x.dtype


def build_attention(b: Builder, x: Meta):
    """x is the query (..., L, E); key (..., S, E) and value (..., S, Ev) partners with the same batch axes;
    the mask None, a constant bool (some rows all False), a constant float (-inf included) or a
    differentiable float partner, or is_causal; scale None or a number."""
    if not x.is_float or x.ndim < 2 or x.ndim > 4 or x.shape[-1] == 0:
        return None
    batch, length, features = x.shape[:-2], x.shape[-2], x.shape[-1]
    sources = b.integer(1, 4)
    key_shape = batch + (sources, features)
    key = b.partner(lambda s: s == key_shape, lambda: key_shape, x.dtype)
    value_shape = batch + (sources, b.choice([features, 1, 2, 3]))
    value = b.partner(lambda s: s[:-1] == key_shape[:-1] and len(s) == len(key_shape), lambda: value_shape, x.dtype)
    if key is None or value is None or key.dtype != x.dtype or value.dtype != x.dtype:
        return None
    operands = [x.name, key.name, value.name]
    params: dict[str, Any] = {"attn_mask": None, "is_causal": False, "scale": b.choice([None, None, 0.5, 2.0])}
    mask_shape = b.choice([(length, sources), batch + (length, sources), (1, sources)])
    rng = np.random.default_rng(b.integer(0, 99))
    kind = b.choice(["none", "bool", "float", "causal", "partner"])
    if kind == "bool":
        params["attn_mask"] = b.constant(rng.random(mask_shape) < 0.6)
    elif kind == "float":
        params["attn_mask"] = b.constant(rng.choice([0.0, -1.0, 2.0, -math.inf], mask_shape).astype(x.dtype))
    elif kind == "causal":
        params["is_causal"] = True
    elif kind == "partner":
        mask = b.partner(lambda s: s == mask_shape, lambda: mask_shape, x.dtype)
        if mask is None or mask.dtype != x.dtype:
            return None
        operands.append(mask.name)
    shape = x.shape[:-1] + value.shape[-1:]
    return operands, params, shape, x.dtype


# ----- rendering: tinygrad_sm source and PyTorch source for each op ---------------------------------
def guarded(name: str, p: dict, torch_side: bool) -> str:
    if not p.get("guard"):
        return name
    return f"(torch.abs({name}) + 0.5)" if torch_side else f"({name}.abs() + 0.5)"


def torch_reduce(fn: str, x: str, p: dict) -> str:
    """torch.sum/mean/amax/amin/logsumexp; axis=() reduces nothing (NumPy's meaning) so it is the identity,
    and axis=None is every axis (0 for a 0-d tensor)."""
    axis = p["axis"]
    if axis == ():
        return x
    if axis is None:
        axis = tuple(range(p["ndim"])) or 0
    return f"{fn}({x}, dim={axis!r}, keepdim={p['keepdims']})"


def is_tensor(operand: str) -> bool:
    """Operands are names (``v3``, ``x0.detach()``) or Python scalars (``2.0``, ``(-1)``)."""
    return operand[0].isalpha()


def torch_binary(fn: str, symbol: str):
    def render(a, p):
        x, y = a
        two_tensors = is_tensor(x) and is_tensor(y)
        if p.get("guard") and is_tensor(x):
            x = f"(torch.abs({x}) + 0.5)"
        if two_tensors:  # promote float32/float64 as NumPy does
            return f"{fn}(*promote({x}, {y}))"
        return f"{x} {symbol} {y}"

    return render


def tiny_binary(symbol: str):
    def render(a, p):
        x = f"({a[0]}.abs() + 0.5)" if p.get("guard") and is_tensor(a[0]) else a[0]
        return f"{x} {symbol} {a[1]}"

    return render


def tiny_cross_entropy(a, p):
    weight = f", weight={p['weight']}" if p["weight"] else ""
    return (f"{a[0]}.cross_entropy({p['target']}{weight}, ignore_index={p['ignore_index']}, "
            f"reduction={p['reduction']!r}, label_smoothing={p['label_smoothing']})")


def torch_cross_entropy(a, p):
    weight = f", weight={p['weight']}" if p["weight"] else ""
    return (f"F.cross_entropy({a[0]}, {p['target']}{weight}, ignore_index={p['ignore_index']}, "
            f"reduction={p['reduction']!r}, label_smoothing={p['label_smoothing']})")


@dataclass(frozen=True)
class OpSpec:
    name: str
    arity: str  # "1", "2", "3", "n" (tensors; a binary op's second operand, where's x or y, may be a Python scalar)
    build: Callable[[Builder, Meta], Any]
    tiny: Callable[[list[str], dict], str]
    torch: Callable[[list[str], dict], str]
    weight: int = 2  # how often the generator picks it


def unary(name: str, torch_fn: str, build=build_unary) -> OpSpec:
    return OpSpec(name, "1", build, lambda a, p: f"{a[0]}.{name}()", lambda a, p: f"{torch_fn}({a[0]})")


def guarded_unary(name: str) -> OpSpec:
    return OpSpec(name, "1", build_guarded, lambda a, p: f"{guarded(a[0], p, False)}.{name}()",
                  lambda a, p: f"torch.{name}({guarded(a[0], p, True)})")


def binary(name: str, symbol: str) -> OpSpec:
    return OpSpec(name, "2", build_binary(name), tiny_binary(symbol), torch_binary(f"torch.{name}", symbol), weight=4)


def reduction(name: str, torch_fn: str) -> OpSpec:
    return OpSpec(name, "1", build_reduce(name),
                  lambda a, p: f"{a[0]}.{name}(axis={p['axis']!r}, keepdims={p['keepdims']})",
                  lambda a, p: torch_reduce(torch_fn, a[0], p), weight=3)


# params that hold source (a constant's or a value's name, ``x1.sigmoid()``) rather than a literal
SOURCE_PARAMS = {"target", "weight", "bias", "pos_weight", "mask", "attn_mask", "indices", "running_mean", "running_var"}


def argument(name: str, value: Any) -> str:
    return value if name in SOURCE_PARAMS and value is not None else repr(value)


def call(fn: str, positional: tuple[str, ...] = (), keywords: tuple[str, ...] = ()):
    """``F.fn(operands, positional params, keyword=params)``: the same call in both libraries."""
    def render(a, p):
        args = [*a, *(argument(k, p[k]) for k in positional), *(f"{k}={argument(k, p[k])}" for k in keywords)]
        return f"F.{fn}({', '.join(args)})"

    return render


def functional_op(name: str, arity: str, build, positional: tuple[str, ...] = (), keywords: tuple[str, ...] = ()) -> OpSpec:
    """An op written ``F.name(...)`` in both libraries."""
    render = call(name, positional, keywords)
    return OpSpec(name, arity, build, render, render)


def activation(name: str, torch_render=None, **options) -> OpSpec:
    def tiny(a, p):
        return f"{a[0]}.{name}({', '.join(f'{k}={v!r}' for k, v in p.items())})"

    return OpSpec(name, "1", build_activation(**options), tiny, torch_render or call(name, keywords=tuple(options)))


def torch_gelu(a, p):
    """F.gelu computed in float64 and cast back: PyTorch's vectorised float32 kernel makes gelu(inf) nan (its scalar
    loop, used for a one-element tensor, and its float64 kernel give inf, as tinygrad_sm does)."""
    return f"F.gelu({a[0]}.double(), approximate={p['approximate']!r}).to({a[0]}.dtype)"


def tiny_softmax(fn: str):
    def render(a, p):
        keywords = [f"axis={p['axis']}"] + [f"{k}={p[k]}" for k in ("mask", "temperature") if p.get(k) is not None]
        return f"{a[0]}.{fn}({', '.join(keywords)})"

    return render


def torch_softmax(fn: str, masked: str):
    """torch.softmax of x / T; with a mask, the API's result: masked entries ``masked`` (their upstream gradient
    dropped by the where), and a row that keeps nothing all ``masked`` with a zero gradient. Its entries are
    filled with 0 before the softmax (masked_fill(-inf) alone would make the row, and its gradient, nan)."""
    def render(a, p):
        x = a[0] if p.get("temperature") is None else f"({a[0]} / {p['temperature']!r})"
        axis, mask = p["axis"], p.get("mask")
        if mask is None:
            return f"torch.{fn}({x}, dim={axis})"
        empty_rows = f"~{mask}.expand_as({a[0]}).any(dim={axis}, keepdim=True)"
        safe = f"{x}.masked_fill(~{mask}, -inf).masked_fill({empty_rows}, 0.0)"
        return f"torch.where({mask}, torch.{fn}({safe}, dim={axis}), {masked})"

    return render


def batch_norm_call(copy: str):
    """F.batch_norm with fresh copies of the running buffers (training updates them in place, and a program runs
    more than once). On the PyTorch side a missing weight is ones: its double backward in training raises
    without one."""
    def render(a, p):
        buffers = [f"{p[k]}.{copy}()" if p[k] is not None else "None" for k in ("running_mean", "running_var")]
        if copy == "clone" and p["weight"] is None:
            p = {**p, "weight": f"{a[0]}.new_ones({p['channels']})"}
        keywords = [f"{k}={argument(k, p[k])}" for k in ("weight", "bias", "training", "momentum", "eps")]
        return f"F.batch_norm({', '.join([a[0], *buffers, *keywords])})"

    return render


def attention_call(fn: str):
    def render(a, p):
        mask = a[3] if len(a) > 3 else argument("attn_mask", p["attn_mask"])
        return f"{fn}({', '.join(a[:3])}, attn_mask={mask}, is_causal={p['is_causal']}, scale={p['scale']!r})"

    return render


def torch_layer_norm(a, p):
    """F.layer_norm with normalized_shape as a tuple (PyTorch's function takes no int; tinygrad_sm's does, as
    nn.LayerNorm), and a missing weight as ones (PyTorch's double backward raises without one when an upstream
    gradient is undefined)."""
    shape = p["normalized_shape"] if isinstance(p["normalized_shape"], tuple) else (p["normalized_shape"],)
    weight = p["weight"] if p["weight"] is not None else f"{a[0]}.new_ones({shape})"
    render = call("layer_norm", ("normalized_shape",), ("weight", "bias", "eps"))
    return render(a, {**p, "normalized_shape": shape, "weight": weight})


def embedding_call(a, p):
    return f"F.embedding({p['indices']}, {a[0]}, padding_idx={p['padding_idx']!r})"


SPEC_LIST = [
    binary("add", "+"), binary("sub", "-"), binary("mul", "*"), binary("div", "/"), binary("pow", "**"),
    OpSpec("neg", "1", build_same_dtype, lambda a, p: f"-{a[0]}", lambda a, p: f"-{a[0]}"),
    unary("abs", "torch.abs", build_same_dtype), unary("relu", "torch.relu", build_same_dtype),
    unary("exp", "torch.exp"), unary("tanh", "torch.tanh"), unary("sigmoid", "torch.sigmoid"),
    guarded_unary("log"), guarded_unary("sqrt"),
    OpSpec("clip", "1", build_clip, lambda a, p: f"{a[0]}.clip({p['lo']!r}, {p['hi']!r})",
           lambda a, p: f"torch.clamp({a[0]}, {p['lo']!r}, {p['hi']!r})"),
    OpSpec("clone", "1", build_same_dtype, lambda a, p: f"{a[0]}.clone()", lambda a, p: f"torch.clone({a[0]})", weight=1),
    OpSpec("where", "3", build_where, lambda a, p: f"tinygrad_sm.get_op('where').apply({', '.join(a)})",
           lambda a, p: f"torch.where({a[0]}, *promote({a[1]}, {a[2]}))"),
    OpSpec("astype", "1", build_astype, lambda a, p: f"{a[0]}.astype(np.{p['dtype']})",
           lambda a, p: f"{a[0]}.to(torch.{p['dtype']})", weight=1),
    reduction("sum", "torch.sum"), reduction("mean", "torch.mean"),
    reduction("max", "torch.amax"), reduction("min", "torch.amin"),
    OpSpec("softmax", "1", build_softmax, tiny_softmax("softmax"), torch_softmax("softmax", "0.0")),
    OpSpec("log_softmax", "1", build_softmax, tiny_softmax("log_softmax"), torch_softmax("log_softmax", "-inf")),
    OpSpec("logsumexp", "1", build_logsumexp, lambda a, p: f"{a[0]}.logsumexp(axis={p['axis']!r}, keepdims={p['keepdims']})",
           lambda a, p: torch_reduce("torch.logsumexp", a[0], p)),
    OpSpec("cross_entropy", "1", build_cross_entropy, tiny_cross_entropy, torch_cross_entropy),
    OpSpec("matmul", "2", build_matmul, lambda a, p: f"{a[0]} @ {a[1]}",
           lambda a, p: f"torch.matmul({a[0]}, {a[1]})"),
    OpSpec("linear", "2", build_linear, lambda a, p: f"{a[0]}.linear({', '.join(a[1:])})",
           lambda a, p: f"F.linear({', '.join(a)})"),
    OpSpec("reshape", "1", build_reshape, lambda a, p: f"{a[0]}.reshape({p['shape']!r})",
           lambda a, p: f"{a[0]}.reshape({p['shape']!r})"),
    OpSpec("transpose", "1", build_transpose,
           lambda a, p: f"{a[0]}.transpose({', '.join(map(str, p['perm'] or ()))})",
           lambda a, p: f"{a[0]}.permute({p['perm'] if p['perm'] is not None else p['reversed']})"),
    OpSpec("swapaxes", "1", build_swapaxes, lambda a, p: f"{a[0]}.swapaxes({p['a']}, {p['b']})",
           lambda a, p: f"torch.swapaxes({a[0]}, {p['a']}, {p['b']})"),
    OpSpec("broadcast_to", "1", build_broadcast_to, lambda a, p: f"{a[0]}.broadcast_to({p['shape']!r})",
           lambda a, p: f"torch.broadcast_to({a[0]}, {p['shape']!r})"),
    OpSpec("getitem", "1", build_getitem, lambda a, p: f"{a[0]}[{p['index']}]", lambda a, p: f"{a[0]}[{p['index']}]",
           weight=3),
    OpSpec("concatenate", "n", build_join("concatenate"), lambda a, p: f"Tensor.concatenate([{', '.join(a)}], axis={p['axis']})",
           lambda a, p: f"torch.cat([{', '.join(a)}], dim={p['axis']})"),
    OpSpec("stack", "n", build_join("stack"), lambda a, p: f"Tensor.stack([{', '.join(a)}], axis={p['axis']})",
           lambda a, p: f"torch.stack([{', '.join(a)}], dim={p['axis']})"),
    # the second milestone's ops
    unary("erf", "torch.erf"), guarded_unary("log1p"),
    activation("leaky_relu", negative_slope=[0.01, 0.2, 0.0, -0.5, 1.5]),
    activation("elu", alpha=[1.0, 0.5, 2.0, 0.0]),
    activation("gelu", torch_gelu, approximate=["none", "tanh"]),
    activation("silu"),
    activation("softplus", beta=[1.0, 2.0, 0.5], threshold=[20.0, 1.0, 0.5]),
    OpSpec("maximum", "2", build_extremum, lambda a, p: f"tinygrad_sm.maximum({a[0]}, {a[1]})",
           lambda a, p: f"torch.maximum(*promote({a[0]}, {a[1]}))"),
    OpSpec("minimum", "2", build_extremum, lambda a, p: f"tinygrad_sm.minimum({a[0]}, {a[1]})",
           lambda a, p: f"torch.minimum(*promote({a[0]}, {a[1]}))"),
    OpSpec("masked_fill", "1", build_masked_fill, lambda a, p: f"{a[0]}.masked_fill({p['mask']}, {p['value']!r})",
           lambda a, p: f"{a[0]}.masked_fill({p['mask']}, {p['value']!r})"),
    OpSpec("pad", "1", build_pad, lambda a, p: f"{a[0]}.pad({p['pad']!r}, value={p['value']!r})",
           call("pad", ("pad",), ("value",))),
    OpSpec("repeat", "1", build_repeat, lambda a, p: f"{a[0]}.repeat({p['repeats']!r})",
           lambda a, p: f"{a[0]}.repeat({p['repeats']!r})"),
    functional_op("nll_loss", "1", build_nll_loss, ("target",), ("weight", "ignore_index", "reduction")),
    functional_op("mse_loss", "2", build_mse_loss, keywords=("reduction",)),
    functional_op("binary_cross_entropy_with_logits", "1", build_bce_with_logits, ("target",),
                  ("weight", "reduction", "pos_weight")),
    functional_op("conv1d", "2", build_conv(1), keywords=("stride", "padding", "dilation", "groups")),
    functional_op("conv2d", "2", build_conv(2), keywords=("stride", "padding", "dilation", "groups")),
    functional_op("unfold", "1", build_unfold, keywords=("kernel_size", "dilation", "padding", "stride")),
    functional_op("fold", "1", build_fold, keywords=("output_size", "kernel_size", "dilation", "padding", "stride")),
    functional_op("max_pool2d", "1", build_pool, keywords=("kernel_size", "stride", "padding")),
    functional_op("avg_pool2d", "1", build_pool, keywords=("kernel_size", "stride", "padding")),
    functional_op("adaptive_avg_pool2d", "1", build_adaptive_pool, ("output_size",)),
    functional_op("adaptive_max_pool2d", "1", build_adaptive_pool, ("output_size",)),
    OpSpec("layer_norm", "1", build_layer_norm, call("layer_norm", ("normalized_shape",), ("weight", "bias", "eps")),
           torch_layer_norm),
    OpSpec("batch_norm", "1", build_batch_norm, batch_norm_call("copy"), batch_norm_call("clone")),
    OpSpec("embedding", "1", build_embedding, embedding_call, embedding_call),
    OpSpec("scaled_dot_product_attention", "3", build_attention, attention_call("F.scaled_dot_product_attention"),
           attention_call("math_attention")),
]
OP_SPECS: dict[str, OpSpec] = {spec.name: spec for spec in SPEC_LIST}
# ops the library registers that a program does not use directly: scatter_add is getitem's backward
# (it runs in every getitem gradient and in every HVP through getitem)
NOT_GENERATED = {"scatter_add"}


# ----- the program generator ----------------------------------------------------------------
@st.composite
def programs(draw, min_ops: int = 3, max_ops: int = 8, hvp_fraction: float = 1 / 3) -> Program:
    b = Builder(draw, draw(st.sampled_from(FLOATS)))
    for _ in range(b.integer(1, 3)):
        b.fresh_leaf(small_shape(b), dtype="int64" if b.chance(0.08) else b.dtype)
    weighted = [spec.name for spec in SPEC_LIST for _ in range(spec.weight)]
    target = b.integer(min_ops, max_ops)
    attempts = 0
    while len(b.steps) < target and attempts < 20 * max_ops:
        attempts += 1
        x = b.values[-1] if b.chance(0.7) else b.choice(b.values)
        op = weighted[b.op_rng.integers(len(weighted))]
        built = OP_SPECS[op].build(b, x)
        if built is None:
            continue
        operands, params, shape, out_dtype = built
        if not fits(shape):
            continue
        step = Step(f"v{len(b.steps)}", op, tuple(operands), params, tuple(shape), out_dtype)
        b.steps.append(step)
        b.values.append(Meta(step.name, step.shape, step.dtype))
    if not b.steps:  # (only if nothing applied: always fine)
        x = b.values[-1]
        b.steps.append(Step("v0", "neg", (x.name,), {}, x.shape, x.dtype))
    seed = b.integer(0, 2**31)
    return Program(b.dtype, b.leaves, b.constants, b.steps, seed, hvp=np.random.default_rng(seed).random() < hvp_fraction)


# ----- running a program --------------------------------------------------------------------------
@dataclass
class Result:
    values: dict[str, Any] = field(default_factory=dict)  # every value of the program (Tensors)
    out: np.ndarray | None = None
    grads: dict[str, np.ndarray] = field(default_factory=dict)  # leaf name -> gradient of sum(out * w)
    hvp: dict[str, np.ndarray] = field(default_factory=dict)  # leaf name -> H v
    hvp_defined: bool = True  # False if a first derivative is not finite: then H v is nan-propagation noise
    elu_of_nan: bool = False  # an elu's input holds a nan: PyTorch's slope there depends on its kernel (see elu_of_nan)
    infinite_norm_weight: bool = False  # a layer_norm weight holds ±inf (see infinite_layer_norm_weight)
    error: BaseException | None = None
    stage: str = ""  # where the error happened: forward, backward, hvp


def execute(program: Program, namespace: dict, library: str) -> dict:
    for step in program.steps:
        exec(step.source(library), namespace)  # noqa: S102 - the program is generated source
    return namespace


def run_tinygrad(program: Program, hvp: bool | None = None, create_graph: bool = False) -> Result:
    """Forward, backward of sum(out * w) into .grad, and (if asked) H v by tinygrad_sm.grad twice."""
    result = Result()
    hvp = program.hvp if hvp is None else hvp
    leaves_data = program.leaf_arrays()

    def fresh():
        leaves = {leaf.name: Tensor(leaves_data[leaf.name].copy(), requires_grad=leaf.requires_grad) for leaf in program.leaves}
        namespace = {"np": np, "Tensor": Tensor, "tinygrad_sm": tinygrad_sm, "F": tiny_functional, "inf": math.inf,
                     "nan": math.nan, **leaves, **program.constants}
        return leaves, namespace

    with np.errstate(all="ignore"), default_dtype(program.default_dtype, "tinygrad_sm"):
        result.stage = "forward"
        try:
            leaves, namespace = fresh()
            execute(program, namespace, "tinygrad_sm")
            out = namespace[program.output.name]
            result.values = {k: v for k, v in namespace.items() if isinstance(v, Tensor)}
            result.out = out.data
            wanted = [leaf for leaf in program.leaves if leaf.requires_grad]
            if not (out.dtype.kind == "f" and out.requires_grad and wanted):
                return result
            result.stage = "backward"
            w = program.upstream(out.dtype.name)
            (out * w).sum().backward(create_graph=create_graph)
            result.grads = {leaf.name: leaves[leaf.name].grad for leaf in wanted}
            if not hvp:
                return result
            result.stage = "hvp"
            leaves, namespace = fresh()
            execute(program, namespace, "tinygrad_sm")
            out = namespace[program.output.name]
            inputs = [leaves[leaf.name] for leaf in wanted]
            grads = tinygrad_sm.grad((out * w).sum(), inputs, create_graph=True, allow_unused=True)
            v = program.directions()
            dot = None
            for leaf, g in zip(wanted, grads):
                if g is not None:
                    term = (g * v[leaf.name]).sum()
                    dot = term if dot is None else dot + term
            second = [None] * len(inputs)
            if dot is not None and dot.requires_grad:
                second = tinygrad_sm.grad(dot, inputs, allow_unused=True)
            result.hvp = {leaf.name: h for leaf, h in zip(wanted, second)}
        except Exception as error:  # noqa: BLE001 - an error is a result to compare
            result.error = error
    return result


def _value(operand: str, namespace: dict):
    return namespace[operand.removesuffix(".detach()")] if is_tensor(operand) else eval(operand)


def _has_zero(value) -> bool:
    return bool((value == 0).any()) if hasattr(value, "any") else value == 0


def has_power_convention(program: Program, namespace: dict) -> bool:
    """True if some ``a ** b`` has an element where its second derivatives are a convention, so the HVP
    is not compared: a == 0 (PyTorch's are nan, even for 0 ** b with b > 0, where they are 0), or a
    Tensor exponent b == 0 (PyTorch's ∂/∂b of ∂z/∂a is 0 there, tinygrad_sm's is 1/a, the true mixed
    partial: the Hessian is symmetric)."""
    for step in program.steps:
        if step.op == "pow":
            base, exponent = step.operands[0], step.operands[1]
            if (not step.params.get("guard") or not is_tensor(base)) and _has_zero(_value(base, namespace)):
                return True
            if is_tensor(exponent) and _has_zero(_value(exponent, namespace)):
                return True
    return False


def softplus_at_threshold(program: Program, namespace: dict) -> bool:
    """True if some softplus has βa == threshold exactly, where PyTorch's second derivative is 0 (its double
    backward keeps βa < threshold, its backward makes βa > threshold linear); tinygrad_sm's is the smooth
    piece's, β·σ'(βa), there. So the HVP is not compared."""
    for step in program.steps:
        if step.op == "softplus" and bool((namespace[step.operands[0]] * step.params["beta"] == step.params["threshold"]).any()):
            return True
    return False


def elu_of_nan(program: Program, namespace: dict) -> bool:
    """True if some elu's input holds a nan. tinygrad_sm's slope there is nan, as PyTorch's vectorised kernel
    gives; PyTorch's scalar loop, which runs the last elements of a tensor (all of a small one), passes the
    upstream gradient instead. So the comparison lets a nan of tinygrad_sm's stand where PyTorch has a number."""
    import torch

    return any(step.op == "elu" and bool(torch.isnan(namespace[step.operands[0]]).any()) for step in program.steps)


def infinite_layer_norm_weight(program: Program, namespace: dict) -> bool:
    """True if some layer_norm's weight holds ±inf: then PyTorch's ∂x is nan for the whole row (its kernel sums
    ĝ·x and μ·Σĝ apart, inf − inf), tinygrad_sm's three-term rule mixes ±inf and nan there (a deviation
    tests/operations/test_normalization.py documents). So the comparison lets tinygrad_sm's ±inf stand where
    PyTorch has nan."""
    import torch

    return any(step.op == "layer_norm" and step.params["weight"] is not None
               and bool(torch.isinf(namespace[step.params["weight"]]).any()) for step in program.steps)


def run_torch(program: Program, hvp: bool | None = None) -> Result:
    import torch
    from torch.nn import functional

    result = Result()
    hvp = program.hvp if hvp is None else hvp
    leaves_data = program.leaf_arrays()

    def fresh():
        leaves = {leaf.name: torch.tensor(leaves_data[leaf.name], requires_grad=leaf.requires_grad) for leaf in program.leaves}
        constants = {name: torch.tensor(array) for name, array in program.constants.items()}
        namespace = {"torch": torch, "F": functional, "promote": promote, "math_attention": math_attention,
                     "inf": math.inf, "nan": math.nan, **leaves, **constants}
        return leaves, namespace

    with default_dtype(program.default_dtype, "torch"):
        result.stage = "forward"
        try:
            leaves, namespace = fresh()
            execute(program, namespace, "torch")
            out = namespace[program.output.name]
            result.values = {k: v for k, v in namespace.items() if isinstance(v, torch.Tensor)}
            result.out = out.detach().numpy()
            result.elu_of_nan = elu_of_nan(program, namespace)
            result.infinite_norm_weight = infinite_layer_norm_weight(program, namespace)
            wanted = [leaf for leaf in program.leaves if leaf.requires_grad]
            if not (out.is_floating_point() and out.requires_grad and wanted):
                return result
            result.stage = "backward"
            w = torch.tensor(program.upstream(str(out.dtype).removeprefix("torch.")))
            inputs = [leaves[leaf.name] for leaf in wanted]
            (out * w).sum().backward()
            result.grads = {leaf.name: leaves[leaf.name].grad for leaf in wanted}
            if not hvp:
                return result
            result.stage = "hvp"
            leaves, namespace = fresh()
            execute(program, namespace, "torch")
            out = namespace[program.output.name]
            inputs = [leaves[leaf.name] for leaf in wanted]
            grads = torch.autograd.grad((out * w).sum(), inputs, create_graph=True, allow_unused=True)
            result.hvp_defined = all(g is None or bool(torch.isfinite(g).all()) for g in grads) \
                and not has_power_convention(program, namespace) and not softplus_at_threshold(program, namespace)
            v = program.directions()
            dot = None
            for leaf, g in zip(wanted, grads):
                if g is not None:
                    term = (g * torch.tensor(v[leaf.name])).sum()
                    dot = term if dot is None else dot + term
            second = [None] * len(inputs)
            if dot is not None and dot.requires_grad:
                second = torch.autograd.grad(dot, inputs, allow_unused=True)
            result.hvp = {leaf.name: h for leaf, h in zip(wanted, second)}
        except Exception as error:  # noqa: BLE001
            result.error = error
    return result


# ----- comparing ------------------------------------------------------------------------------------
TOLERANCES = {"float32": (2e-4, 2e-5), "float64": (1e-8, 1e-11)}  # (rtol, atol relative to the array's scale)


def as_array(value, like_shape, like_dtype) -> np.ndarray:
    """A gradient as an ndarray: None (unused input) is zeros, Tensors (either library) their data."""
    if value is None:
        return np.zeros(like_shape, like_dtype)
    if isinstance(value, Tensor):
        return value.data
    if hasattr(value, "detach"):
        # PyTorch may hand back a lazy ZeroTensor: clone() gives it storage (numpy(force=True) alone can
        # crash the interpreter on one that autograd made, e.g. the HVP through stack, abs, amax and clamp)
        return value.detach().clone().numpy(force=True)
    return np.asarray(value)


class RoundingError(AssertionError):
    """Results that differ, but perhaps only by rounding: ``check`` decides."""


def magnitude(result: Result) -> float:
    """How far the program's forward values reach from 1: the largest |v| and 1/|v| over the finite nonzero
    elements of the float values of PyTorch's run (at least 1). A leaf of 1e-30 makes it 1e30, as it
    makes the terms of x / x's gradient (1/x and -x/x**2) 1e30."""
    largest = 1.0
    for value in result.values.values():
        if value.is_floating_point():
            a = np.abs(value.detach().numpy().astype(np.float64))
            a = a[np.isfinite(a) & (a > 0)]
            if a.size:
                largest = max(largest, float(a.max()), 1 / float(a.min()))
    return largest


# float64 has no wider dtype to re-run a program in: a float64 mismatch counts as rounding if it is within
# a few epsilons of the cancelled terms, whose size the program's magnitude stands for
CANCELLATION = 16 * float(np.finfo(np.float64).eps)


def assert_close(got: np.ndarray, want: np.ndarray, what: str, precision: str, size: float = 1.0) -> None:
    """got ≈ want: same shape and dtype, equal integers, floats within ``TOLERANCES[precision]`` (the absolute
    tolerance relative to the largest finite |want|, or 1), the same nan and inf.

    A mismatch that may be rounding raises RoundingError: tinygrad_sm's nan and inf are PyTorch's too (a
    nan or inf of its own, say float32's exp(100) overflowing, is what a careful formula avoids; a number
    where PyTorch's float32 has none may be underflow: PyTorch's float32 sigmoid(-100) is 0, tinygrad_sm's
    4e-44), and in float64 the difference is within CANCELLATION * size (the program's ``magnitude``).
    Others raise AssertionError."""
    assert got.shape == want.shape, f"{what}: shape {got.shape}, PyTorch {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype}, PyTorch {want.dtype}"
    if want.dtype.kind != "f":
        np.testing.assert_array_equal(got, want, err_msg=what)
        return
    rtol, atol = TOLERANCES[precision]
    finite = np.abs(want[np.isfinite(want)].astype(np.float64))
    scale = max(1.0, float(finite.max())) if finite.size else 1.0
    try:
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol * scale, equal_nan=True, err_msg=what)
    except AssertionError as error:
        own = ~np.isfinite(got)
        if np.array_equal(got[own], want[own], equal_nan=True):  # no nan or inf of its own
            if precision == "float32":
                raise RoundingError(str(error)) from None
            both = np.isfinite(got) & np.isfinite(want)
            if np.allclose(got[both], want[both], rtol=rtol, atol=CANCELLATION * size * scale):
                raise RoundingError(f"{error}\nwithin {CANCELLATION:.1e} * magnitude {size:.3g} * scale {scale:.3g}") from None
        raise


def padded_convolution_of_non_finite(program: Program, theirs: Result) -> bool:
    """True if a conv1d/conv2d pads its input and PyTorch's gradients hold a nan or inf. A weight tap that meets
    only padding then gets Σ g·0: nan from tinygrad_sm (its matmul over the unfolded columns multiplies the
    padding's zeros by the nan), 0 or nan from PyTorch as its kernel goes (a batch of one multiplies, a batch of
    two skips the padding). So the comparison lets a nan of tinygrad_sm's stand where PyTorch has a number."""
    padded = any(step.op in ("conv1d", "conv2d") and step.params["padding"] not in (0, (0,), (0, 0), "valid")
                 for step in program.steps)
    return padded and any(g is not None and not bool(np.isfinite(as_array(g, (), "float64")).all())
                          for g in theirs.grads.values())


def compared_arrays(program: Program, mine: Result, theirs: Result) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(what, tinygrad_sm's, PyTorch's) for the output, every leaf's gradient and (where defined) HVP."""
    pairs = [("output", mine.out, theirs.out)]
    nan_stands = theirs.elu_of_nan or padded_convolution_of_non_finite(program, theirs)
    leaves = {leaf.name: leaf for leaf in program.leaves}
    checks = [("gradient", mine.grads, theirs.grads)] + [("HVP", mine.hvp, theirs.hvp)] * theirs.hvp_defined
    for kind, got, want in checks:
        assert set(got) == set(want), f"{kind}s for {sorted(got)}, PyTorch for {sorted(want)}"
        for name in got:
            leaf = leaves[name]
            ours, pytorchs = as_array(got[name], leaf.shape, leaf.dtype), as_array(want[name], leaf.shape, leaf.dtype)
            if nan_stands:  # (see elu_of_nan and padded_convolution_of_non_finite)
                ours = np.where(np.isnan(ours) & ~np.isnan(pytorchs), pytorchs, ours)
            if theirs.infinite_norm_weight:  # (see infinite_layer_norm_weight)
                ours = np.where(np.isinf(ours) & np.isnan(pytorchs), pytorchs, ours)
            pairs.append((f"{kind} of {name}", ours, pytorchs))
    return pairs


def compare(program: Program, mine: Result, theirs: Result) -> None:
    """Same outcome (both raise, or same values, dtypes, shapes, gradients and HVPs). Raises RoundingError
    if every difference is one that rounding could make (see ``assert_close``), else AssertionError."""
    if mine.error is not None or theirs.error is not None:
        if mine.error is not None and theirs.error is not None and mine.stage == theirs.stage:
            return  # both refuse the program at the same stage
        raise AssertionError(
            f"tinygrad_sm {'raised ' + repr(mine.error) if mine.error else 'succeeded'} at {mine.stage or 'the end'}, "
            f"PyTorch {'raised ' + repr(theirs.error) if theirs.error else 'succeeded'} at {theirs.stage or 'the end'}"
        ) from (mine.error or theirs.error)
    size = magnitude(theirs) if program.precision == "float64" else 1.0
    mismatches = []
    for what, got, want in compared_arrays(program, mine, theirs):
        try:
            assert_close(got, want, what, program.precision, size)
        except RoundingError as mismatch:
            mismatches.append(str(mismatch))  # (keep comparing: a later array may fail for real)
    if mismatches:
        raise RoundingError("\n".join(mismatches))


def check(program: Program) -> str | None:
    """Run the program in tinygrad_sm and PyTorch and compare: None if they agree, a note (its first line
    a label for the statistics) if they differ by rounding only, AssertionError otherwise.

    Rounding amplified by cancellation can make the libraries differ far beyond any fixed tolerance:
    with a leaf of 1e-30, x / x**1.0 has gradient terms +1e30 and -1e30 whose float32 sum is 0 or one
    ulp of 1e30 (2e22), as each library orders its products. So a float32 mismatch (of the kind
    ``assert_close`` lets through) is checked again: the same program, the same numbers, all in float64
    (``Program.widened``). A rounding difference shrinks there by float64's smaller epsilon; a wrong
    formula gives the same difference again, and fails with both programs printed. A float64 program
    has nothing wider: ``assert_close`` has bounded its difference by the program's magnitude."""
    mine, theirs = run_tinygrad(program), run_torch(program)
    try:
        return compare_or_widen(program, mine, theirs)
    except AssertionError as error:
        if mine.error is None and theirs.error is None and normalizes_equal_values(program, mine):
            return f"mismatch after normalising a group of equal values\n{error}"
        raise


def normalizes_equal_values(program: Program, mine: Result) -> bool:
    """True if a layer_norm or batch_norm (training) normalised a group of equal finite values: x − μ is exactly 0
    in tinygrad_sm, an ulp of μ in PyTorch (its mean rounds), so a later division or log makes inf against a
    large number, or nan against a number."""
    for step in program.steps:
        if step.op not in ("layer_norm", "batch_norm") or (step.op == "batch_norm" and not step.params["training"]):
            continue
        x = mine.values.get(step.operands[0])
        if x is None or x.size == 0:
            continue
        x = x.data
        if step.op == "layer_norm":
            ndim = len(np.atleast_1d(step.params["normalized_shape"]))
            groups = x.reshape(x.shape[: x.ndim - ndim] + (-1,))
        else:
            groups = np.moveaxis(x, 1, -1).reshape(-1, x.shape[1]).T
        with np.errstate(invalid="ignore"):
            constant = (groups.max(axis=-1) == groups.min(axis=-1)) & np.isfinite(groups).all(axis=-1)
        if constant.any():
            return True
    return False


def compare_or_widen(program: Program, mine: Result, theirs: Result) -> str | None:
    """``check``'s comparison: ``compare``, and a float32 rounding mismatch again in float64."""
    try:
        compare(program, mine, theirs)
        return None
    except RoundingError as mismatch:
        if program.precision == "float64":
            return f"float64 mismatch within rounding of the program's magnitudes\n{mismatch}"
        float32_mismatch = mismatch
    wide = program.widened()
    try:
        compare(wide, run_tinygrad(wide), run_torch(wide))
    except RoundingError:
        pass  # (float64 rounding of the same cancellation)
    except AssertionError as error:
        raise AssertionError(
            f"float32:{float32_mismatch}\n\nand the same program in float64 disagrees too:\n{error}\n\n"
            f"{wide.source('tinygrad_sm')}\n\n{wide.source('torch')}"
        ) from None
    return f"float32 mismatch that the float64 re-run shows to be rounding\n{float32_mismatch}"


# ----- invariants that need no oracle -------------------------------------------------------------------
def check_invariants(program: Program, create_graph: bool) -> None:
    """Every Tensor holds an ndarray; each leaf's grad has the leaf's shape and dtype; grads are distinct buffers."""
    result = run_tinygrad(program, hvp=True, create_graph=create_graph)
    if result.error is not None:
        return  # the program is refused (e.g. a dtype PyTorch refuses too): nothing to check
    for name, value in result.values.items():
        assert type(value.data) is np.ndarray, f"{name}.data is {type(value.data).__name__}, not an ndarray"
    grads = [(name, g) for name, g in itertools.chain(result.grads.items(), result.hvp.items()) if g is not None]
    leaves = {leaf.name: leaf for leaf in program.leaves}
    for name, g in grads:
        assert isinstance(g, Tensor), f"grad of {name} is a {type(g).__name__}"
        assert type(g.data) is np.ndarray, f"grad of {name}: .data is {type(g.data).__name__}, not an ndarray"
        assert g.shape == leaves[name].shape, f"grad of {name} has shape {g.shape}, the leaf {leaves[name].shape}"
        assert g.dtype == np.dtype(leaves[name].dtype), f"grad of {name} has dtype {g.dtype}, the leaf {leaves[name].dtype}"
    first = [(name, g) for name, g in result.grads.items() if g is not None]
    for (name_a, a), (name_b, c) in itertools.combinations(first, 2):
        assert a is not c, f"{name_a}.grad is {name_b}.grad"
        assert not np.shares_memory(a.data, c.data), f"{name_a}.grad and {name_b}.grad share a buffer"
