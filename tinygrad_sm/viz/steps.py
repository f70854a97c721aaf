"""draw_backward_steps: backprop as a flip-book, one picture per step of the backward pass."""

from __future__ import annotations

import html
import io
import warnings
from pathlib import Path

from ..tensor import Tensor
from .draw import Gradients, _draw
from .graph import Names
from .text import format_values
from .trace import BackwardStep, trace_backward


def _escape(text: str) -> str:
    return html.escape(text, quote=False)


def _caption(step: BackwardStep, count: int, root_name: str) -> list[str]:
    """What step ``step`` does, in words (HTML lines for the picture's title)."""
    head = f"<b>step {step.index + 1} of {count}</b> · "
    grad = _escape(format_values(step.grad))
    name = _escape(step.name)
    if step.is_leaf:
        return [head + f"<b>{name}</b> is a leaf: backward() adds g = {grad} to {name}.grad"]
    rule = _escape(step.rule)
    sent = [
        f"{_escape(n)} gets {_escape(format_values(g))}"
        for n, g in zip(step.input_names, step.input_grads)
        if n is not None and g is not None
    ]
    root = _escape(root_name)
    return [
        head + f"<b>{_escape(step.op)}</b> made {name}; g = d{root}/d{name} = {grad} arrives",
        f"its rule {rule} sends it back: " + ("; ".join(sent) or "no input needs a gradient"),
    ]


def draw_backward_steps(
    loss: Tensor,
    path: str | Path,
    names: Names = None,
    *,
    show_data: bool = True,
    rankdir: str = "LR",
    max_nodes: int = 200,
    gif: bool = True,
    html_page: bool = True,
    frame_seconds: float = 1.5,
    max_frames: int = 100,
    program: str | None = None,
) -> list[Path]:
    """Write one SVG picture per backward step into the folder ``path``, plus a page to step
    through them.

    Frame 0 is the forward graph; frame k highlights the tensor whose gradient
    step k passes back (and its op), shows every gradient computed so far, and
    says in words what happened. Written files:

    * ``step_000.svg`` ... one per frame;
    * ``steps.html`` (``html_page=True``): a self-contained page with a slider
      (the SVGs are inlined; arrow keys step);
    * ``backward.gif`` (``gif=True``, needs pillow): the frames as an animation.

    Nothing is changed: the steps come from ``trace_backward`` (no ``.grad`` is
    written, the graph is not freed). Returns the paths written.
    """
    trace = trace_backward(loss, names=names)
    if len(trace) + 1 > max_frames:
        raise ValueError(
            f"draw_backward_steps: the backward pass of this graph has {len(trace):,} steps, so "
            f"it needs {len(trace) + 1:,} frames, more than max_frames={max_frames}; pass a larger "
            "max_frames, or step through a smaller graph (draw_graph summarises large ones)"
        )
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    root_name = trace.names[id(loss)]
    full = Gradients.from_trace(trace)
    written: list[Path] = []
    svgs: list[str] = []
    pngs: list[bytes] = []
    image_module = None
    if gif:
        try:
            from PIL import Image

            image_module = Image
        except ImportError:
            warnings.warn(
                "draw_backward_steps: pillow is not installed, so no GIF is written "
                "(pip install pillow)",
                stacklevel=2,
            )
    for frame in range(len(trace) + 1):
        if frame == 0:
            known, highlight = Gradients(), None
            caption = [
                f"<b>before backward</b> · the forward pass made {_escape(root_name)}; "
                f"backward starts there with g = {_escape(format_values(trace.seed))}"
            ]
        else:
            step = trace[frame - 1]
            known, highlight = Gradients.from_trace(trace, frame), step.tensor
            caption = _caption(step, len(trace), root_name)
        picture = _draw(
            loss,
            show_data=show_data,
            show_grad=True,
            rankdir=rankdir,
            names=names,
            max_nodes=max_nodes,
            gradients=known,
            trace=trace,
            highlight=highlight,
            caption=caption,
            scale=full,
        )
        svg = picture.pipe("svg", program=program).decode("utf-8")
        target = folder / f"step_{frame:03d}.svg"
        target.write_text(svg, encoding="utf-8")
        written.append(target)
        svgs.append(svg)
        if image_module is not None:
            pngs.append(picture.pipe("png", program=program))
    if html_page:
        target = folder / "steps.html"
        page = _slider_page(svgs, f"Backward pass of {root_name}, step by step")
        target.write_text(page, encoding="utf-8")
        written.append(target)
    if image_module is not None and pngs:
        target = folder / "backward.gif"
        _write_gif(image_module, pngs, target, frame_seconds)
        written.append(target)
    return written


def _write_gif(image_module, pngs: list[bytes], target: Path, frame_seconds: float) -> None:
    """All frames on canvases of one size (the largest), as an endlessly looping GIF."""
    images = [image_module.open(io.BytesIO(data)).convert("RGB") for data in pngs]
    width, height = max(i.width for i in images), max(i.height for i in images)
    frames = []
    for image in images:
        canvas = image_module.new("RGB", (width, height), "white")
        canvas.paste(image, (0, 0))
        frames.append(canvas)
    frames[0].save(
        target, save_all=True, append_images=frames[1:], duration=int(frame_seconds * 1000), loop=0
    )


def _slider_page(svgs: list[str], title: str) -> str:
    """One HTML file holding every frame; a slider, buttons and arrow keys choose the frame
    shown."""
    frames = "\n".join(
        f'<div class="frame{" on" if i == 0 else ""}">{svg[svg.find("<svg") :]}</div>'
        for i, svg in enumerate(svgs)
    )
    last = len(svgs) - 1
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: Helvetica, Arial, sans-serif; margin: 1em; }}
.frame {{ display: none; }} .frame.on {{ display: block; }}
.frame svg {{ max-width: 100%; height: auto; }}
#controls {{ margin: 0.5em 0 1em; }} #slider {{ width: 24em; vertical-align: middle; }}
</style></head>
<body>
<h2>{html.escape(title)}</h2>
<div id="controls">
<button id="previous" title="left arrow">&#9664; previous</button>
<input id="slider" type="range" min="0" max="{last}" value="0">
<button id="next" title="right arrow">next &#9654;</button>
<span id="position">frame 0 of {last}</span>
</div>
{frames}
<script>
const frames = document.querySelectorAll(".frame");
const slider = document.getElementById("slider");
function show(i) {{
  i = Math.max(0, Math.min({last}, i));
  frames.forEach((f, k) => f.classList.toggle("on", k === i));
  slider.value = i;
  document.getElementById("position").textContent = "frame " + i + " of {last}";
}}
slider.addEventListener("input", () => show(Number(slider.value)));
document.getElementById("previous").addEventListener("click", () => show(Number(slider.value) - 1));
document.getElementById("next").addEventListener("click", () => show(Number(slider.value) + 1));
document.addEventListener("keydown", (e) => {{
  if (e.key === "ArrowLeft") show(Number(slider.value) - 1);
  if (e.key === "ArrowRight") show(Number(slider.value) + 1);
}});
</script>
</body></html>
"""
