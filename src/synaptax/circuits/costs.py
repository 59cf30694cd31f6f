"""First-order latency and area of a crossbar network, and the figures of merit of a run.

What is modelled (SI units at every public boundary: m², s, J, W; TOPS/W and TOPS/mm² are
named as such):

* **Area** = cells × cell area + converters.  ``cells`` counts the physical cells of every
  tile, padding included (a tile is built whole), ``devices_per_weight`` per weight.  The
  cell area is the preset's (:func:`cell_area`): a passive cross-point cell, 4F², a 1T1R
  cell, 48F² (both DNN+NeuroSim's [pub]), or the device's own footprint (the geometry its
  energy model uses: the paper's device for the lab presets [paper], a scaled cell
  otherwise).  Converters (:class:`Periphery`): every tile is a training tile with drivers
  on both edges (Gokmen & Vlasov's RPU tile [pub]: forward reads drive the rows, backward
  reads the columns, update pulses both): one DAC per row and one per column, one ADC per
  ``columns_per_adc`` rows and per ``columns_per_adc`` columns.  The DAC of a line also
  drives its update pulses [assumed].
* **MVM latency** of one input vector on one crossbar (:func:`mvm_latency`): DAC settling
  + integration (the tile's ``read_time``) + the conversions one ADC makes in turn (its
  share of the tile's output lines, at most ``columns_per_adc``) × the conversion time.
  The tiles of a layer work in parallel (their partial sums are added digitally, not
  timed); layers and input vectors run one after another (no pipelining).
* **Write latency** (:func:`write_latency`): pulse slots × the device's pulse period
  (:func:`pulse_period`: ns for ReRAM, 0.5 s for the Mg-ion film, seconds for the
  magneto-ionic gate trains) + the rest after the update.  In a run (:func:`run_costs`) the
  slots are those the simulation applied: a stochastic coincidence update applies all the
  cells of an array at once, ``bit_length`` slots (fewer with bit-length management) per
  sample, samples one after another; programmed pulses go row by row, a row taking its
  largest count; layers one after another.
* **Per inference and per update**: energy (the simulation's, from the run's report),
  latency, energy-delay product, TOPS/W and TOPS/mm² (one multiply-accumulate counts as 2
  operations); for the run, total training energy and device time.

Not modelled: digital logic (partial-sum adders, activations, the optimiser, buffers,
routing), static and leakage power (converters are taken as power-gated between
conversions — with pulses of seconds this matters), write-driver sizing for high
voltages (the magneto-ionic gates' 25 V) or currents, access transistors of three-terminal
cells (ECRAM, magneto-ionic, SOT), sense amplifiers and sample-and-hold circuits, the row
and column wire delay, pipelining and batching across tiles, and the energy of the
periphery beyond the simulation's converter energy.

Provenance: every constant is tagged where it is defined — [pub] a publication or its
released code, [paper] the family's source paper (shared/papers), [derived] computed from
tagged numbers, [assumed] chosen where no source gives a value.

This module reads the shapes and parameters of crossbars and devices (Python floats, no
compiled JAX computation) and imports nothing from ``synaptax.arrays`` or
``synaptax.training``: it takes their objects by what they hold (``crossbar.tile``,
``model.crossbars``), so it can run at report time.
"""
import dataclasses
import math
from typing import NamedTuple

# ----------------------------------------------------------------------------- constants
#: Feature size F [m] per technology node [nm]: DNN+NeuroSim's wire width of each node, the
#: feature size of its cell layouts [pub: DNN+NeuroSim V1.4 ``Param.cpp`` (Peng, Huang,
#: Luo, Yu, IEDM 2019), ``featuresize = wireWidth``].
FEATURE_SIZE = {130: 175e-9, 90: 110e-9, 65: 105e-9, 45: 80e-9, 32: 56e-9, 22: 40e-9, 14: 32e-9, 10: 22e-9,
                7: 20e-9}
