"""Tensor: an ndarray, a grad, and the node that made it.

Every differentiable method (``exp``, ``sum``, ``softmax``, ``cross_entropy``,
...) is attached to this class by :func:`tinygrad_sm.register_op` from the op's
``Function`` class in ``tinygrad_sm/operations/``; the operators below call those ops'
``apply`` directly. The engine that walks the graph lives in ``autograd.py``.
"""

from __future__ import annotations

import math
import numbers
import operator
import types
from typing import Any

import numpy as np

from .random import as_generator
from .shapes import accepts_pytorch_spellings, normalize_axis, shape_argument

_default_dtype = np.dtype(np.float32)

#: each registered op's ``apply`` under its name (``register_op`` fills this in: the ops are defined
#: after Tensor), which the operators call directly
_ops = types.SimpleNamespace()


def set_default_dtype(dtype: Any) -> None:
    """Set the dtype that Python floats and float lists become (float32 or float64)."""
    global _default_dtype
    try:
        # None is refused: np.dtype(None) would quietly mean float64
        parsed = None if dtype is None else np.dtype(dtype)
    except (TypeError, ValueError):
        parsed = None
    if parsed not in (np.float32, np.float64):
        shown = parsed if parsed is not None else repr(dtype)
        raise TypeError(f"set_default_dtype: only float32 and float64 are supported, got {shown}")
    _default_dtype = parsed


def get_default_dtype() -> np.dtype:
    """The dtype that Python floats and float lists become (float32 unless changed)."""
    return _default_dtype


def _to_array(data: Any, dtype: Any) -> np.ndarray:
    """Turn user data into a fresh ndarray, following the dtype rules of API.md."""
    if isinstance(data, Tensor):
        data = data.data
    try:
        if dtype is not None:
            dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"Tensor: {dtype!r} is not a dtype") from None
    if isinstance(data, np.ndarray | np.generic):
        array = np.array(data, dtype=dtype, copy=True)
    elif hasattr(data, "__array__") and not isinstance(data, list | tuple):
        # (e.g. a PyTorch tensor, whose __array__ takes no copy= argument: NumPy 2 warns when
        # np.array asks it for one, and np.asarray does not)
        array = np.array(np.asarray(data), dtype=dtype, copy=True)
    else:
        try:
            array = np.array(data, dtype=dtype)
        except ValueError as error:
            if "inhomogeneous" in str(error) or "sequence" in str(error):
                raise ValueError(
                    f"Tensor: nested lists must be rectangular (all rows the same length): {error}"
                ) from None
            raise ValueError(
                f"Tensor: cannot make a tensor from {type(data).__name__} data: {error}"
            ) from None
        except TypeError as error:
            raise TypeError(
                f"Tensor: cannot make a tensor from {type(data).__name__} data: {error}"
            ) from None
        if dtype is None and array.dtype == np.float64 and not hasattr(data, "__array__"):
            # Python floats (and lists of them) take the default dtype, as in PyTorch; an
            # array-like of float64 (a PyTorch or JAX tensor) keeps it, as a NumPy array does.
            array = array.astype(_default_dtype)
    if array.dtype.kind not in "fiub":
        raise TypeError(
            f"Tensor: data must be numbers or booleans, got dtype {array.dtype} "
            f"from {type(data).__name__} (e.g. {array.reshape(-1)[:3].tolist()})"
        )
    if not array.dtype.isnative:  # (big-endian data from a file: the copy takes the machine's)
        array = array.astype(array.dtype.newbyteorder("="))
    return array


