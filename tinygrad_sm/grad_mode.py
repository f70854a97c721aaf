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
        #: the grad modes that the open ``no_grad``/``enable_grad`` blocks will restore,
        #: innermost last
        self.outer_modes: list[bool] = []


grad_mode = _GradMode()


class _Hooks:
    """The engine's observer: an object with ``after_forward`` and ``after_backward`` methods,
    called for every op, that ``detect_anomaly()`` and ``viz.trace_backward`` install (None when
    off). Process-wide, as PyTorch's anomaly mode is."""

    observer = None
    #: the recorder of ``tinygrad_sm.jit`` while it records a call (None otherwise)
    recorder = None


hooks = _Hooks()


class Switch(contextlib.ContextDecorator):
    """Changes a setting inside a ``with`` block or a decorated function (a generator function:
    every step of it) and restores it afterwards; nests. ``no_grad``, ``enable_grad`` and
    ``detect_anomaly`` are switches: a subclass says where the setting is (``current``/``set``),
    what it becomes (``new_value``) and where the values to restore are kept (``restore_stack``)."""

    def current(self):
        raise NotImplementedError

    def set(self, value) -> None:
        raise NotImplementedError

    def new_value(self):
        raise NotImplementedError

    def restore_stack(self) -> list:
        raise NotImplementedError

    def __enter__(self):
        self.restore_stack().append(self.current())
        self.set(self.new_value())
        return self

    def __exit__(self, *exc_info):
        self.set(self.restore_stack().pop())
        return False

    def __call__(self, func):
        if inspect.isgeneratorfunction(func):
            return self._wrap_generator(func)
        return super().__call__(func)

    def _wrap_generator(self, func):
        """A decorated generator function runs every step with the switch on (a plain decorator
        would cover only the call that creates the generator), as PyTorch's decorators do."""

        @functools.wraps(func)
        def generator(*args, **kwargs):
            steps = func(*args, **kwargs)
            try:
                with self:
                    response = next(steps)
                while True:
                    try:
                        request = yield response
                    except GeneratorExit:
                        with self:
                            steps.close()
                        raise
                    except BaseException as error:
                        with self:
                            response = steps.throw(error)
                    else:
                        with self:
                            response = steps.send(request)
            except StopIteration as stop:
                return stop.value

        return generator


class _SetGradMode(Switch):
    """Sets this thread's grad mode. The mode to restore is kept on the thread's own stack
    (``grad_mode.outer_modes``), not on this object, so one decorated function may run in
    several threads at once."""

    enabled = True

    def __new__(cls, func=None):
        self = super().__new__(cls)
        if func is not None:  # used as a bare decorator: @no_grad
            if not callable(func):
                raise TypeError(
                    f"{cls.__name__}: expected a function to decorate (@{cls.__name__}) "
                    f"or no argument (with {cls.__name__}():), got {type(func).__name__} {func!r}"
                )
            return self(func)
        return self

    def current(self) -> bool:
        return grad_mode.enabled

    def set(self, value: bool) -> None:
        grad_mode.enabled = value

    def new_value(self) -> bool:
        return self.enabled

    def restore_stack(self) -> list:
        return grad_mode.outer_modes


class no_grad(_SetGradMode):  # noqa: N801 - PyTorch's name
    """Context manager and decorator: ops inside record no graph."""

    enabled = False


class enable_grad(_SetGradMode):  # noqa: N801 - PyTorch's name
    """Context manager and decorator: re-enable recording inside ``no_grad``."""

    enabled = True


def is_grad_enabled() -> bool:
    return grad_mode.enabled
