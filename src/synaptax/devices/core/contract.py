"""The one contract every device family keeps.

A device *model* (an :class:`AbstractDevice`, an ``equinox.Module``) holds parameters; its
*state* (an :class:`AbstractDeviceState`) is a separate pytree created by
:meth:`AbstractDevice.init`, passed in and returned by every operation.  Every operation
works per cell and is vectorised over an array of any shape ``S``, so one model serves one
cell, a crossbar tile or a stack of tiles; ``jax.jit``, ``jax.vmap`` (over keys, states, or
a stacked batch of models — a parameter sweep) and, where the quantity is continuous,
``jax.grad`` apply to every public method.

What the contract fixes, and where each piece is implemented once for every family:

=====================  =====================================================  ==========
piece                  meaning                                                where
=====================  =====================================================  ==========
``init``               state of an array, d2d variation from ``key``           here (final); family: ``_init``
bounds, stuck faults   per-cell window and fault codes, one sampler            :mod:`.variability`
``apply_pulses``       signed counts or :class:`PulseCounts` → new state       here (final); family: ``_apply_counts``
``evolve``             let time pass; duration checked here                   here (final); family: ``_evolve``
``conductance``        [S], shape ``S``                                       here (final): ``state.conductance``
``read``               conductance with read noise                            :mod:`.readout`, called here; family: ``_relative_read_noise`` (optional)
``programming_noise``  std [S] of programming a target (deployment)           here (zeros); family may override
``pulse_energy``       J per pulse, :class:`PulseEnergy`                       family
``nominal_step``       S per pulse at mid-range (weight mapping)               family
=====================  =====================================================  ==========

Families never re-implement a final method: they implement the ``_``-prefixed hooks.
:meth:`AbstractDevice.programming_noise_std` is the one public method a family may
override (it is not final): the default says "no programming noise known".
"""


import abc
from typing import ClassVar, NamedTuple

import equinox as eqx
from equinox import AbstractVar
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int8, PRNGKeyArray

from ..._checks import is_concrete
from .readout import read_conductance, read_noise_std
from .variability import CellSample, Variability

#: Fault codes of :attr:`AbstractDeviceState.stuck` (int8).
WORKING, STUCK_MIN, STUCK_MAX = 0, 1, 2


class PulseCounts(NamedTuple):
    """Potentiation and depression pulse *counts* per cell (non-negative, same shape ``S``;
    fractional counts allowed: a fraction of a pulse)."""

    up: Float[ArrayLike, "*S"]
    down: Float[ArrayLike, "*S"]


class PulseEnergy(NamedTuple):
    """Energy [J] of one potentiation (``up``) and one depression (``down``) pulse per cell
    (each of shape ``S``, ≥ 0)."""

    up: Float[Array, "*S"]
    down: Float[Array, "*S"]


def split_pulses(pulses) -> PulseCounts:
    """Return ``pulses`` as :class:`PulseCounts`.

    A signed array ``n`` becomes ``PulseCounts(up=max(n, 0), down=max(-n, 0))``; a
    :class:`PulseCounts` is returned with its counts as arrays.  Anything else (for example
    a :class:`PulseEnergy`) is refused.
    """
    if isinstance(pulses, PulseCounts):
        return PulseCounts(jnp.asarray(pulses.up), jnp.asarray(pulses.down))
    if isinstance(pulses, tuple):
        raise TypeError(f"pulses must be a signed count array or a PulseCounts, got {type(pulses).__name__}")
    n = jnp.asarray(pulses)
    return PulseCounts(jnp.maximum(n, 0), jnp.maximum(-n, 0))


class AbstractDeviceState(eqx.Module):
    """What the state of every array of devices holds (each of the array's shape ``S``).

    A family's state class adds its own variables (ions, spins, …) as fields.

    Attributes:
        conductance: conductance [S] a read sees (before read noise).
        g_min: this cell's lower conductance bound [S] (device-to-device sample).
        g_max: this cell's upper conductance bound [S].
        stuck: int8 fault code: :data:`WORKING` (0), :data:`STUCK_MIN` (1: at ``g_min``),
            :data:`STUCK_MAX` (2: at ``g_max``).
    """

    conductance: AbstractVar[Array]
    g_min: AbstractVar[Array]
    g_max: AbstractVar[Array]
    stuck: AbstractVar[Array]


