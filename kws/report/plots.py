"""The report's pictures, drawn with matplotlib (Agg) and returned as PNG bytes."""

from __future__ import annotations

import io

import numpy as np


def _pyplot():
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt  # pylint: disable=import-outside-toplevel
    return plt


def _png(fig, dpi: int = 100) -> bytes:
    plt = _pyplot()
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=dpi)
    plt.close(fig)
    return out.getvalue()


def training_curves(series: dict[str, dict[int, float]]) -> bytes:
    """Loss, accuracy and learning rate per epoch (training and validation) side by side.

    Args:
      series: {name: {epoch: value}} with names of kws.report.run.HISTORY_SERIES.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    panels = (("loss", ("loss", "val_loss")), ("accuracy", ("accuracy", "val_accuracy")),
              ("learning rate", ("learning_rate",)))
    for ax, (title, names) in zip(axes, panels):
        drawn = False
        for name in names:
            values = series.get(name)
            if values:
                label = "validation" if name.startswith("val_") else "training"
                ax.plot(list(values), list(values.values()), marker=".", label=label)
                drawn = True
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if drawn and len(names) > 1:
            ax.legend(fontsize=8)
        if not drawn:
            ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes)
    axes[2].ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
    fig.tight_layout()
    return _png(fig)


def log_mel_image(log_mel: np.ndarray, stride_ms: float) -> bytes:
    """A log-mel spectrogram, float [frames, bands], as a small picture (time along x)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(3.6, 1.45))
    frames = log_mel.shape[0]
    ax.imshow(log_mel.T, origin="lower", aspect="auto", cmap="magma",
              extent=(0.0, frames * stride_ms / 1000.0, 0, log_mel.shape[1]))
    ax.set_xlabel("time (s)", fontsize=7, labelpad=1)
    ax.set_ylabel("mel band", fontsize=7, labelpad=1)
    ax.tick_params(labelsize=7, pad=1)
    fig.tight_layout(pad=0.3)
    return _png(fig)
