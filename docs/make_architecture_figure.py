"""Draw docs/architecture.png: the data flow through the spikemask packages.

    python docs/make_architecture_figure.py            # writes docs/architecture.png

Boxes are packages (with their main modules), arrows what flows between them. Uses matplotlib's
object-oriented API only (no pyplot state).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

OUT = Path(__file__).resolve().parent / "architecture.png"

FLOW, BLOCK, TOP, BASE = "#dbe9f6", "#fde9c9", "#e3f1dc", "#eeeeee"   # fill colours by role


@dataclass(frozen=True)
class Box:
    """A package drawn as a rounded box: centre ``(x, y)``, size ``w × h`` in axes units (0..19.4 × 0..9)."""

    x: float
    y: float
    w: float
    h: float
    title: str
    body: str
    colour: str

    def left(self) -> tuple[float, float]:
        return self.x - self.w / 2, self.y

    def right(self) -> tuple[float, float]:
        return self.x + self.w / 2, self.y

    def top(self) -> tuple[float, float]:
        return self.x, self.y + self.h / 2

    def bottom(self) -> tuple[float, float]:
        return self.x, self.y - self.h / 2


DATA = Box(1.4, 4.0, 2.4, 2.0, "data/",
           "static: MNIST (bundled),\nCIFAR, ImageFolder\nevents/: formats, frames,\ncache, augment, saccade", FLOW)
MODELS = Box(4.9, 4.0, 2.6, 2.0, "models/",
             "cnn/: resnet, vgg\nmst/: swin, attention\nspikformer/: spikformer,\nsdmformer, pruning\n"
             "_registry: create_model", FLOW)
TRAIN = Box(8.6, 5.15, 2.2, 1.3, "train/", "TrainConfig, Trainer,\ndistill, precise BN", FLOW)
CONVERT = Box(8.6, 2.85, 2.2, 1.3, "convert/", "conversion: QCFS → IF,\nload_model", FLOW)
SIMULATE = Box(12.1, 4.0, 2.2, 1.5, "convert/simulate", "simulate over T steps,\ncumulative_mean,\ncorrect_by_step",
               FLOW)
MEASURE = Box(15.6, 4.0, 2.4, 2.0, "measure/",
              "spikes, synaptic energy,\nevaluation, sam, activity\n\nthe only package\nthat registers hooks", FLOW)
REPORT = Box(18.45, 4.0, 1.5, 1.5, "report/", "tables, plots", FLOW)
SNN = Box(3.0, 1.45, 2.8, 1.3, "snn/", "base, functional, neurons\n(IF, LIF), surrogate, qcfs", BLOCK)
MASKS = Box(6.8, 1.45, 2.8, 1.3, "masks/", "rsm (SpikeMask), dynamic\n(DynamicMask), placement", BLOCK)
BASICS = Box(15.6, 1.45, 5.6, 1.2, "top level",
             "errors.py (SpikemaskError), io.py (atomic writes),\ncheckpoint.py (save / load / build)", BASE)
CLI = Box(4.9, 8.1, 5.2, 1.1, "cli/", "one module per subcommand: parse arguments, print", TOP)
STUDIES = Box(14.3, 8.1, 5.6, 1.1, "studies/",
              "mst (Table 3, sweeps, SAM), sdm (compare, analyze),\ndemo: plain functions over typed configs", TOP)
LIBRARY = (0.05, 0.55, 19.3, 6.35)                    # the frame around the library: x, y, width, height


def draw_box(ax, box: Box) -> None:
    """A rounded rectangle with a bold title line and the package's main modules under it."""
    ax.add_patch(FancyBboxPatch((box.x - box.w / 2, box.y - box.h / 2), box.w, box.h,
                                boxstyle="round,pad=0.02,rounding_size=0.15", facecolor=box.colour,
                                edgecolor="#444444", linewidth=1.2))
    ax.text(box.x, box.y + box.h / 2 - 0.12, box.title, ha="center", va="top", fontsize=12,
            fontweight="bold", family="monospace")
    ax.text(box.x, box.y + box.h / 2 - 0.5, box.body, ha="center", va="top", fontsize=8.5, linespacing=1.3)