#: Default technology node [nm] [assumed]: 22 nm, the node of the default wire resistance
#: of a tile (1.06 Ω per segment, NeuroSim's cross-point wire at 22 nm).
DEFAULT_NODE = 22
#: Passive cross-point cell, 2F × 2F [pub: DNN+NeuroSim ``Param.cpp``,
#: ``heightInFeatureSizeCrossbar = widthInFeatureSizeCrossbar = 2``].
CROSSPOINT_CELL_F2 = 4.0
#: 1T1R cell, 4F × 12F [pub: DNN+NeuroSim ``Param.cpp``, ``heightInFeatureSize1T1R = 4``,
#: ``widthInFeatureSize1T1R = 12``].
ONE_T_ONE_R_CELL_F2 = 48.0
#: Columns sharing one ADC [pub: DNN+NeuroSim ``Param.cpp``, ``numColMuxed = 8``].
COLUMNS_PER_ADC = 8
#: Node [nm] of the converter figures below [pub: ISAAC, 32 nm].
CONVERTER_NODE = 32
#: Reference ADC: 8 bit, 1.2 GS/s, 1200 µm² at 32 nm [pub: ISAAC (Shafiee et al., ISCA 2016),
#: its table of components: 8 ADCs per IMA, 16 mW, 0.0096 mm²; the SAR ADC of Kull et al.,
#: ISSCC 2013, 8 b 1.2 GS/s in 32 nm SOI].
ADC_REFERENCE_BITS = 8
ADC_REFERENCE_AREA = 1200e-12           # m²
ADC_REFERENCE_RATE = 1.2e9              # conversions per second
#: 1-bit DAC (input driver): 0.166 µm² at 32 nm [pub: ISAAC, 8 × 128 1-bit DACs per IMA in
#: 0.00017 mm²] [derived: 170 µm² / 1024].
DAC_1BIT_AREA = 170e-12 / 1024          # m²
#: Time constant of a DAC driving its line [s] [assumed]: settling to half an LSB of a
#: ``b``-bit DAC takes ``(b + 1)·ln 2`` of them (single pole), 1.1 ns at 7 bit.
DAC_TIME_CONSTANT = 0.2e-9

#: Cell rule of each preset: ``(kind, provenance)``.  ``kind`` is ``"cross-point"`` (4F²),
#: ``"1T1R"`` (48F²) or ``"footprint"`` (the device's own geometry, read from the model so
#: that area and energy describe the same cell).  A preset not listed takes its family's
#: rule (:data:`FAMILY_CELLS`).
_LAB_MG = ("[paper] the Mg-EIS film device: 1 cm × 0.6 cm WO₃ film in contact with the electrolyte "
           "(Schwacke et al., Adv. Electron. Mater. 2024, §2, §7), the geometry the preset's law and energy are "
           "written for; the Mg_xWO₃ gate reservoir beside it is not counted (a lower bound)")
_NEUROSIM_1T1R = ("[assumed] a NeuroSim benchmark device in a 1T1R array (an access transistor against write "
                  "disturb), cell size [pub] DNN+NeuroSim")
_PCM_1T1R = ("[assumed] a PCM cell with its access transistor (1T1R), as in IBM's PCM test chips (Joshi et al., "
             "Nat. Commun. 11, 2473 (2020)); cell size [pub] DNN+NeuroSim")
_MI_CELL = ("[assumed] the 100 nm × 100 nm gated cell of the preset's gate energy (GateEnergy.cell_area); the "
            "papers gate macroscopic films{lab}")
PRESET_CELLS = {
    "ideal": ("cross-point", "[assumed] an idealised two-terminal device in a passive cross-point array; cell size "
                             "[pub] DNN+NeuroSim"),
    "gokmen-vlasov": ("cross-point", "[assumed] the RPU device of Gokmen & Vlasov (Front. Neurosci. 2016) at the "
                                     "cross-points of a passive array; cell size [pub] DNN+NeuroSim"),
    "reram-sb": ("1T1R", "[assumed] ReRAM with an access transistor (1T1R); cell size [pub] DNN+NeuroSim"),
    "ag-asi": ("1T1R", _NEUROSIM_1T1R),
    "taox-hfox": ("1T1R", _NEUROSIM_1T1R),
    "pcmo": ("1T1R", _NEUROSIM_1T1R),
    "alox-hfo2": ("1T1R", _NEUROSIM_1T1R),
    "epiram": ("1T1R", _NEUROSIM_1T1R),
    "mg-wo3": ("footprint", _LAB_MG),
    "mg-wo3-film": ("footprint", _LAB_MG),
    "mg-wo3-voltage": ("footprint", _LAB_MG),
    "o-wo3": ("footprint", _LAB_MG),
    "mg-wo3-100nm": ("footprint", "[paper] the ≈ 100 nm × 100 nm target cell of the Mg-EIS paper (Schwacke et al. "
                                  "2024)"),
    "h-wo3": ("footprint", "[derived] the H-EIS preset's geometry: 100 µm × 500 µm channel [assumed w/l as Mg's], "
                           "exchange area scaled from the Mg film by the pulse charge"),
    "h-wo3-inert": ("footprint", "[derived] the H-EIS preset's geometry: 100 µm × 500 µm channel [assumed w/l as "
                                 "Mg's], exchange area scaled from the Mg film by the pulse charge"),
    "proton-ecram-ns": ("footprint", "[pub] 30 nm × 60 nm cells (Onen et al., Science 377, 539 (2022))"),
    "cogd": ("footprint", "[derived] the array preset's 200 nm × 400 nm SOT channel, scaled from the paper's Hall "
                          "bar"),
    "cogd-hallbar": ("footprint", "[paper] the 10 µm wide Hall bar (Li et al., Chin. Phys. B 2022) over the model's "
                                  "10 µm cross length [assumed]; the Hall arms not counted"),
    "con-25nm": ("footprint", _MI_CELL.format(lab="")),
    "con-200nm": ("footprint", _MI_CELL.format(lab="")),
    "cofen-high-m": ("footprint", _MI_CELL.format(lab=" (the CoFeN paper's gated sample: 5 mm × 5 mm [paper])")),
    "cofen-low-m": ("footprint", _MI_CELL.format(lab=" (the CoFeN paper's gated sample: 5 mm × 5 mm [paper])")),
    "pcm": ("1T1R", _PCM_1T1R),
    "pcm-no-drift": ("1T1R", _PCM_1T1R),
}
#: Cell rule of a device without a preset entry (a device file, a new preset), by family.
FAMILY_CELLS = {
    "generic": ("1T1R", "[assumed] a two-terminal device of unknown technology (e.g. fitted to measurements) in a "
                        "1T1R array; cell size [pub] DNN+NeuroSim"),
    "electrochemical": ("footprint", "[assumed] the device's geometry: max(channel w × l, ion-exchange area)"),
    "magnetoionic": ("footprint", "[assumed] the device's gated area (GateEnergy.cell_area)"),
    "spintronic": ("footprint", "[assumed] the device's SOT channel, width × length"),
    "pcm": ("1T1R", _PCM_1T1R),
}
_KIND_LABEL = {"cross-point": "cross-point 4F²", "1T1R": "1T1R 48F²", "footprint": "device footprint"}
_FAMILY_OF_MODULE = {"generic": "generic", "electrochemical": "electrochemical", "magnetoionic": "magnetoionic",
                     "spintronic": "spintronic", "pcm": "pcm"}


