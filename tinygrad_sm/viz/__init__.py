"""Backprop you can see: graph pictures, step-by-step backward, and the renderer behind them.

* :func:`draw_graph` — the graph behind a tensor as a ``graphviz.Digraph``
  (values, gradients, each op's backward rule; edges as wide as their gradient);
* :func:`trace_backward` — the backward pass as a list of steps, printable as a table;
* :func:`draw_backward_steps` — one picture per backward step, an HTML slider and a GIF;
* :func:`available_renderers` — which of ``dot`` / ``graphviz-pure`` this machine has.
"""

from .draw import draw_graph
from .render import GraphPicture, RendererNotFoundError, available_renderers, find_renderer
from .steps import draw_backward_steps
from .trace import BackwardStep, BackwardTrace, trace_backward

__all__ = [
    "BackwardStep",
    "BackwardTrace",
    "GraphPicture",
    "RendererNotFoundError",
    "available_renderers",
    "draw_backward_steps",
    "draw_graph",
    "find_renderer",
    "trace_backward",
]
