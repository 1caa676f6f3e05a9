"""Plots written as PNG, saved atomically.

Figures are built with matplotlib's object-oriented API (:class:`matplotlib.figure.Figure`), which
renders PNG without pyplot, so importing or calling this module never changes the user's backend.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from spikemask.io import atomic_write


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 120, tight: bool = True) -> Path:
    """Save ``fig`` as PNG at ``path`` atomically (``tight``: crop to the drawn area)."""
    return atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=dpi,
                                                    bbox_inches="tight" if tight else None), "wb")


def plot_training(history: Sequence[dict], path: str | os.PathLike) -> Path:
    """Loss and accuracy per epoch."""
    epochs = [h["epoch"] for h in history]
    fig = Figure(figsize=(9, 3.2))
    a, b = fig.subplots(1, 2)
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
    fig = Figure(figsize=(5.5, 3.6))
    ax = fig.subplots()
    for label, acc in curves.items():
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
    fig = Figure(figsize=(5.5, 3.6))
    ax = fig.subplots()
    ax.plot([100 * r for r in ratios], power, marker="o", color="tab:red")
    ax.set(xlabel="masking ratio (%)", ylabel="power (α W)", title=label or "power and accuracy vs masking")
    ax2 = ax.twinx()
    ax2.plot([100 * r for r in ratios], [100 * a for a in accuracy], marker="s", color="tab:blue")
    ax2.set_ylabel("accuracy (%)")
    ax.tick_params(axis="y", colors="tab:red")
    ax2.tick_params(axis="y", colors="tab:blue")
    return save_figure(fig, path)


def errorbar_plot(curves: dict[str, tuple[list[float], list[dict[str, float]]]], xlabel: str, ylabel: str,
                  title: str, path: str | os.PathLike, scale: float = 100.0) -> Path:
    """One line per label: ``(x values, [{"mean", "std"}, ...])``, y scaled by ``scale``, with error bars."""
    fig = Figure(figsize=(5.5, 3.6))
    ax = fig.subplots()
    for label, (xs, ys) in curves.items():
        ax.errorbar(xs, [scale * y["mean"] for y in ys], yerr=[scale * y["std"] for y in ys], marker="o",
                    capsize=3, label=label)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend()
    return save_figure(fig, path)


def plot_sam_grid(image: torch.Tensor, maps: dict[str, torch.Tensor], steps: Sequence[int], title: str,
                  path: str | os.PathLike) -> Path:
    """One PNG: a row per label of ``maps`` (``[T, H, W]`` each), a column per step (1-based), over ``image``.

    ``image`` is ``[C, H, W]``; it is shown in grey (mean over channels, min–max scaled) and each map,
    scaled by its own maximum, in the ``jet`` colour map at 50 % opacity (spike activation maps,
    :mod:`spikemask.measure.sam`).
    """
    grey = image.float().mean(0)
    grey = (grey - grey.min()) / (grey.max() - grey.min()).clamp_min(1e-8)
    fig = Figure(figsize=(1.6 * len(steps), 1.7 * len(maps)))
    axes = fig.subplots(len(maps), len(steps), squeeze=False)
    for row, (label, m) in enumerate(maps.items()):
        for col, step in enumerate(steps):
            ax = axes[row][col]
            ax.imshow(grey.numpy(), cmap="gray")
            frame = m[step - 1]
            ax.imshow((frame / frame.max().clamp_min(1e-8)).numpy(), cmap="jet", alpha=0.5, vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(f"t = {step}", fontsize=8)
            if col == 0:
                ax.set_ylabel(label, fontsize=8)
    fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)


def plot_event_frames(samples: dict[str, np.ndarray], title: str, path: str | os.PathLike,
                      columns: int = 8) -> Path:
    """One row per labelled sample of event frames ``[n, 2 (OFF, ON), S, S]``: ON − OFF counts.

    Shows the first ``columns`` frames; red is ON, blue OFF, each row on one symmetric scale.
    """
    cols = min(columns, min(len(frames) for frames in samples.values()))
    fig = Figure(figsize=(1.6 * cols, 1.7 * len(samples)))
    axes = fig.subplots(len(samples), cols, squeeze=False)
    for row, (label, frames) in zip(axes, samples.items()):
        frames = frames.astype(np.float32)
        diff = frames[:, 1] - frames[:, 0]
        lim = max(1.0, float(np.abs(diff).max()))
        for j, ax in enumerate(row):
            ax.imshow(diff[j], cmap="bwr", vmin=-lim, vmax=lim, interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            ax.set_title(f"frame {j}", fontsize=7)
        row[0].set_ylabel(label, fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path, dpi=100, tight=False)


def plot_energy_by_layer(ops: Sequence[dict], by_op: dict[str, float], path: str | os.PathLike,
                         title: str = "energy per layer") -> Path:
    """Stacked bars of energy (pJ per image, ``by_op``) per layer, split by op kind (``ops`` records).

    A layer is an op name without its last component (``layers.0.blocks.1.attn``); the stack shows how
    much of it is convolution, linear, attention product, softmax, ... .
    """
    layers: dict[str, dict[str, float]] = {}
    for o in ops:
        layer = o["name"].rsplit(".", 1)[0] if "." in o["name"] else o["name"]
        kind = o["op"] + (" (analog)" if o["analog"] else "")
        layers.setdefault(layer, {})
        layers[layer][kind] = layers[layer].get(kind, 0.0) + by_op.get(o["name"], 0.0)
    kinds = sorted({k for v in layers.values() for k in v})
    fig = Figure(figsize=(max(6.0, 0.28 * len(layers) + 2), 4.2))
    ax = fig.subplots()
    bottom = np.zeros(len(layers))
    for kind in kinds:
        values = np.array([layers[layer].get(kind, 0.0) for layer in layers])
        ax.bar(range(len(layers)), values, bottom=bottom, label=kind)
        bottom += values
    ax.set_xticks(range(len(layers)), list(layers), rotation=90, fontsize=6)
    ax.set(ylabel="energy per image (pJ)", title=title)
    ax.legend(fontsize=7)
    return save_figure(fig, path)
