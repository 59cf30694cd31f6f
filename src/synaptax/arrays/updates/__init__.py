"""Update rules: optax-shaped transforms from a desired weight change to device pulses.

See :mod:`synaptax.arrays.updates.base` for the request types and :func:`chain`.  Adding a
rule: one file in this package (a subclass of :class:`AbstractUpdateRule`) and one line in
:data:`UPDATE_RULES`.
"""
from .base import (AbstractUpdateRule, Chain, Gradient, OuterProduct, UpdateCost, WeightChange, Written,
                   apply_rule, chain)
from .coincidence import StochasticCoincidence, coincidence_update
from .programmed import ProgrammedPulses, programmed_update
from .transfer import Transfer, TransferState
from .transforms import Accumulate, Optax, OuterGradient

#: Update rules by name.
UPDATE_RULES: dict[str, type[AbstractUpdateRule]] = {
    "coincidence": StochasticCoincidence,
    "programmed": ProgrammedPulses,
    "outer-gradient": OuterGradient,
    "optax": Optax,
    "accumulate": Accumulate,
    "transfer": Transfer,
}

__all__ = [
    "AbstractUpdateRule", "Accumulate", "Chain", "Gradient", "Optax", "OuterGradient", "OuterProduct",
    "ProgrammedPulses", "StochasticCoincidence", "Transfer", "TransferState", "UPDATE_RULES", "UpdateCost",
    "WeightChange", "Written", "apply_rule", "chain",
    "coincidence_update", "programmed_update",
]
