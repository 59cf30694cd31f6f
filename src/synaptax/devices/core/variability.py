"""Device-to-device and cycle-to-cycle variability of pulsed devices.

Every spread is relative (a fraction), so a model and its variability compose freely.
Following aihwkit's convention, each physical parameter has a device-to-device (d2d)
sibling sampled once per cell at :meth:`init` time, and updates get cycle-to-cycle (c2c)
noise drawn per call.
"""
from __future__ import annotations

import equinox as eqx

from ..._checks import check_nonnegative, check_probability, is_concrete


class Variability(eqx.Module):
    """Spreads of a pulsed device; all default to zero (an ideal, uniform array).

    Attributes:
        d2d_step: relative standard deviation of each cell's step size (potentiation and
            depression steps scaled together), sampled per cell; truncated at zero.
        d2d_asymmetry: standard deviation of each cell's up/down asymmetry ``β``
            (``step_up = step·(1 + β)``, ``step_down = step·(1 − β)``), added to the
            model's mean asymmetry.
        d2d_bounds: relative standard deviation of each cell's ``g_min`` and ``g_max``.
        c2c: relative standard deviation of one pulse's conductance change, relative to
            the deterministic change (aihwkit's ``dw_min_std``).  For ``n`` pulses the
            noise standard deviation is ``c2c · |ΔG_det| / √n`` (the sum of ``n``
            independent per-pulse errors); independent of ``c2c_range``'s, the variances
            add.
        c2c_range: standard deviation of one pulse's change relative to the conductance
            range ``g_max − g_min`` (NeuroSim's convention), ``√n``-scaled for ``n`` pulses.
        stuck_min: probability that a cell is stuck at its ``g_min``.
        stuck_max: probability that a cell is stuck at its ``g_max``.
        read_noise: relative standard deviation of a read of the conductance (drawn per
            read, independently per cell).
    """

    d2d_step: float = 0.0
    d2d_asymmetry: float = 0.0
    d2d_bounds: float = 0.0
    c2c: float = 0.0
    c2c_range: float = 0.0
    stuck_min: float = 0.0
    stuck_max: float = 0.0
    read_noise: float = 0.0

    def __check_init__(self):
        for name in ("d2d_step", "d2d_asymmetry", "d2d_bounds", "c2c", "c2c_range", "read_noise"):
            check_nonnegative(name, getattr(self, name))
        check_probability("stuck_min", self.stuck_min)
        check_probability("stuck_max", self.stuck_max)
        if is_concrete((self.stuck_min, self.stuck_max)):
            check_probability("stuck_min + stuck_max", float(self.stuck_min) + float(self.stuck_max))
