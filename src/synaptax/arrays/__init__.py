"""Crossbar arrays: tiles, weight mapping, and the update rules that bring pulses to the cells."""
from .crossbar import Crossbar
from .diagnostics import IRDropCurrents, IRDropEffect, ir_drop_currents, ir_drop_effect, ir_drop_effect_report
from .mapping import MAPPINGS, AbstractMapping, CrossbarState, DifferentialPair, ReferenceColumn, get_mapping
from .tile import MVMEnergy, Tile, TileRead

__all__ = ["AbstractMapping", "Crossbar", "CrossbarState", "DifferentialPair", "IRDropCurrents", "IRDropEffect",
           "MAPPINGS", "MVMEnergy", "ReferenceColumn", "Tile", "TileRead", "get_mapping", "ir_drop_currents",
           "ir_drop_effect", "ir_drop_effect_report"]
