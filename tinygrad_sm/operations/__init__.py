"""The built-in ops, one family per file; importing this package registers them all."""

# (registration happens on import; one family a line)
from . import (
    attention,  # noqa: F401
    convolution,  # noqa: F401
    cross_entropy,  # noqa: F401
    elementwise,  # noqa: F401
    embedding,  # noqa: F401
    linalg,  # noqa: F401
    losses,  # noqa: F401
    normalization,  # noqa: F401
    pooling,  # noqa: F401
    reduce,  # noqa: F401
    selection,  # noqa: F401
    shape,  # noqa: F401
    softmax,  # noqa: F401
)
from .softmax import LogOfSoftmaxWarning  # noqa: F401  (log(softmax(x)) warns with it)