# ----------------------------------------------------------------------------- checks
def _check_node(node) -> int:
    if isinstance(node, bool) or not isinstance(node, int) or node not in FEATURE_SIZE:
        raise ValueError(f"node must be one of {', '.join(map(str, FEATURE_SIZE))} (nm), got {node!r}")
    return node


def _check_count(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return value


def _check_time(name: str, value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number of seconds >= 0, got {value!r}") from None
    if not (math.isfinite(v) and v >= 0):
        raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value!r}")
    return v


def feature_size(node: int = DEFAULT_NODE) -> float:
    """Feature size F [m] of technology ``node`` [nm] (:data:`FEATURE_SIZE`)."""
    return FEATURE_SIZE[_check_node(node)]


# ----------------------------------------------------------------------------- cells
class CellArea(NamedTuple):
    """The area of one cell (one device) and where it comes from.

    Attributes:
        area: cell area [m²].
        kind: ``"cross-point 4F²"``, ``"1T1R 48F²"`` or ``"device footprint"``.
        source: provenance, with its tag ([pub], [paper], [derived], [assumed]).
    """

    area: float
    kind: str
    source: str


def _family(device) -> str:
    for part in type(device).__module__.split("."):
        if part in _FAMILY_OF_MODULE:
            return _FAMILY_OF_MODULE[part]
    return "generic"


def _footprint(device, family: str) -> float:
    """The device's own area [m²] (the geometry its energy model uses)."""
    if family == "electrochemical":
        g = device.geometry
        return max(float(g.channel_width) * float(g.channel_length), float(g.exchange_area))
    if family == "magnetoionic":
        return float(device.energy.cell_area)
    if family == "spintronic":
        return float(device.width) * float(device.length)
    raise ValueError(f"a {type(device).__name__} has no footprint rule; give it a cross-point or 1T1R cell")


def _known_preset(name: str) -> bool:
    from ..devices.registry import PRESETS

    return name in PRESETS


def cell_area(device, *, preset: str | None = None, node: int = DEFAULT_NODE) -> CellArea:
    """Area of one cell of ``device``.

    Args:
        device: the device model (an ``AbstractDevice``); a footprint rule reads its
            geometry (ECRAM ``geometry``, magneto-ionic ``energy.cell_area``, Co/Gd
            ``width × length``).
        preset: the preset name the device was built from (:data:`PRESET_CELLS` gives its
            rule); None or a device file (``*.toml``): the device family's rule
            (:data:`FAMILY_CELLS`).  A name that is neither raises ``ValueError``.
        node: technology node [nm] for the F²-sized cells (:data:`FEATURE_SIZE`).

    Returns:
        :class:`CellArea` (area in m²).
    """
    _check_node(node)
    family = _family(device)
    if preset is not None and not str(preset).endswith(".toml"):
        if preset in PRESET_CELLS:
            kind, source = PRESET_CELLS[preset]
        elif _known_preset(preset):
            kind, source = FAMILY_CELLS[family]
        else:
            from ..devices.registry import PRESETS

            raise ValueError(f"preset must be a device preset name or a device file (*.toml), got {preset!r}; "
                             f"valid names: {', '.join(sorted(PRESETS))}")
    else:
        kind, source = FAMILY_CELLS[family]
    f = FEATURE_SIZE[node]
    if kind == "cross-point":
        area = CROSSPOINT_CELL_F2 * f * f
        source = f"{source}: 4F², F = {f * 1e9:g} nm at the {node} nm node"
    elif kind == "1T1R":
        area = ONE_T_ONE_R_CELL_F2 * f * f
        source = f"{source}: 48F², F = {f * 1e9:g} nm at the {node} nm node"
    else:
        area = _footprint(device, family)
    return CellArea(area, _KIND_LABEL[kind], source)


# ----------------------------------------------------------------------------- pulses
def pulse_period(device) -> float:
    """Time [s] one update pulse occupies on an array of ``device``: the contract's
    ``pulse_time`` — the pulse width of the generic, ECRAM and Co/Gd families (10 ns for
    ``reram-sb``, 0.5 s for the Mg-ion film, 10 ms for the Co/Gd Hall bar), a burst of gate
    pulses at the train's period for the magneto-ionic family (1 s for the presets) —
    the time :mod:`synaptax.devices.describe` shows.  ``ValueError`` for a device that
    defines none."""
    try:
        period = float(device.pulse_time)
    except NotImplementedError:
        raise ValueError(f"{type(device).__name__} defines no pulse time (pulse_width or pulse_time); "
                         f"its write latency is unknown") from None
    if not (math.isfinite(period) and period > 0):
        raise ValueError(f"{type(device).__name__}.pulse_time must be positive and finite, got {period!r}")
    return period


def _train_rest(device) -> float:
    """The 0 V rest a magneto-ionic array takes after each pulse train [s] (0 otherwise)."""
    train = getattr(device, "train", None)
    return float(getattr(train, "rest", 0.0) or 0.0) if train is not None else 0.0


def write_latency(device, slots: float, *, rest_time: float = 0.0) -> float:
    """Duration [s] of writing an array: ``slots × pulse_period(device)`` plus the device's
    own rest after a train (the magneto-ionic ``train.rest``) plus ``rest_time`` [s].

    ``slots`` is the number of pulse slots applied one after another: all the cells an
    update drives in parallel share a slot (a stochastic coincidence update: ``bit_length``
    slots per sample, samples in turn; programmed pulses: rows in turn, each its largest
    count)."""
    slots = float(slots)
    if not (math.isfinite(slots) and slots >= 0):
        raise ValueError(f"slots must be a finite number >= 0, got {slots!r}")
    rest_time = _check_time("rest_time", rest_time)
    return slots * pulse_period(device) + _train_rest(device) + rest_time


# ----------------------------------------------------------------------------- periphery
def _bits(converter) -> int | None:
    bits = getattr(converter, "bits", None)
    return None if bits is None else int(bits)


@dataclasses.dataclass(frozen=True)
class Periphery:
    """The converter figures and the assumptions of the cost model.

    Attributes:
        node: technology node [nm] (:data:`FEATURE_SIZE`); default :data:`DEFAULT_NODE`.
            Cells use its feature size; the converters' 32 nm areas are scaled by
            ``(node / 32 nm)²`` [assumed: ideal scaling; analog circuits scale worse, so
            below 32 nm this is optimistic].  Times are not scaled.
        columns_per_adc: lines sharing one ADC (integer ≥ 1) [pub: DNN+NeuroSim, 8].
        dac_time_constant: time constant [s] of a DAC settling on its line [assumed 0.2 ns].

    An ideal converter (``bits=None``) is costed as nothing (no area, no time): the
    estimate is then a lower bound.
    """

    node: int = DEFAULT_NODE
    columns_per_adc: int = COLUMNS_PER_ADC
    dac_time_constant: float = DAC_TIME_CONSTANT

    def __post_init__(self):
        _check_node(self.node)
        _check_count("columns_per_adc", self.columns_per_adc)
        if not (isinstance(self.dac_time_constant, (int, float)) and math.isfinite(self.dac_time_constant)
                and self.dac_time_constant >= 0):
            raise ValueError(f"dac_time_constant must be a finite number of seconds >= 0, got "
                             f"{self.dac_time_constant!r}")

    @property
    def feature_size(self) -> float:
        """F [m] of the node."""
        return FEATURE_SIZE[self.node]

    @property
    def area_scale(self) -> float:
        """Area factor from the converters' 32 nm node to this node, ``(node/32)²`` [assumed]."""
        return (self.node / CONVERTER_NODE) ** 2

    def adc_area(self, bits: int | None) -> float:
        """Area [m²] of one ``bits``-bit ADC: ISAAC's 8-bit 1200 µm² [pub] × ``2^(bits − 8)``
        [assumed: the capacitive DAC of a SAR ADC doubles per bit] × :attr:`area_scale`."""
        if bits is None:
            return 0.0
        return ADC_REFERENCE_AREA * 2.0 ** (int(bits) - ADC_REFERENCE_BITS) * self.area_scale

    def adc_conversion_time(self, bits: int | None) -> float:
        """Time [s] of one conversion: ISAAC's 1/(1.2 GS/s) at 8 bit [pub] × ``bits/8``
        [assumed: a SAR ADC decides one bit per cycle]."""
        if bits is None:
            return 0.0
        return int(bits) / ADC_REFERENCE_BITS / ADC_REFERENCE_RATE

    def dac_area(self, bits: int | None) -> float:
        """Area [m²] of one ``bits``-bit DAC (line driver): ISAAC's 1-bit DAC [pub] ×
        ``2^(bits − 1)`` [assumed: unit elements double per bit] × :attr:`area_scale`."""
        if bits is None:
            return 0.0
        return DAC_1BIT_AREA * 2.0 ** (int(bits) - 1) * self.area_scale

    def dac_settling_time(self, bits: int | None) -> float:
        """Time [s] for a ``bits``-bit DAC to settle to half an LSB:
        ``(bits + 1)·ln 2·dac_time_constant`` [assumed, single pole]."""
        if bits is None:
            return 0.0
        return (int(bits) + 1) * math.log(2.0) * self.dac_time_constant

    def adcs(self, lines: int) -> int:
        """ADCs serving ``lines`` output lines of a tile edge: ``ceil(lines/columns_per_adc)``."""
        return -(-int(lines) // self.columns_per_adc)


def _tile(crossbar):
    return getattr(crossbar, "tile", crossbar)


class CrossbarArea(NamedTuple):
    """Area of one crossbar (all its tiles), by part; areas in m².

    Attributes:
        cells: physical cells (padded tiles, ``devices_per_weight`` per weight).
        cell_area: the :class:`CellArea` of one cell.
        array: ``cells × cell_area.area``.
        dac: the DACs (one per row and one per column of every tile).
        adc: the ADCs (one per ``columns_per_adc`` rows and columns of every tile).
        dacs, adcs: their numbers.
    """

    cells: int
    cell_area: CellArea
    array: float
    dac: float
    adc: float
    dacs: int
    adcs: int

    @property
    def periphery(self) -> float:
        """Converters' area [m²]."""
        return self.dac + self.adc

    @property
    def total(self) -> float:
        """Cells and converters [m²]."""
        return self.array + self.periphery


def crossbar_area(crossbar, *, preset: str | None = None, periphery: Periphery | None = None) -> CrossbarArea:
    """Area of ``crossbar`` (a :class:`~synaptax.arrays.Crossbar`): its cells
    (:func:`cell_area` of its device, ``preset`` the name it was built from) and its
    tiles' converters (:class:`Periphery`; both edges of every tile, see the module
    docstring)."""
    periphery = Periphery() if periphery is None else periphery
    tile = _tile(crossbar)
    (nr, nc), (tr, tc) = tile.tile_grid, tile.tile_shape
    tiles = nr * nc
    cells = tiles * tr * tc * int(crossbar.devices_per_weight)
    cell = cell_area(crossbar.device, preset=preset, node=periphery.node)
    dacs = tiles * (tr + tc)
    adcs = tiles * (periphery.adcs(tr) + periphery.adcs(tc))
    return CrossbarArea(cells=cells, cell_area=cell, array=cells * cell.area,
                        dac=dacs * periphery.dac_area(_bits(tile.dac)),
                        adc=adcs * periphery.adc_area(_bits(tile.adc)), dacs=dacs, adcs=adcs)


def mvm_latency(crossbar, *, batch: int = 1, transposed: bool = False, periphery: Periphery | None = None) -> float:
    """Time [s] for ``batch`` input vectors, one after another, through ``crossbar`` (a
    :class:`~synaptax.arrays.Crossbar` or its tile).

    Per vector: ``dac_settling_time(dac bits) + read_time + k·adc_conversion_time(adc
    bits)`` with ``k = ceil(lines / ADCs)`` the conversions each ADC makes in turn (≤
    ``columns_per_adc``), ``lines`` a tile's output lines: its columns for the forward
    read, its rows for the transposed (backward) read.  All tiles at once."""
    periphery = Periphery() if periphery is None else periphery
    _check_count("batch", batch)
    tile = _tile(crossbar)
    rows, cols = tile.tile_shape
    lines = rows if transposed else cols
    per_adc = -(-lines // periphery.adcs(lines))
    one = (periphery.dac_settling_time(_bits(tile.dac)) + float(tile.read_time)
           + per_adc * periphery.adc_conversion_time(_bits(tile.adc)))
    return batch * one


def network_ops(crossbars, vectors=None) -> int:
    """Operations of one inference of the layers ``crossbars``: 2 per multiply-accumulate,
    ``Σ 2·in·out·v`` with ``v`` the input vectors a layer reads per sample (``vectors``: 1
    each by default; a convolution's patches)."""
    vectors = (1,) * len(crossbars) if vectors is None else vectors
    return sum(2 * int(c.in_features) * int(c.out_features) * int(v) for c, v in zip(crossbars, vectors))


def update_ops(crossbars, batch: int, vectors=None) -> int:
    """Operations of one training update on ``batch`` samples: per sample the forward pass
    of every layer, the backward pass of every layer but the first and the outer-product
    weight update of every layer, 2 per multiply-accumulate:
    ``batch·Σ_l 2·in·out·v_l·(2 + [l > 0])`` (``v_l`` input vectors per sample, 1 unless a
    convolution's patches).  A Tiki-Taka transfer's extra reads and writes are not counted
    as operations."""
    vectors = (1,) * len(crossbars) if vectors is None else vectors
    return batch * sum(2 * int(c.in_features) * int(c.out_features) * int(v) * (3 if i else 2)
                       for i, (c, v) in enumerate(zip(crossbars, vectors)))


# ----------------------------------------------------------------------------- a run
def _crossbars_of(model) -> tuple:
    crossbars = getattr(model, "crossbars", None)
    if crossbars is None and hasattr(model, "model"):  # an algorithm
        crossbars = getattr(model.model, "crossbars", None)
    if crossbars is None:
        if isinstance(model, (list, tuple)):
            return tuple(model)
        return ()
    return tuple(crossbars() if callable(crossbars) else crossbars)


def vectors_per_sample(model, n: int) -> tuple:
    """Input vectors each of the ``n`` layers reads per sample: the network's
    ``vectors_per_sample()`` (a convolution reads one vector per patch), else 1 each."""
    net = getattr(model, "model", model)
    f = getattr(net, "vectors_per_sample", None)
    if callable(f):
        try:
            v = tuple(int(x) for x in f())
        except (TypeError, ValueError):
            v = ()
        if len(v) == n:
            return v
    return (1,) * n


def fast_crossbars(algorithm) -> tuple:
    """The extra arrays an algorithm writes besides its weights (the Tiki-Taka family's fast
    array per layer: any rule of its ``update_rule`` with a ``fast_crossbar`` method),
    empty otherwise."""
    rule = getattr(algorithm, "update_rule", None)
    model = getattr(algorithm, "model", None)
    if rule is None or model is None:
        return ()
    stack, found = [rule], None
    while stack and found is None:
        r = stack.pop()
        if callable(getattr(r, "fast_crossbar", None)):
            found = r
        stack.extend(getattr(r, "rules", ()) or ())
    if found is None:
        return ()
    return tuple(found.fast_crossbar(c) for c in _crossbars_of(model))


def _number(report: dict, key: str):
    v = report.get(key)
    if v is None or isinstance(v, bool):
        return None
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def _product(a, b):
    return None if a is None or b is None else a * b


def run_costs(model, *, report: dict, periphery: Periphery | None = None, fast_arrays=None,
              write_time: float | None = None) -> dict:
    """Area, latency and figures of merit of a run, as a flat JSON-ready dict of SI numbers.

    Args:
        model: the run's network (an ``AnalogNetwork``: its ``crossbars`` and
            ``vectors_per_sample``), its algorithm (its
            ``model``; the Tiki-Taka fast arrays are then found by :func:`fast_crossbars`),
            or a sequence of crossbars.  Nothing with crossbars (the float reference): ``{}``.
        report: the run's report (``synaptax.training.loop``): reads ``config``
            (``device``, ``fast_device``, ``batch_size``, ``rest_time``, ``bit_length``),
            ``energy_per_inference_J``, ``energy_per_update_J``, ``latency_per_update_s``,
            ``total_training_energy_J`` and ``updates``; a missing or None value makes the
            numbers that need it None.
        periphery: the converter figures and assumptions (default :class:`Periphery`).
        fast_arrays: extra crossbars (a Tiki-Taka fast array per layer) counted in the area;
            None: :func:`fast_crossbars` of ``model`` when it is an algorithm, else none.
        write_time: duration [s] of one update's writes; None: derived from the report,
            ``latency_per_update_s`` (the simulation's device time of an update: one
            ``read_time`` per input vector and read, forward in every layer and backward in
            every layer but the first, plus its writes) minus those reads; without it,
            ``batch_size × bit_length`` coincidence slots per layer (the longest train, an
            upper bound).

    Returns:
        A dict (keys in the README of ``synaptax.circuits``): the assumptions
        (``node_nm``, ``feature_size_m``, ``columns_per_adc``, converter bits), the cells
        (``cells``, ``cell_area_m2``, ``cell_kind``, ``cell_area_source``), the area
        (``area_m2`` = ``array_area_m2`` + ``periphery_area_m2``, the latter
        ``dac_area_m2 + adc_area_m2``), per inference (one sample: ``ops_per_inference``,
        ``inference_latency_s``, ``inference_energy_J``, ``inference_edp_Js``,
        ``inference_tops_per_w``, ``inference_tops_per_mm2``), per update
        (``ops_per_update``, ``pulse_period_s``, ``write_slots_per_update``,
        ``update_read_latency_s``, ``update_write_latency_s``, ``update_rest_s``,
        ``update_latency_s``, ``update_energy_J``, ``update_edp_Js``, ``update_tops_per_w``,
        ``update_tops_per_mm2``) and for the run (``updates``, ``training_energy_J``,
        ``training_device_time_s`` = updates × update latency).
    """
    if not isinstance(report, dict):
        raise TypeError(f"report must be a dict, got {type(report).__name__}")
    periphery = Periphery() if periphery is None else periphery
    crossbars = _crossbars_of(model)
    if not crossbars:
        return {}
    config = report.get("config") or {}
    preset = config.get("device", report.get("device"))
    preset = preset if isinstance(preset, str) and preset != "float" else None
    if fast_arrays is None:
        fast_arrays = fast_crossbars(model)
    fast_arrays = tuple(fast_arrays)
    fast_preset = config.get("fast_device") or preset

    areas = [crossbar_area(c, preset=preset, periphery=periphery) for c in crossbars]
    areas += [crossbar_area(c, preset=fast_preset, periphery=periphery) for c in fast_arrays]
    cells = sum(a.cells for a in areas)
    array_area = sum(a.array for a in areas)
    dac_area = sum(a.dac for a in areas)
    adc_area = sum(a.adc for a in areas)
    area = array_area + dac_area + adc_area
    area_mm2 = area * 1e6

    # inference: one sample (a convolution reads one vector per patch), layers in sequence
    vectors = vectors_per_sample(model, len(crossbars))
    ops_inf = network_ops(crossbars, vectors)
    t_inf = sum(v * mvm_latency(c, periphery=periphery) for c, v in zip(crossbars, vectors))
    e_inf = _number(report, "energy_per_inference_J")

    # update: batch × (forward of every layer + backward of layers 2..L), writes, rest
    batch = int(config.get("batch_size") or 1)
    rest_time = float(config.get("rest_time") or 0.0)
    per_vector = sum(v * (mvm_latency(c, periphery=periphery) + (mvm_latency(c, transposed=True, periphery=periphery)
                                                                   if i else 0.0))
                     for i, (c, v) in enumerate(zip(crossbars, vectors)))
    t_read = batch * per_vector
    periods = [pulse_period(c.device) for c in crossbars]
    if write_time is None:
        simulated = _number(report, "latency_per_update_s")
        if simulated is not None:
            sim_reads = batch * sum((2 if i else 1) * v * float(_tile(c).read_time)
                                    for i, (c, v) in enumerate(zip(crossbars, vectors)))
            write_time = max(simulated - sim_reads, 0.0)
        else:
            bit_length = int(config.get("bit_length") or 31)
            write_time = batch * bit_length * sum(periods)
    write_time = _check_time("write_time", write_time)
    t_rest = rest_time + sum(_train_rest(c.device) for c in crossbars)
    t_update = t_read + write_time + t_rest
    e_update = _number(report, "energy_per_update_J")
    ops_upd = update_ops(crossbars, batch, vectors)
    period = periods[0] if len(set(periods)) == 1 else None
    updates = report.get("updates")
    updates = int(updates) if isinstance(updates, (int, float)) and not isinstance(updates, bool) else None

    def tops_per_w(ops, energy):
        return None if energy is None or energy <= 0 else ops / energy / 1e12

    def tops_per_mm2(ops, latency):
        return None if latency <= 0 or area_mm2 <= 0 else ops / latency / area_mm2 / 1e12

    cell = areas[0].cell_area
    return {
        "node_nm": periphery.node,
        "feature_size_m": periphery.feature_size,
        "columns_per_adc": periphery.columns_per_adc,
        "dac_bits": _bits(_tile(crossbars[0]).dac),
        "adc_bits": _bits(_tile(crossbars[0]).adc),
        "arrays": len(areas),
        "cells": cells,
        "cell_area_m2": cell.area,
        "cell_kind": cell.kind,
        "cell_area_source": cell.source,
        "area_m2": area,
        "array_area_m2": array_area,
        "periphery_area_m2": dac_area + adc_area,
        "dac_area_m2": dac_area,
        "adc_area_m2": adc_area,
        "ops_per_inference": ops_inf,
        "inference_latency_s": t_inf,
        "inference_energy_J": e_inf,
        "inference_edp_Js": _product(e_inf, t_inf),
        "inference_tops_per_w": tops_per_w(ops_inf, e_inf),
        "inference_tops_per_mm2": tops_per_mm2(ops_inf, t_inf),
        "ops_per_update": ops_upd,
        "pulse_period_s": period,
        "write_slots_per_update": _ratio(write_time, period),
        "update_read_latency_s": t_read,
        "update_write_latency_s": write_time,
        "update_rest_s": t_rest,
        "update_latency_s": t_update,
        "update_energy_J": e_update,
        "update_edp_Js": _product(e_update, t_update),
        "update_tops_per_w": tops_per_w(ops_upd, e_update),
        "update_tops_per_mm2": tops_per_mm2(ops_upd, t_update),
        "updates": updates,
        "training_energy_J": _number(report, "total_training_energy_J"),
        "training_device_time_s": None if updates is None else updates * t_update,
    }


# ----------------------------------------------------------------------------- summary rows
def _si(value, unit: str) -> str:
    from ..devices.describe import si

    return "n/a" if value is None else si(value, unit, 3)


def format_area(area: float | None) -> str:
    """``area`` [m²] in nm², µm², mm², cm² or m², whichever keeps the number below 10⁴
    (``"n/a"`` for None): ``6.4e-15`` → ``"6400 nm²"``, ``1.64e-7`` → ``"0.164 mm²"``."""
    if area is None:
        return "n/a"
    a = float(area)
    for limit, scale, unit in ((1e-14, 1e18, "nm²"), (1e-8, 1e12, "µm²"), (1e-2, 1e6, "mm²"), (1.0, 1e4, "cm²")):
        if abs(a) < limit:
            return f"{_three_digits(a * scale)} {unit}"
    return f"{_three_digits(a)} m²"


def _three_digits(x: float) -> str:
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.3g}"


def _duration(seconds) -> str:
    """Seconds with an SI prefix, and in minutes, hours or days from 100 s on."""
    text = _si(seconds, "s")
    if seconds is None or seconds < 100:
        return text
    for size, unit in ((86400.0, "d"), (3600.0, "h"), (60.0, "min")):
        if seconds >= 2 * size or unit == "min":
            return f"{text} ({seconds / size:.3g} {unit})"
    return text


def _figure(value, unit: str) -> str:
    return "n/a" if value is None else f"{value:.3g} {unit}"


def format_costs(costs: dict) -> list[tuple[str, str]]:
    """Summary rows ``(label, value)`` of :func:`run_costs`'s dict, with engineering units
    (``"37.1 ns"``, ``"0.151 mm²"``); ``[]`` for an empty dict (the float reference)."""
    if not costs:
        return []
    conv = lambda b: "ideal" if b is None else f"{b} bit"  # noqa: E731
    slots = costs.get("write_slots_per_update")
    period = costs.get("pulse_period_s")
    writes = _si(costs["update_write_latency_s"], "s")
    if slots is not None and period is not None:
        writes += f" = {slots:.4g} slots × {_si(period, 's')}"
    return [
        ("cost model", f"first order, {costs['node_nm']} nm node, {costs['columns_per_adc']} lines per ADC, "
                       f"DAC {conv(costs['dac_bits'])}, ADC {conv(costs['adc_bits'])}"),
        ("area", f"{format_area(costs['area_m2'])} (cells {format_area(costs['array_area_m2'])}, "
                 f"converters {format_area(costs['periphery_area_m2'])})"),
        ("  cell", f"{format_area(costs['cell_area_m2'])}, {costs['cell_kind']}, {costs['cells']} cells"),
        ("inference latency, with converters", f"{_si(costs['inference_latency_s'], 's')} per input"),
        ("inference energy × delay", _figure(costs["inference_edp_Js"], "J·s")),
        ("inference efficiency", f"{_figure(costs['inference_tops_per_w'], 'TOPS/W')}, "
                                 f"{_figure(costs['inference_tops_per_mm2'], 'TOPS/mm²')}"),
        ("update latency, with converters", f"{_duration(costs['update_latency_s'])} (reads {_si(costs['update_read_latency_s'], 's')}, "
                           f"writes {writes}, rest {_si(costs['update_rest_s'], 's')})"),
        ("update energy × delay", _figure(costs["update_edp_Js"], "J·s")),
        ("update efficiency", f"{_figure(costs['update_tops_per_w'], 'TOPS/W')}, "
                              f"{_figure(costs['update_tops_per_mm2'], 'TOPS/mm²')}"),
        ("training energy", _si(costs["training_energy_J"], "J")),
        ("training device time, with converters", _duration(costs["training_device_time_s"])
                                 + ("" if costs["updates"] is None else f" over {costs['updates']} updates")),
    ]


__all__ = [
    "ADC_REFERENCE_AREA", "ADC_REFERENCE_BITS", "ADC_REFERENCE_RATE", "COLUMNS_PER_ADC", "CROSSPOINT_CELL_F2",
    "CellArea", "CrossbarArea", "DAC_1BIT_AREA", "DAC_TIME_CONSTANT", "DEFAULT_NODE", "FAMILY_CELLS",
    "FEATURE_SIZE", "ONE_T_ONE_R_CELL_F2", "PRESET_CELLS", "Periphery", "cell_area", "crossbar_area",
    "fast_crossbars", "feature_size", "format_area", "format_costs", "mvm_latency", "network_ops", "pulse_period",
    "run_costs", "update_ops", "write_latency",
]
