"""Plots written as PNG (matplotlib, headless Agg backend), saved atomically."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from spikemask.io import atomic_write  # noqa: E402


def save_figure(fig: "plt.Figure", path: str | os.PathLike) -> Path:
    """Save ``fig`` as PNG at ``path`` atomically and close it."""
    try:
        return atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=120, bbox_inches="tight"), "wb")
    finally:
        plt.close(fig)


def plot_training(history: Sequence[dict], path: str | os.PathLike) -> Path:
    """Loss and accuracy per epoch."""
    epochs = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.2))
    a.plot(epochs, [h["train_loss"] for h in history], marker="o")
    a.set(xlabel="epoch", ylabel="training loss")
    b.plot(epochs, [h["train_accuracy"] for h in history], marker="o", label="train")
    b.plot(epochs, [h["test_accuracy"] for h in history], marker="o", label="test")
    b.set(xlabel="epoch", ylabel="accuracy")
    b.legend()
    return save_figure(fig, path)


def plot_accuracy_vs_steps(curves: dict[str, dict[int, float]], path: str | os.PathLike,
                           ann: dict[str, float] | None = None) -> Path:
    """SNN accuracy after t steps (log-2 axis), one curve per label; dashed lines: ANN accuracies."""
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for i, (label, acc) in enumerate(curves.items()):
        steps = sorted(acc)
        line, = ax.plot(steps, [100 * acc[t] for t in steps], marker="o", label=label)
        if ann and label in ann:
            ax.axhline(100 * ann[label], color=line.get_color(), ls="--", lw=0.8)
    ax.set_xscale("log", base=2)
    ax.set(xlabel="time steps T", ylabel="accuracy (%)", title="SNN accuracy vs T (dashed: ANN)")
    ax.legend()
    return save_figure(fig, path)


def plot_power_vs_ratio(ratios: Sequence[float], power: Sequence[float], accuracy: Sequence[float],
                        path: str | os.PathLike, label: str = "") -> Path:
    """Power (α W) and accuracy against the masking ratio, on twin axes."""
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    ax.plot([100 * r for r in ratios], power, marker="o", color="tab:red")
    ax.set(xlabel="masking ratio (%)", ylabel="power (α W)", title=label or "power and accuracy vs masking")
    ax2 = ax.twinx()
    ax2.plot([100 * r for r in ratios], [100 * a for a in accuracy], marker="s", color="tab:blue")
    ax2.set_ylabel("accuracy (%)")
    ax.tick_params(axis="y", colors="tab:red")
    ax2.tick_params(axis="y", colors="tab:blue")
    return save_figure(fig, path)