def hold_stuck(new: Array, old: Array, stuck: Array) -> Array:
    """``new`` where the cell works, ``old`` where it is stuck (any shape; ``stuck`` int8)."""
    return jnp.where(stuck == WORKING, new, old)


def _check_shape(shape) -> tuple[int, ...]:
    try:
        shape = tuple(int(s) for s in shape)
    except TypeError:
        raise TypeError(f"shape must be a tuple of non-negative integers, got {shape!r}") from None
    if any(s < 0 for s in shape):
        raise ValueError(f"shape must be a tuple of non-negative integers, got {shape!r}")
    return shape


def check_duration(duration) -> None:
    """``ValueError`` unless a concrete ``duration`` [s] is finite and ≥ 0 everywhere (traced
    values are not checked)."""
    if not is_concrete(duration):
        return
    d = np.asarray(duration, dtype=np.float64)
    if np.any(np.isinf(d)) and np.all(~np.isnan(d)):
        raise ValueError("duration must be finite, got inf; for the long-time state evolve for a long finite "
                         "time (for example 1e12 s): every family's evolve returns in bounded time")
    if not np.all(np.isfinite(d)) or np.any(d < 0):
        bad = d[~(np.isfinite(d) & (d >= 0))].ravel()
        raise ValueError(f"duration must be finite and >= 0 s, got {float(bad[0])!r}")


class _Probe(eqx.Module):
    def method(self):
        """Only here to name equinox's bound-method type."""


#: Equinox's bound method: a pytree holding the module, so ``jax.jit(device.method)`` traces
#: the device's parameters (equinox does not export the class).
_BoundMethod = type(_Probe().method)

try:
    class _DocumentedMethod(_BoundMethod):
        """Equinox's bound method, which ``help`` renders as a routine: the method's own
        signature (without ``self``) and docstring instead of the bound method's repr.  (A type
        with ``__get__`` is what :func:`inspect.isroutine` recognises; an instance is never a
        class attribute, so this ``__get__`` is never called as a descriptor.)"""

        def __get__(self, obj, objtype=None):
            return self
except TypeError:  # a future equinox whose bound method cannot be subclassed: plain help()
    _DocumentedMethod = None


