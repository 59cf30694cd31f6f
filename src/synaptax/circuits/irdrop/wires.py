"""Documented wire resistance per cell segment (NeuroSim tables), Ω."""
from __future__ import annotations

from typing import NamedTuple

__all__ = ["WIRE_RESISTANCE_PER_SEGMENT", "WireResistance", "wire_resistance_per_segment"]


class WireResistance(NamedTuple):
    """Wire resistance of one cell-pitch segment of a row and of a column line.

    Attributes:
        r_row: resistance of one row-wire segment, Ω.
        r_col: resistance of one column-wire segment, Ω.
    """

    r_row: float
    r_col: float


#: Per-cell wire resistance, Ω per segment, from the NeuroSim wire tables [pub]
#: (NeuroSim, as restated in docs/device-physics.md §E). Keys: cell type, then node.
#: Only the values stated there are included; the 1T1R values at 32 nm and 22 nm are
#: not given and are absent rather than interpolated.
WIRE_RESISTANCE_PER_SEGMENT: dict[str, dict[str, WireResistance]] = {
    "crosspoint": {
        "45nm": WireResistance(0.49, 0.49),
        "32nm": WireResistance(0.73, 0.73),
        "22nm": WireResistance(1.06, 1.06),
        "14nm": WireResistance(2.03, 2.03),
    },
    "1t1r": {
        "45nm": WireResistance(0.97, 2.92),
        "14nm": WireResistance(4.06, 12.2),
    },
}


def wire_resistance_per_segment(node: str | int, cell: str = "crosspoint") -> WireResistance:
    """Documented per-segment wire resistance for a technology node [pub] NeuroSim.

    Args:
        node: technology node, e.g. ``"22nm"``, ``"22 nm"`` or ``22``.
        cell: ``"crosspoint"`` (one value for rows and columns) or ``"1t1r"``
            (row and column differ; only 45 nm and 14 nm are documented).

    Returns:
        :class:`WireResistance` with ``r_row`` and ``r_col`` in Ω per cell segment,
        ready to pass as ``solve_crossbar(..., r_row=..., r_col=...)``.

    >>> wire_resistance_per_segment("22nm")
    WireResistance(r_row=1.06, r_col=1.06)
    """
    cell_key = str(cell).lower().replace("-", "").replace(" ", "")
    if cell_key not in WIRE_RESISTANCE_PER_SEGMENT:
        raise ValueError(f"cell must be one of {sorted(WIRE_RESISTANCE_PER_SEGMENT)}, got {cell!r}")
    table = WIRE_RESISTANCE_PER_SEGMENT[cell_key]
    key = str(node).lower().replace(" ", "")
    if not key.endswith("nm"):
        key += "nm"
    if key not in table:
        raise ValueError(f"node {node!r} has no documented wire resistance for cell {cell!r}; "
                         f"documented nodes: {sorted(table)}")
    return table[key]
