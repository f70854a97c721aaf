"""Tensor: an ndarray, a grad, and the node that made it.

Every differentiable method (``exp``, ``sum``, ``softmax``, ``cross_entropy``,
...) is attached to this class by :func:`tinygrad_sm.register_op` from the op's
``Function`` class in ``tinygrad_sm/ops/``; the operators below only delegate to
those methods. The engine that walks the graph lives in ``autograd.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .random import as_generator

_default_dtype = np.dtype(np.float32)


def set_default_dtype(dtype: Any) -> None:
    """Set the dtype that Python floats and float lists become (float32 or float64)."""
    global _default_dtype
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"set_default_dtype: only float32 and float64 are supported, got {dtype}")
    _default_dtype = dtype


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
    else:
        try:
            array = np.array(data, dtype=dtype)
        except ValueError as error:
            if "inhomogeneous" in str(error) or "sequence" in str(error):
                raise ValueError(f"Tensor: nested lists must be rectangular (all rows the same length): {error}") from None
            raise ValueError(f"Tensor: cannot make a tensor from {type(data).__name__} data: {error}") from None
        except TypeError as error:
            raise TypeError(f"Tensor: cannot make a tensor from {type(data).__name__} data: {error}") from None
        if dtype is None and array.dtype == np.float64:
            # Python floats (and lists of them) take the default dtype, as in PyTorch.
            array = array.astype(_default_dtype)
    if array.dtype.kind not in "fiub":
        raise TypeError(
            f"Tensor: data must be numbers or booleans, got dtype {array.dtype} from {type(data).__name__} "
            f"(e.g. {array.reshape(-1)[:3].tolist()})"
        )
    return array


class Tensor:
    """A NumPy array that remembers how it was computed.

    >>> x = Tensor([2.0, 1.0, 0.5], requires_grad=True)
    >>> x.softmax()
    Tensor([0.6285, 0.2312, 0.1402], grad_fn=<SoftmaxBackward>)
    """

    __slots__ = ("data", "grad", "_requires_grad", "_ctx", "_retains_grad", "name", "__weakref__")
    # ndarray (op) Tensor defers to the Tensor's reflected operator instead of looping over it.
    __array_ufunc__ = None

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None, name: str | None = None):
        self.data = _to_array(data, dtype)
        self.grad: Tensor | None = None
        self._ctx = None
        self._retains_grad = False
        self._requires_grad = False
        self.name = name
        if requires_grad:
            self.requires_grad = True

    @classmethod
    def _make(cls, data: np.ndarray, requires_grad: bool = False, ctx: Any = None) -> Tensor:
        """Wrap an ndarray without copying or checking (for the engine and the ops)."""
        tensor = cls.__new__(cls)
        tensor.data = data
        tensor.grad = None
        tensor._requires_grad = requires_grad
        tensor._ctx = ctx
        tensor._retains_grad = False
        tensor.name = None
        return tensor

    # ----- attributes -------------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if value and self.data.dtype.kind != "f":
            raise TypeError(
                f"only floating-point tensors can require gradients; this tensor has dtype {self.data.dtype} "
                "(convert it first, e.g. Tensor(data, dtype=np.float32))"
            )
        if not value and self._ctx is not None:
            raise RuntimeError(
                "requires_grad can only be switched off on a leaf tensor; use .detach() to get a tensor without a graph"
            )
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place and return self."""
        self.requires_grad = requires_grad
        return self

    @property
    def grad_fn(self):
        """The node (a ``Function`` instance) that made this tensor; None for leaves."""
        return self._ctx

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def T(self) -> Tensor:  # noqa: N802 - the NumPy/PyTorch name
        return self.transpose()

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor with {self.data.size} elements is ambiguous")
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        return self.data if dtype is None else self.data.astype(dtype)

    # ----- conversions ------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The underlying ndarray (shared, not copied), as ``torch.Tensor.numpy()``."""
        return self.data

    def item(self) -> float | int | bool:
        if self.data.size != 1:
            raise ValueError(f"item(): only a one-element tensor can become a Python scalar, got shape {self.shape}")
        return self.data.item()

    def tolist(self) -> Any:
        return self.data.tolist()

    def detach(self) -> Tensor:
        """A new leaf sharing this tensor's data, cut from the graph."""
        return Tensor._make(self.data)

    def zero_grad(self) -> None:
        """Forget the accumulated gradient (sets ``.grad = None``)."""
        self.grad = None

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf tensor after backward (leaves always keep it)."""
        if not self._requires_grad:
            raise RuntimeError("retain_grad: this tensor does not require grad")
        self._retains_grad = True

    def backward(self, gradient: Any = None, retain_graph: bool | None = None, create_graph: bool = False) -> None:
        """Back-propagate from this tensor, accumulating into ``.grad`` of every leaf that requires grad."""
        from .autograd import backward

        backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph)

    # ----- operators: each delegates to a registered op ---------------------------------
    def __add__(self, other):
        return self.add(other)

    def __radd__(self, other):
        return Tensor.add(other, self)

    def __sub__(self, other):
        return self.sub(other)

    def __rsub__(self, other):
        return Tensor.sub(other, self)

    def __mul__(self, other):
        return self.mul(other)

    def __rmul__(self, other):
        return Tensor.mul(other, self)

    def __truediv__(self, other):
        return self.div(other)

    def __rtruediv__(self, other):
        return Tensor.div(other, self)

    def __pow__(self, other):
        return self.pow(other)

    def __rpow__(self, other):
        return Tensor.pow(other, self)

    def __neg__(self):
        return self.neg()

    def __matmul__(self, other):
        return self.matmul(other)

    def __rmatmul__(self, other):
        return Tensor.matmul(other, self)

    def __getitem__(self, index):
        return self.getitem(index)

    # Comparisons give boolean tensors outside the graph, as in PyTorch.
    def __lt__(self, other):
        return Tensor._make(self.data < _data(other))

    def __le__(self, other):
        return Tensor._make(self.data <= _data(other))

    def __gt__(self, other):
        return Tensor._make(self.data > _data(other))

    def __ge__(self, other):
        return Tensor._make(self.data >= _data(other))

    def __eq__(self, other):  # type: ignore[override]
        return Tensor._make(self.data == _data(other))

    def __ne__(self, other):  # type: ignore[override]
        return Tensor._make(self.data != _data(other))

    __hash__ = object.__hash__

    # ----- methods built from registered ops --------------------------------------------
    def flatten(self) -> Tensor:
        """A 1-D view of the tensor (``reshape(-1)``)."""
        return self.reshape(-1)

    def argmax(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        """Indices of the maxima (not differentiable)."""
        return Tensor._make(np.argmax(self.data, axis=axis, keepdims=keepdims))

    def argmin(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        """Indices of the minima (not differentiable)."""
        return Tensor._make(np.argmin(self.data, axis=axis, keepdims=keepdims))

    # ----- constructors -----------------------------------------------------------------
    @staticmethod
    def zeros(*shape, requires_grad: bool = False, dtype: Any = None) -> Tensor:
        return Tensor(np.zeros(_shape(shape), dtype=dtype or _default_dtype), requires_grad=requires_grad)

    @staticmethod
    def ones(*shape, requires_grad: bool = False, dtype: Any = None) -> Tensor:
        return Tensor(np.ones(_shape(shape), dtype=dtype or _default_dtype), requires_grad=requires_grad)

    @staticmethod
    def randn(*shape, rng=None, requires_grad: bool = False, dtype: Any = None) -> Tensor:
        """Standard normal samples from ``rng`` (an int seed, a Generator, or the default generator)."""
        values = as_generator(rng).standard_normal(_shape(shape))
        return Tensor(values.astype(dtype or _default_dtype), requires_grad=requires_grad)

    @staticmethod
    def uniform(*shape, low: float = 0.0, high: float = 1.0, rng=None, requires_grad: bool = False, dtype: Any = None) -> Tensor:
        """Samples from U[low, high)."""
        values = as_generator(rng).uniform(low, high, _shape(shape))
        return Tensor(values.astype(dtype or _default_dtype), requires_grad=requires_grad)

    @staticmethod
    def arange(*args, requires_grad: bool = False, dtype: Any = None) -> Tensor:
        """As ``numpy.arange``; float ranges take the default dtype."""
        values = np.arange(*args, dtype=dtype)
        if dtype is None and values.dtype.kind == "f":
            values = values.astype(_default_dtype)
        return Tensor(values, requires_grad=requires_grad)

    @staticmethod
    def eye(n: int, m: int | None = None, requires_grad: bool = False, dtype: Any = None) -> Tensor:
        return Tensor(np.eye(n, m, dtype=dtype or _default_dtype), requires_grad=requires_grad)

    # ----- display ----------------------------------------------------------------------
    def __repr__(self) -> str:
        body = np.array2string(self.data, precision=4, separator=", ", prefix="Tensor(", suppress_small=False)
        extras = []
        if self.data.dtype not in (_default_dtype, np.int64, np.bool_):
            extras.append(f"dtype={self.data.dtype}")
        if self._ctx is not None:
            extras.append(f"grad_fn={self._ctx!r}")
        elif self._requires_grad:
            extras.append("requires_grad=True")
        return "Tensor(" + ", ".join([body, *extras]) + ")"


def _data(value: Any) -> Any:
    return value.data if isinstance(value, Tensor) else value


def _shape(shape: tuple) -> tuple[int, ...]:
    """Accept both ``zeros(2, 3)`` and ``zeros((2, 3))``."""
    if len(shape) == 1 and isinstance(shape[0], tuple | list):
        return tuple(shape[0])
    return tuple(shape)
