"""The built-in ops, one family per file; importing this package registers them all."""

from . import elementwise, linalg, reduce, shape, softmax  # noqa: F401  (registration happens on import)
