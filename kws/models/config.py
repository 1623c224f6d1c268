"""The model configuration shared by every family."""

from __future__ import annotations

import dataclasses

DS_CNN_SIZES = ("s", "m", "l")
STREAMABLE_FAMILIES = ("ds_cnn", "bc_resnet")
"""Families that can be built streamable (and so converted to stateful streaming models)."""


@dataclasses.dataclass(kw_only=True, frozen=True)
class ModelConfig:
    """Which network and how big."""

    name: str = "ds_cnn"
    """Family: tiny_conv, cnn, ds_cnn, bc_resnet, crnn."""
    num_classes: int = 12
    """Output classes (softmax)."""
    size: str = "s"
    """ds_cnn size from Hello Edge: s, m or l."""
    channels: int = 0
    """ds_cnn channels of every layer; 0: the size's own (S 64, M 172, L 276). Strides and depth
    stay the size's: e.g. size s with 72 channels is a wider S that still fits 54 KB as int8."""
    width: int = 1
    """bc_resnet width multiplier (BC-ResNet-1 ... BC-ResNet-8); crnn/cnn scale their channels by it."""
    dropout: float = 0.2
    """Dropout rate before the classifier (and inside blocks where the paper has it)."""
    streamable: bool = False
    """Time-axis convolutions without padding ('valid' in time, 'same' in frequency), so that the
    trained model converts exactly into a stateful streaming model (kws.models.streaming).
    bc_resnet then uses temporal dilation 1 (its dilated stack would see more frames than a window
    holds). False: 'same' padding in time, as the papers (and runs made before this option)."""

    def __post_init__(self):
        if self.num_classes < 2:
            raise ValueError("num_classes must be >= 2")
        if self.size not in DS_CNN_SIZES:
            raise ValueError(f"unknown size {self.size!r}; valid: {', '.join(DS_CNN_SIZES)}")
        if self.channels and not 8 <= self.channels <= 512:
            raise ValueError("channels must be 0 (the size's own) or in 8..512")
        if self.channels and self.name != "ds_cnn":
            raise ValueError(f"channels is a ds_cnn option; {self.name} scales with width")
        if not 1 <= self.width <= 8:
            raise ValueError("width must be in 1..8")
        if not 0 <= self.dropout < 1:
            raise ValueError("dropout must be in [0, 1)")
        if self.streamable and self.name not in STREAMABLE_FAMILIES:
            raise ValueError(f"{self.name} cannot be built streamable; streamable families: "
                             f"{', '.join(STREAMABLE_FAMILIES)}")
