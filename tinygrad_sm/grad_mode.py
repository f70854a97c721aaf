"""Grad mode: whether ops record the graph, per thread, with its switches ``no_grad`` and
``enable_grad``; and the engine's observer slot (``hooks.observer``), which ``detect_anomaly()``
and ``viz.trace_backward`` use.

Ground floor: imports nothing of the package, so ``function.py`` (whose ``apply`` reads the mode)
and ``autograd.py`` (whose backward switches it) both stand on it.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import threading


class _GradMode(threading.local):
    """Whether ops record the graph (switched by ``no_grad``/``enable_grad``).

    One per thread, as in PyTorch: a ``no_grad()`` block or a ``backward()`` in one
    thread never switches recording off in another. (The class attribute is each
    thread's starting value; ``__init__`` runs once in every thread that looks.)
    """

    enabled = True

    def __init__(self) -> None:
        #: the grad modes that the open ``no_grad``/``enable_grad`` blocks will restore, innermost last
        self.outer_modes: list[bool] = []


grad_mode = _GradMode()


class _Hooks:
    """The engine's observer: an object with ``after_forward`` and ``after_backward`` methods,
    called for every op, that ``detect_anomaly()`` and ``viz.trace_backward`` install (None when
    off). Process-wide, as PyTorch's anomaly mode is."""

    observer = None


hooks = _Hooks()


class _SetGradMode(contextlib.ContextDecorator):
    """Sets this thread's grad mode inside a ``with`` block or a decorated function; nests and restores.

    The mode to restore is kept on the thread's own stack (``grad_mode.outer_modes``), not on
    this object, so one decorated function may run in several threads at once.
    """

    enabled = True

    def __new__(cls, func=None):
        self = super().__new__(cls)
        if func is not None:  # used as a bare decorator: @no_grad
            if not callable(func):
                raise TypeError(
                    f"{cls.__name__}: expected a function to decorate (@{cls.__name__}) or no argument "
                    f"(with {cls.__name__}():), got {type(func).__name__} {func!r}"
                )
            return self(func)
        return self

    def __call__(self, func):
        if inspect.isgeneratorfunction(func):
            return self._wrap_generator(func)
        return super().__call__(func)

    def _wrap_generator(self, func):
        """A decorated generator function runs every step in this mode (a plain decorator would
        cover only the call that creates the generator), as PyTorch's decorators do."""
        mode = type(self)

        @functools.wraps(func)
        def generator(*args, **kwargs):
            steps = func(*args, **kwargs)
            try:
                with mode():
                    response = next(steps)
                while True:
                    try:
                        request = yield response
                    except GeneratorExit:
                        with mode():
                            steps.close()
                        raise
                    except BaseException as error:
                        with mode():
                            response = steps.throw(error)
                    else:
                        with mode():
                            response = steps.send(request)
            except StopIteration as stop:
                return stop.value

        return generator

    def __enter__(self):
        grad_mode.outer_modes.append(grad_mode.enabled)
        grad_mode.enabled = self.enabled
        return self

    def __exit__(self, *exc_info):
        grad_mode.enabled = grad_mode.outer_modes.pop()
        return False


class no_grad(_SetGradMode):  # noqa: N801 - PyTorch's name
    """Context manager and decorator: ops inside record no graph."""

    enabled = False


class enable_grad(_SetGradMode):  # noqa: N801 - PyTorch's name
    """Context manager and decorator: re-enable recording inside ``no_grad``."""

    enabled = True


def is_grad_enabled() -> bool:
    return grad_mode.enabled