class Tensor:
    """A NumPy array that remembers how it was computed.

    >>> x = Tensor([2.0, 1.0, 0.5], requires_grad=True)
    >>> x.softmax()
    Tensor([0.6285, 0.2312, 0.1402], grad_fn=<SoftmaxBackward>)
    """

    __slots__ = (
        "_data",
        "_grad",
        "_requires_grad",
        "_node",
        "_retains_grad",
        "name",
        "__weakref__",
    )
    # ndarray (op) Tensor defers to the Tensor's reflected operator instead of looping over it.
    __array_ufunc__ = None

    def __init__(
        self, data: Any, requires_grad: bool = False, dtype: Any = None, name: str | None = None
    ):
        self._data = _to_array(data, dtype)
        self._grad: Tensor | None = None
        self._node = None
        self._retains_grad = False
        self._requires_grad = False
        self.name = name
        if requires_grad is not False:
            self.requires_grad = _check_requires_grad("Tensor", requires_grad)

    @classmethod
    def _make(cls, data: np.ndarray, requires_grad: bool = False, ctx: Any = None) -> Tensor:
        """Wrap an ndarray without copying (for the engine and the ops).

        The one place every internal Tensor is made, so it keeps the invariant that ``.data``
        is an ndarray: NumPy returns scalars (``np.float64``) for 0-d results, which have no
        in-place arithmetic and would break an optimiser's ``buffer *= momentum``.
        """
        tensor = cls.__new__(cls)
        tensor._data = data if type(data) is np.ndarray else np.asarray(data)
        tensor._grad = None
        tensor._requires_grad = requires_grad
        tensor._node = ctx
        tensor._retains_grad = False
        tensor.name = None
        return tensor

    # ----- attributes -------------------------------------------------------------------
    def _set_data(self, value: Any) -> None:
        """``x.data = array`` swaps the numbers behind a tensor, outside the graph (as in PyTorch,
        the shape may change); the value must be an ndarray (or a Tensor, whose array is taken)."""
        if isinstance(value, Tensor):
            value = value._data
        elif isinstance(value, np.generic):
            value = np.asarray(value)
        if not isinstance(value, np.ndarray):
            raise TypeError(f"Tensor.data must be a numpy.ndarray, got {type(value).__name__}")
        if value.dtype.kind not in "fiub":
            raise TypeError(f"Tensor.data must hold numbers or booleans, got dtype {value.dtype}")
        if self._requires_grad and value.dtype.kind != "f":
            raise TypeError(
                "Tensor.data: a tensor that requires grad must hold floating-point data, "
                f"got dtype {value.dtype}"
            )
        self._data = value

    #: the ndarray (read through a C-level getter: this attribute is read on every op)
    data = property(operator.attrgetter("_data"), _set_data)

    def _set_grad(self, value: Tensor | None) -> None:
        """``x.grad = g`` is checked as in PyTorch: None, or a Tensor of ``x``'s shape and dtype."""
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"Tensor.grad must be a Tensor or None, got {type(value).__name__}")
            if value is self:
                raise RuntimeError("Tensor.grad: a tensor cannot be assigned as its own grad")
            if value._data.shape != self._data.shape:
                raise RuntimeError(
                    f"Tensor.grad: assigned grad has shape {value._data.shape}, "
                    f"but the tensor has shape {self._data.shape}"
                )
            if value._data.dtype != self._data.dtype:
                raise RuntimeError(
                    f"Tensor.grad: assigned grad has dtype {value._data.dtype}, "
                    f"but the tensor has dtype {self._data.dtype}"
                )
        self._grad = value

    #: the accumulated gradient, a Tensor of this tensor's shape and dtype, or None
    grad = property(operator.attrgetter("_grad"), _set_grad)

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        value = _check_requires_grad("requires_grad", value)
        if value and self._data.dtype.kind != "f":
            raise TypeError(
                "only floating-point tensors can require gradients; "
                f"this tensor has dtype {self._data.dtype} "
                "(convert it first, e.g. Tensor(data, dtype=np.float32))"
            )
        if not value and self._node is not None:
            raise RuntimeError(
                "requires_grad can only be switched off on a leaf tensor; "
                "use .detach() to get a tensor without a graph"
            )
        self._requires_grad = value

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place and return self."""
        self.requires_grad = requires_grad
        return self

    @property
    def grad_fn(self):
        """The node (a ``Function`` instance) that made this tensor; None for leaves."""
        return self._node

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def dim(self) -> int:
        """The number of axes (``ndim``), as ``torch.Tensor.dim()``."""
        return self._data.ndim

    @property
    def size(self) -> int:
        return self._data.size

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def T(self) -> Tensor:  # noqa: N802 - the NumPy/PyTorch name
        return self.transpose()

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self._data)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise ValueError(
                f"the truth value of a tensor with {self._data.size} elements is ambiguous"
            )
        return bool(self._data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        if copy:  # np.array(t) copies, np.asarray(t) shares (NumPy's protocol)
            return self._data.astype(dtype or self._data.dtype, copy=True)
        return self._data if dtype is None else self._data.astype(dtype)

    # ----- conversions ------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The underlying ndarray (shared, not copied), as ``torch.Tensor.numpy()``."""
        return self._data

    @staticmethod
    def from_numpy(array: np.ndarray) -> Tensor:
        """A tensor on ``array``'s memory, as ``torch.from_numpy``: writing to either changes both.
        The dtype is kept (integers and bools too); ``requires_grad`` is False."""
        if not isinstance(array, np.ndarray):
            raise TypeError(
                f"Tensor.from_numpy: expected a numpy.ndarray, got {type(array).__name__} "
                "(Tensor(data) copies any array-like)"
            )
        if array.dtype.kind not in "fiub":
            raise TypeError(
                f"Tensor.from_numpy: the array must hold numbers or booleans, "
                f"got dtype {array.dtype}"
            )
        if not array.dtype.isnative:
            raise ValueError(
                f"Tensor.from_numpy: the array's byte order ({array.dtype.str}) is not the "
                "machine's, so its memory cannot be shared (as torch.from_numpy); copy it with "
                "Tensor(array)"
            )
        return Tensor._make(array)

    def __dlpack__(
        self,
        stream: Any = None,
        *,
        max_version: Any = None,
        dl_device: Any = None,
        copy: Any = None,
    ) -> Any:
        """The DLPack capsule of the data, shared, not copied (the ndarray's own ``__dlpack__``):
        ``torch.from_dlpack(t)`` and ``np.from_dlpack(t)`` see this tensor's memory.

        A view with a negative stride (``x[::-1]``) is exported as a contiguous copy, as the
        protocol allows unless ``copy=False`` (then a BufferError): PyTorch cannot import negative
        strides (its ``from_numpy`` refuses them; its ``from_dlpack`` aborts the process).
        """
        data = self._data
        if any(stride < 0 for stride in data.strides):
            if copy is False:
                raise BufferError(
                    "__dlpack__: a view with a negative stride cannot be shared without a copy "
                    "(copy=False); use .clone() first"
                )
            data = np.ascontiguousarray(data)
        return data.__dlpack__(
            stream=stream, max_version=max_version, dl_device=dl_device, copy=copy
        )

    def __dlpack_device__(self) -> tuple[int, int]:
        """Where the data lives, for DLPack: always the CPU."""
        return self._data.__dlpack_device__()

    def item(self) -> float | int | bool:
        if self._data.size != 1:
            raise ValueError(
                "item(): only a one-element tensor can become a Python scalar, "
                f"got shape {self.shape}"
            )
        return self._data.item()

    def tolist(self) -> Any:
        return self._data.tolist()

    def detach(self) -> Tensor:
        """A new leaf sharing this tensor's data, cut from the graph."""
        return Tensor._make(self._data)

    def zero_grad(self) -> None:
        """Forget the accumulated gradient (sets ``.grad = None``)."""
        self.grad = None

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf tensor after backward (leaves always keep it)."""
        if not self._requires_grad:
            raise RuntimeError("retain_grad: this tensor does not require grad")
        self._retains_grad = True

    def backward(
        self, gradient: Any = None, retain_graph: bool | None = None, create_graph: bool = False
    ) -> None:
        """Back-propagate from this tensor, accumulating into ``.grad`` of every leaf that
        requires grad."""
        # The one import that runs upwards (the engine stands on Tensor), made at call time, as
        # PyTorch's Tensor.backward does: a reader of tensor.py sees where backward() goes.
        from .autograd import backward

        backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph)

    # ----- operators: each is a registered op's apply (a * b is Mul.apply(a, b), one call) ------
    def __add__(self, other):
        return _ops.add(self, other)

    def __radd__(self, other):
        return _ops.add(other, self)

    def __sub__(self, other):
        return _ops.sub(self, other)

    def __rsub__(self, other):
        return _ops.sub(other, self)

    def __mul__(self, other):
        return _ops.mul(self, other)

    def __rmul__(self, other):
        return _ops.mul(other, self)

    def __truediv__(self, other):
        return _ops.div(self, other)

    def __rtruediv__(self, other):
        return _ops.div(other, self)

    def __pow__(self, other):
        return _ops.pow(self, other)

    def __rpow__(self, other):
        return _ops.pow(other, self)

    def __neg__(self):
        return _ops.neg(self)

    def __matmul__(self, other):
        return _ops.matmul(self, other)

    def __rmatmul__(self, other):
        return _ops.matmul(other, self)

    def __getitem__(self, index):
        return _ops.getitem(self, index)

    # Comparisons give boolean tensors outside the graph, as in PyTorch.
    def __lt__(self, other):
        return Tensor._make(self._data < _data(other))

    def __le__(self, other):
        return Tensor._make(self._data <= _data(other))

    def __gt__(self, other):
        return Tensor._make(self._data > _data(other))

    def __ge__(self, other):
        return Tensor._make(self._data >= _data(other))

    def __eq__(self, other):  # type: ignore[override]
        return Tensor._make(self._data == _data(other))

    def __ne__(self, other):  # type: ignore[override]
        return Tensor._make(self._data != _data(other))

    __hash__ = object.__hash__

    # ----- methods built from registered ops --------------------------------------------
    @accepts_pytorch_spellings
    def flatten(self, start_axis: int = 0, end_axis: int = -1) -> Tensor:
        """The axes ``start_axis`` to ``end_axis`` (both included) merged into one, as
        ``torch.flatten`` (``start_dim=``/``end_dim=`` too); a 0-d tensor becomes shape (1,).
        Built from ``reshape``."""
        shape = self._data.shape
        start = normalize_axis((start_axis,), len(shape), "flatten", shape)
        end = normalize_axis((end_axis,), len(shape), "flatten", shape)
        if not shape:  # (its axis 0 or -1 is checked above)
            return self.reshape(1)
        (start,), (end,) = start, end
        if start > end:
            raise ValueError(
                f"flatten: start_axis {start_axis} comes after end_axis {end_axis} "
                f"for a tensor of shape {shape}"
            )
        return self.reshape(shape[:start] + (math.prod(shape[start : end + 1]),) + shape[end + 1 :])

    @accepts_pytorch_spellings
    def argmax(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        """Indices of the maxima (not differentiable); ``axis`` one int or None (the flat index)."""
        axis = _one_axis(axis, self._data, "argmax")
        return Tensor._make(np.argmax(self._data, axis=axis, keepdims=keepdims))

    @accepts_pytorch_spellings
    def argmin(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        """Indices of the minima (not differentiable); ``axis`` one int or None (the flat index)."""
        axis = _one_axis(axis, self._data, "argmin")
        return Tensor._make(np.argmin(self._data, axis=axis, keepdims=keepdims))

    # ----- constructors -----------------------------------------------------------------
    @staticmethod
    def zeros(*shape, requires_grad: bool = False, dtype: Any = None) -> Tensor:
        """A tensor of zeros: ``zeros(2, 3)`` or ``zeros((2, 3))``."""
        values = np.zeros(_shape(shape, "Tensor.zeros"), dtype=_dtype(dtype, "Tensor.zeros"))
        return Tensor(values, requires_grad=_check_requires_grad("Tensor.zeros", requires_grad))

    @staticmethod
    def ones(*shape, requires_grad: bool = False, dtype: Any = None) -> Tensor:
        """A tensor of ones: ``ones(2, 3)`` or ``ones((2, 3))``."""
        values = np.ones(_shape(shape, "Tensor.ones"), dtype=_dtype(dtype, "Tensor.ones"))
        return Tensor(values, requires_grad=_check_requires_grad("Tensor.ones", requires_grad))

    @staticmethod
    def randn(*shape, rng=None, requires_grad: bool = False, dtype: Any = None) -> Tensor:
        """Standard normal samples from ``rng``
        (an int seed, a Generator, or the default generator)."""
        size, dtype = _shape(shape, "Tensor.randn"), _dtype(dtype, "Tensor.randn", floating=True)
        _check_requires_grad("Tensor.randn", requires_grad)
        values = as_generator(rng).standard_normal(size)
        return Tensor(values.astype(dtype), requires_grad=requires_grad)

    @staticmethod
    def uniform(
        *shape,
        low: float = 0.0,
        high: float = 1.0,
        rng=None,
        requires_grad: bool = False,
        dtype: Any = None,
    ) -> Tensor:
        """Samples from U[low, high): finite bounds with ``low <= high``
        (equal bounds give that value)."""
        size, dtype = (
            _shape(shape, "Tensor.uniform"),
            _dtype(dtype, "Tensor.uniform", floating=True),
        )
        _check_requires_grad("Tensor.uniform", requires_grad)
        for name, bound in (("low", low), ("high", high)):
            _finite(bound, "Tensor.uniform", name)
        if low > high:
            raise ValueError(
                f"Tensor.uniform: low must be <= high, got low={low!r} > high={high!r}"
            )
        if not math.isfinite(float(high) - float(low)):
            raise ValueError(
                f"Tensor.uniform: the range high - low overflows (low={low!r}, high={high!r})"
            )
        values = as_generator(rng).uniform(low, high, size)
        return Tensor(values.astype(dtype), requires_grad=requires_grad)

    @staticmethod
    def arange(*args, requires_grad: bool = False, dtype: Any = None) -> Tensor:
        """As ``numpy.arange`` (``arange(stop)``, ``arange(start, stop)``,
        ``arange(start, stop, step)``); float ranges take the default dtype."""
        if not 1 <= len(args) <= 3:
            raise TypeError(
                f"Tensor.arange: expected 1 to 3 numbers (start, stop, step), got {len(args)}"
            )
        for name, arg in zip(("start", "stop", "step") if len(args) > 1 else ("stop",), args):
            _finite(arg, "Tensor.arange", name)
        if len(args) == 3 and args[2] == 0:
            raise ValueError(f"Tensor.arange: step must be nonzero, got {args[2]!r}")
        explicit = dtype is not None
        dtype = _dtype(dtype, "Tensor.arange") if explicit else None
        _check_requires_grad("Tensor.arange", requires_grad)
        values = np.arange(*args, dtype=dtype)
        if not explicit and values.dtype.kind == "f":
            values = values.astype(_default_dtype)
        return Tensor(values, requires_grad=requires_grad)

    @staticmethod
    def eye(n: int, m: int | None = None, requires_grad: bool = False, dtype: Any = None) -> Tensor:
        """The ``n`` x ``m`` identity matrix (``m`` defaults to ``n``)."""
        n = _size(n, "Tensor.eye", "n")
        m = n if m is None else _size(m, "Tensor.eye", "m")
        values = np.eye(n, m, dtype=_dtype(dtype, "Tensor.eye"))
        return Tensor(values, requires_grad=_check_requires_grad("Tensor.eye", requires_grad))

    # ----- display ----------------------------------------------------------------------
    def __repr__(self) -> str:
        body = np.array2string(
            self._data, precision=4, separator=", ", prefix="Tensor(", suppress_small=False
        )
        extras = []
        if self._data.dtype not in (_default_dtype, np.int64, np.bool_):
            extras.append(f"dtype={self._data.dtype}")
        if self._node is not None:
            extras.append(f"grad_fn={self._node!r}")
        elif self._requires_grad:
            extras.append("requires_grad=True")
        return "Tensor(" + ", ".join([body, *extras]) + ")"


def _one_axis(axis: Any, data: np.ndarray, op: str) -> int | None:
    """``axis`` (None, or one int in range; a 0-d tensor's is 0 or -1) as NumPy takes it, or a clear
    error naming ``op``."""
    if axis is None:
        return None
    if isinstance(axis, bool) or not isinstance(axis, int | np.integer):
        raise TypeError(f"{op}: axis must be an int or None, got {axis!r}")
    axes = normalize_axis(axis, data.ndim, op, data.shape)
    return axes[0] if axes else None  # (a 0-d tensor's axis 0 is the whole tensor)


def _data(value: Any) -> Any:
    return value.data if isinstance(value, Tensor) else value


def _shape(shape: tuple, what: str = "shape") -> tuple[int, ...]:
    """Accept both ``zeros(2, 3)`` and ``zeros((2, 3))``; every size an int >= 0 (a clear error
    naming ``what``)."""
    return tuple(_size(size, what, "each size") for size in shape_argument(shape))


def _size(value: Any, what: str, name: str) -> int:
    """One size (a dimension, ``eye``'s n): an int >= 0,
    or a clear error naming ``what`` and ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{what}: {name} must be an int, got {type(value).__name__} {value!r}")
    if value < 0:
        raise ValueError(f"{what}: {name} must be non-negative, got {value}")
    return int(value)


def _finite(value: Any, what: str, name: str) -> None:
    """Check that ``value`` is a finite real number (a bound of a range)."""
    if not isinstance(value, numbers.Real):
        raise TypeError(f"{what}: {name} must be a number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{what}: {name} must be finite, got {value!r}")


def _dtype(dtype: Any, what: str, floating: bool = False) -> np.dtype:
    """The dtype a constructor makes (None: the default dtype), or a clear error naming ``what``."""
    if dtype is None:
        return _default_dtype
    try:
        parsed = np.dtype(dtype)
    except (TypeError, ValueError):
        raise TypeError(f"{what}: {dtype!r} is not a dtype") from None
    allowed = "f" if floating else "fiub"
    if parsed.kind not in allowed:
        expected = "a floating-point dtype" if floating else "a numeric or bool dtype"
        raise TypeError(f"{what}: expected {expected}, got {parsed}")
    return parsed


def _check_requires_grad(what: str, requires_grad: Any) -> bool:
    """``requires_grad`` itself, if it is a bool (as in PyTorch: not an int, not a string)."""
    if not isinstance(requires_grad, bool):
        raise TypeError(
            f"{what}: requires_grad must be a bool (True or False), "
            f"got {type(requires_grad).__name__} {requires_grad!r}"
        )
    return requires_grad
