"""The built-in ops, one family per file; importing this package registers them all."""

from . import cross_entropy, elementwise, linalg, reduce, selection, shape, softmax  # noqa: F401  (registration happens on import)
