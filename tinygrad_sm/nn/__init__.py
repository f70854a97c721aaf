"""Neural-network building blocks: Module, layers, losses.

Example::

    from tinygrad_sm import nn
    model = nn.MLP([64, 128, 10])
    loss = nn.CrossEntropyLoss()(model(x), y)
"""

from . import functional  # noqa: F401  (F: the functional forms)
from .layers import MLP, Dropout, Linear, ReLU, Sigmoid, Softmax, Tanh
from .loss import CrossEntropyLoss
from .module import IncompatibleKeys, Module, Sequential

__all__ = [
    "MLP",
    "CrossEntropyLoss",
    "Dropout",
    "IncompatibleKeys",
    "Linear",
    "Module",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Tanh",
]
