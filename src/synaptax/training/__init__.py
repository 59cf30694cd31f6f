"""Analog layers and networks, training algorithms and loops, datasets, checkpoints, reports;
STDP (``stdp``) and device neurons (``neurons``)."""

__all__: list[str] = []
