"""tinygrad_sm/viz/steps.py: draw_backward_steps, one picture per backward step."""

from __future__ import annotations

import pytest
from viz_helpers import needs_renderer

from tinygrad_sm import Tensor
from tinygrad_sm.viz import draw as draw_module
from tinygrad_sm.viz import draw_backward_steps, trace_backward


@needs_renderer
def test_draw_backward_steps_writes_frames_a_page_and_a_gif(tmp_path):
    x = Tensor([1.0, -2.0], requires_grad=True, name="x")
    w = Tensor([0.5, 0.3], requires_grad=True, name="w")
    y = ((x * w).relu() + x).sum()
    written = draw_backward_steps(y, tmp_path / "steps", names={"x": x, "w": w, "y": y})
    steps = trace_backward(y)
    frames = sorted((tmp_path / "steps").glob("step_*.svg"))
    assert len(frames) == len(steps) + 1 == 7
    first, relu_frame = frames[0].read_text(encoding="utf-8"), frames[3].read_text(encoding="utf-8")
    assert "before backward" in first and "grad [" not in first
    assert "step 3 of 6" in relu_frame and ">relu<" in relu_frame
    assert draw_module.COLOURS["highlight"] in relu_frame  # the node being processed
    assert "grad [1, 1]" in relu_frame and "t0 gets [1, 0]" in relu_frame
    page = (tmp_path / "steps" / "steps.html").read_text(encoding="utf-8")
    assert page.count("<svg") == 7 and 'type="range"' in page and "<?xml" not in page
    assert x.grad is None  # nothing was changed
    pil = pytest.importorskip("PIL.Image")
    gif = tmp_path / "steps" / "backward.gif"
    assert gif in written
    with pil.open(gif) as image:
        assert image.n_frames == 7


def test_draw_backward_steps_refuses_too_many_frames(tmp_path):
    h = Tensor([1.0], requires_grad=True)
    for _ in range(200):
        h = h * 1.5
    with pytest.raises(ValueError, match="max_frames=100"):
        draw_backward_steps(h.sum(), tmp_path)
