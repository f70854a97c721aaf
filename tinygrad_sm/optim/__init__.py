"""Optimisers with PyTorch's update rules and state dicts, and learning-rate schedulers.

``optim.SGD``, ``optim.Adam``, ``optim.AdamW``, ``optim.RMSprop`` (each a file of its own, on
the base class in ``optimizer.py``), and ``optim.lr_scheduler`` with ``StepLR``,
``ExponentialLR``, ``CosineAnnealingLR``, ``LinearLR`` and ``LambdaLR``.

Example::

    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.5)
    for epoch in range(30):
        ...  # zero_grad(), backward(), optimizer.step() for each batch
        scheduler.step()
"""

from . import lr_scheduler  # noqa: F401  (optim.lr_scheduler.StepLR, ...)
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "RMSprop"]
