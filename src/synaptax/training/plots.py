"""Plots of a training run (matplotlib, headless Agg backend), written atomically."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from .io import atomic_write_bytes


def _figure():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())


def plot_history(history: list[dict], path: str | Path) -> None:
    """Accuracy and loss per epoch, side by side."""
    plt = _figure()
    epochs = [h["epoch"] for h in history]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.4))
    a1.plot(epochs, [100 * h["test_accuracy"] for h in history], "o-", label="test")
    a1.plot(epochs, [100 * h["train_accuracy"] for h in history], "s--", label="train")
    a1.set_xlabel("epoch"), a1.set_ylabel("accuracy [%]"), a1.legend(), a1.grid(alpha=0.3)
    a2.plot(epochs, [h["train_loss"] for h in history], "o-")
    a2.set_xlabel("epoch"), a2.set_ylabel("training loss"), a2.grid(alpha=0.3)
    _save(fig, Path(path))
    plt.close(fig)


def plot_conductance_histogram(conductances: dict[str, np.ndarray], path: str | Path) -> None:
    """Histogram of every layer's conductances (µS)."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for name, g in conductances.items():
        ax.hist(np.ravel(g) * 1e6, bins=80, histtype="step", label=name)
    ax.set_xlabel("conductance [µS]"), ax.set_ylabel("cells"), ax.legend(fontsize=8)
    _save(fig, Path(path))
    plt.close(fig)

__all__ = [
    "plot_conductance_histogram", "plot_history",
]
