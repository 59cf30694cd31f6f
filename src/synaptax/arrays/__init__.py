"""Crossbar tiles: conductances, weight mapping, MVMs and pulsed updates."""
from .crossbar import Crossbar, CrossbarState, MVMEnergy

__all__ = ["Crossbar", "CrossbarState", "MVMEnergy"]
