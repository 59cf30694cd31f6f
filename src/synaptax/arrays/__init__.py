"""Crossbar arrays: tiles, weight mapping, and the update rules that bring pulses to the cells."""
from .crossbar import Crossbar
from .mapping import MAPPINGS, AbstractMapping, CrossbarState, DifferentialPair, ReferenceColumn, get_mapping
from .tile import MVMEnergy, Tile, TileRead

__all__ = ["AbstractMapping", "Crossbar", "CrossbarState", "DifferentialPair", "MAPPINGS", "MVMEnergy",
           "ReferenceColumn", "Tile", "TileRead", "get_mapping"]
