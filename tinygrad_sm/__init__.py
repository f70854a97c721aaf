"""tinygrad_sm: a small, readable autograd library on NumPy.

>>> from tinygrad_sm import Tensor
>>> x = Tensor([2.0, 1.0, 0.5], requires_grad=True)
>>> p = x.softmax()
>>> p[0].backward()
"""

from . import data, distributions, nn, optim  # noqa: F401  (public sub-packages)
from . import operations as _operations  # noqa: F401  (registers the built-in ops on Tensor)
from .anomaly import detect_anomaly as detect_anomaly  # public: stop at the first NaN/Inf
from .autograd import grad
from .check import GradcheckError, gradcheck, hessian, jacobian
from .function import Function, get_op, ops, register_op
from .grad_mode import enable_grad, is_grad_enabled, no_grad
from .interop import from_dlpack
from .io import load, save  # noqa: F401  (public functions)
from .operations.cross_entropy import SoftmaxTwiceWarning
from .operations.elementwise import maximum, minimum
from .operations.selection import where
from .operations.softmax import LogOfSoftmaxWarning
from .random import manual_seed
from .replay import JitWarning, jit
from .tensor import Tensor, get_default_dtype, set_default_dtype

__version__ = "0.1.0"

__all__ = [
    "Function",
    "GradcheckError",
    "JitWarning",
    "LogOfSoftmaxWarning",
    "SoftmaxTwiceWarning",
    "Tensor",
    "enable_grad",
    "from_dlpack",
    "get_default_dtype",
    "get_op",
    "grad",
    "gradcheck",
    "hessian",
    "is_grad_enabled",
    "jacobian",
    "jit",
    "manual_seed",
    "maximum",
    "minimum",
    "no_grad",
    "ops",
    "register_op",
    "set_default_dtype",
    "where",
]


def __getattr__(name: str):
    """``tinygrad_sm.viz`` (draw_graph, trace_backward, ...) is imported on first use: the pictures
    need the graphviz package, and ``import tinygrad_sm`` needs only NumPy."""
    if name == "viz":
        import importlib

        return importlib.import_module(".viz", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