class AbstractDevice(eqx.Module):
    """Interface of a device family (see the module docstring for the contract).

    Every family has a :class:`~synaptax.devices.core.variability.Variability` (or a
    family subclass of it) as its ``variability`` field.
    """

    variability: AbstractVar[Variability]
    #: True when :meth:`apply_pulses` acts cell by cell — a cell's new state depends only on
    #: its own state and counts, and a cell without pulses keeps its state exactly — so a
    #: crossbar may apply a step's pulses to the cells that get any and leave the rest
    #: (:mod:`synaptax.arrays.sparse`).  Checked for every preset that sets it by
    #: ``tests/test_conformance.py``.
    cellwise_pulses: ClassVar[bool] = False

    def __getattribute__(self, name: str):
        # every method as a bound method whose help() shows its signature and docstring
        out = super().__getattribute__(name)
        if _DocumentedMethod is not None and type(out) is _BoundMethod:
            out = _DocumentedMethod(out.__func__, out.__self__)
        return out

    # ------------------------------------------------------------------ final methods
    def init(self, shape: tuple[int, ...], *, key: PRNGKeyArray,
             conductance: Float[ArrayLike, "*#S"] | None = None) -> AbstractDeviceState:
        """State of an array of devices of shape ``shape`` (a tuple of ints, e.g.
        ``(rows, cols)``).

        Args:
            shape: array shape ``S``.
            key: PRNG key for device-to-device variation (keyword-only).  It is split into
                two streams: the per-cell bounds and stuck faults every family shares
                (:meth:`Variability.sample_cells`) and the family's own samples.
            conductance: optional initial conductance [S], broadcastable to ``S``, clipped
                to each cell's bounds; the family's default otherwise.  Stuck cells sit at
                their bound whatever it says.

        Returns:
            The family's state (an :class:`AbstractDeviceState`), every field of shape ``S``
            (or ``S`` plus trailing family axes).
        """
        shape = _check_shape(shape)
        k_cells, k_family = jax.random.split(key)
        dtype = jnp.result_type(float)
        cells = self.variability.sample_cells(k_cells, shape, self.conductance_range, dtype)
        g0 = None if conductance is None else jnp.broadcast_to(jnp.asarray(conductance, dtype), shape)
        return self._init(cells, key=k_family, conductance=g0)

    def apply_pulses(self, state: AbstractDeviceState, pulses: Float[ArrayLike, "*S"] | PulseCounts, *,
                     key: PRNGKeyArray) -> AbstractDeviceState:
        """Apply pulses per cell: the potentiation count first, then the depression count.

        Args:
            state: the family's state of shape ``S``.
            pulses: signed pulse count per cell (broadcastable to ``S``; positive
                potentiates) or :class:`PulseCounts` of non-negative ``up``/``down`` counts.
                Counts may be fractional (a fraction of a pulse).
            key: PRNG key for cycle-to-cycle noise (keyword-only).

        Returns:
            The new state; stuck cells do not move.  What one pulse is (amplitude, width,
            train) is a parameter of the device model.
        """
        counts = split_pulses(pulses)
        g = state.conductance
        up = jnp.broadcast_to(counts.up, g.shape).astype(g.dtype)
        down = jnp.broadcast_to(counts.down, g.shape).astype(g.dtype)
        return self._apply_counts(state, up, down, key=key)

    def apply_pulses_many(self, states: tuple, pulses: tuple, *, keys: tuple,
                          max_count: int | None = None) -> tuple:
        """:meth:`apply_pulses` on several arrays of this device at once (the two arrays of
        a differential pair, say): ``states[i]`` gets ``pulses[i]`` with ``keys[i]``.

        ``max_count``: a static bound the caller guarantees, every count being a whole
        number in ``[0, max_count]`` (a coincidence update's batch × train length); a family
        may use it to pick a cheaper exact evaluation.  Returns the new states as a tuple.
        """
        return self._apply_many(tuple(states), tuple(split_pulses(p) for p in pulses), tuple(keys), max_count)

    def evolve(self, state: AbstractDeviceState, duration: Float[ArrayLike, "*#S"]) -> AbstractDeviceState:
        """Let ``duration`` seconds pass with no pulse (relaxation, retention, drift).

        Args:
            state: the family's state of shape ``S``.
            duration: time [s], scalar or broadcastable to ``S``; finite and ≥ 0 (checked
                when concrete: ``inf`` is refused with a ``ValueError``).

        Returns:
            The new state, in bounded time for any finite duration; the identity for
            families without time dependence.  Stuck cells do not move.
        """
        check_duration(duration)
        return self._evolve(state, jnp.asarray(duration, state.conductance.dtype))

    def conductance(self, state: AbstractDeviceState) -> Float[Array, "*S"]:
        """Conductance [S] of every cell, shape ``S`` (no read noise)."""
        return state.conductance

    def read(self, state: AbstractDeviceState, *, key: PRNGKeyArray | None = None) -> Float[Array, "*S"]:
        """Conductance [S] as one read sees it, shape ``S``: with relative read noise
        ``variability.read_noise`` (independent per cell and per read, clipped at zero), or
        the family's state-dependent relative read noise (the hook ``_relative_read_noise``).

        ``key`` is required unless the read noise is a concrete zero.
        """
        return read_conductance(state.conductance, self._relative_read_noise(state), key=key)

    def read_noise_std(self, state: AbstractDeviceState) -> Float[Array, "*S"] | None:
        """Standard deviation [S] of one read of each cell (shape ``S``), or None for a
        noiseless read (a concrete zero relative read noise).  Lets a crossbar apply read
        noise as its exact Gaussian effect on output currents without sampling every cell."""
        return read_noise_std(state.conductance, self._relative_read_noise(state))

    # ------------------------------------------------------------------ overridable
    def programming_noise_std(self, conductance: Float[ArrayLike, "*S"]) -> Float[Array, "*S"]:
        """Standard deviation [S] of the conductance a cell reaches when programmed to the
        target ``conductance`` [S] (any shape ``S``; returned with that shape, float).

        An inference-deployment workflow programs trained weights as
        ``g = g_target + N(0, programming_noise_std(g_target))`` per cell, then
        ``init(shape, key=..., conductance=g)`` (which clips to each cell's bounds).  The
        default is zeros: no programming noise known for the family.  A family with a
        programming-error law overrides this method (the PCM family: aihwkit's polynomial);
        unlike the methods above it is not final.
        """
        g = jnp.asarray(conductance)
        return jnp.zeros(g.shape, jnp.result_type(g.dtype, float))

    # ------------------------------------------------------------------ family hooks
    @abc.abstractmethod
    def _init(self, cells: CellSample, *, key: PRNGKeyArray, conductance: Array | None) -> AbstractDeviceState:
        """The family's state from the shared per-cell samples ``cells`` (bounds and faults,
        shape ``S``), the family's own key, and an initial conductance [S] of shape ``S`` or
        None (the family's default)."""

    @abc.abstractmethod
    def _apply_counts(self, state, up: Array, down: Array, *, key: PRNGKeyArray):
        """Apply ``up`` then ``down`` pulses (non-negative float arrays of the state's shape)."""

    def _apply_many(self, states, pulses, keys, max_count):
        return tuple(self.apply_pulses(s, p, key=k) for s, p, k in zip(states, pulses, keys))

    def _evolve(self, state, duration: Array):
        """Time evolution for a checked ``duration`` [s]; the identity by default."""
        return state

    def _relative_read_noise(self, state) -> ArrayLike:
        """Relative standard deviation of one read, a scalar or an array of the state's
        shape ``S``: ``variability.read_noise`` by default.  A family whose read noise
        depends on the state overrides it (the PCM family: 1/f noise that grows with the
        time since programming); :meth:`read` and :meth:`read_noise_std` use it."""
        return self.variability.read_noise

    # ------------------------------------------------------------------ abstract
    @abc.abstractmethod
    def pulse_energy(self, state: AbstractDeviceState) -> PulseEnergy:
        """Energy [J] of one potentiation and one depression pulse per cell (shape ``S``)."""

    @property
    @abc.abstractmethod
    def conductance_range(self) -> tuple[ArrayLike, ArrayLike]:
        """Nominal ``(minimum, maximum)`` conductance [S] of the family's cells (Python
        floats, or arrays when the model's parameters are traced)."""

    @property
    def pulse_time(self) -> float:
        """Time [s] one update pulse occupies in a pulse train (a slot of a coincidence
        train, one programming pulse): the family's pulse width by default; families whose
        update pulse is a train of gate pulses override it (the magneto-ionic burst)."""
        width = getattr(self, "pulse_width", None)
        if width is None:
            raise NotImplementedError(f"{type(self).__name__} defines no pulse_width; override pulse_time")
        return width

    @property
    @abc.abstractmethod
    def nominal_step(self) -> ArrayLike:
        """Nominal conductance change [S] of one pulse at mid-range (a float, or a scalar
        array when the parameters are traced).  The crossbar's weight mapping divides a
        desired weight change by it."""


def stack_models(models):
    """Stack device models of one family and one static structure into one model whose
    every numeric leaf has a leading axis (for ``jax.vmap`` over a parameter sweep)."""
    models = list(models)
    if not models:
        raise ValueError("models must not be empty")
    return jax.tree_util.tree_map(lambda *leaves: jnp.stack([jnp.asarray(v) for v in leaves]), *models)


__all__ = [
    "STUCK_MAX", "STUCK_MIN", "WORKING", "AbstractDevice", "AbstractDeviceState", "PulseCounts", "PulseEnergy",
    "check_duration", "hold_stuck", "split_pulses", "stack_models",
]