def draw_arrow(ax, start: tuple[float, float], end: tuple[float, float], label: str = "",
               style: str = "-|>", dashed: bool = False, label_offset: tuple[float, float] = (0.0, 0.18)) -> None:
    """An arrow from ``start`` to ``end`` with an optional small label above its middle."""
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=16, linewidth=1.4,
                                 color="#333333", linestyle="--" if dashed else "-", shrinkA=2, shrinkB=2))
    if label:
        ax.text((start[0] + end[0]) / 2 + label_offset[0], (start[1] + end[1]) / 2 + label_offset[1], label,
                ha="center", va="bottom", fontsize=8, style="italic", color="#222222")


def make_figure() -> Figure:
    """The whole picture: the main flow left to right, building blocks below, entry points on top."""
    fig = Figure(figsize=(18, 9), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 19.4)
    ax.set_ylim(0, 9)
    ax.set_axis_off()
    x, y, w, h = LIBRARY
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0,rounding_size=0.2", facecolor="none",
                                edgecolor="#888888", linestyle="--", linewidth=1.0))
    ax.text(x + 0.2, y + h - 0.15, "spikemask (the library)", ha="left", va="top", fontsize=10, color="#555555")
    for box in (DATA, MODELS, TRAIN, CONVERT, SIMULATE, MEASURE, REPORT, SNN, MASKS, BASICS, CLI, STUDIES):
        draw_box(ax, box)

    draw_arrow(ax, DATA.right(), MODELS.left(), "[T, B, …]\nbatches")
    draw_arrow(ax, (MODELS.right()[0], 4.6), TRAIN.left(), "ANN / SNN", label_offset=(-0.25, 0.25))
    draw_arrow(ax, (MODELS.right()[0], 3.4), CONVERT.left(), "QCFS ANN", label_offset=(0.05, 0.2))
    draw_arrow(ax, TRAIN.bottom(), CONVERT.top(), "trained\nANN", label_offset=(0.45, -0.25))
    draw_arrow(ax, TRAIN.right(), (SIMULATE.left()[0], 4.4), "direct SNN", label_offset=(0.2, 0.25))
    draw_arrow(ax, CONVERT.right(), (SIMULATE.left()[0], 3.6), "IF-neuron SNN", label_offset=(0.2, -0.6))
    draw_arrow(ax, SIMULATE.right(), MEASURE.left(), "logits\n[T, B, classes]")
    draw_arrow(ax, MEASURE.right(), REPORT.left(), "metrics")

    draw_arrow(ax, SNN.top(), (MODELS.bottom()[0] - 0.6, MODELS.bottom()[1]), "building blocks of models",
               label_offset=(-0.6, 0.2))
    draw_arrow(ax, MASKS.top(), (MODELS.bottom()[0] + 0.6, MODELS.bottom()[1]))
    draw_arrow(ax, SNN.right(), MASKS.left(), "used by", dashed=True)
    ax.text(BASICS.x, BASICS.y + BASICS.h / 2 + 0.1, "used by every package", ha="center", va="bottom",
            fontsize=8, style="italic")

    draw_arrow(ax, CLI.right(), STUDIES.left(), "calls")
    library_top = LIBRARY[1] + LIBRARY[3]
    for caller in (CLI, STUDIES):
        draw_arrow(ax, caller.bottom(), (caller.x, library_top), "call the library", dashed=True,
                   label_offset=(1.0, -0.15))
    ax.text(9.7, 0.15, "import direction: errors/io → snn → masks → models → convert/train → measure → "
            "studies/report → cli (lower layers never import higher ones)", ha="center", va="bottom", fontsize=9,
            style="italic", color="#333333")
    return fig


if __name__ == "__main__":
    make_figure().savefig(OUT)
    print(f"wrote {OUT}")
