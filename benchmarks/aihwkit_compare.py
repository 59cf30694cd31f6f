"""Train the same analog MLP with IBM aihwkit and with synaptax; compare accuracy and time.

Optional benchmark (not a test dependency): aihwkit is imported only inside the functions
that use it, and the script stops with a clear message when it is not importable.  Both
simulators train the same network on the same data with the same soft-bounds device
(synaptax's ``reram-sb`` preset translated into aihwkit's units, table below) and the same
algorithm settings, one device per weight, single-threaded, and the script reports the test
accuracy and the wall time per epoch of both from one run.

* Network: 784-100-10 (``--hidden 100``, default) or 784-256-128-10 (``--hidden 256 128``),
  sigmoid hidden units, logits out, softmax cross-entropy (batch mean), digital biases
  trained by plain SGD at the same learning rate.  Initial weights uniform in
  ``±1/sqrt(fan_in)``, biases zero (synaptax's initialisation; aihwkit's layers are
  re-programmed to it).
* Data: the MNIST bundled with synaptax, read through ``synaptax.training.datasets.load_mnist``
  for both: 5,000 training images, 312 batches of 16 per epoch (the last partial batch is
  dropped, as synaptax's loop does), evaluated after every epoch on the official 10,000-image
  test set.  The aihwkit half visits the batches in exactly the order synaptax's loop uses
  for the same seed (``fold_in(RunKeys.from_seed(seed).shuffle, epoch)``).
* Algorithms (``--algorithm``, repeatable): ``analog-sgd`` (aihwkit ``SingleRPUConfig``),
  ``c-ttv2`` (``ChoppedTransferCompound`` as in aihwkit's ``ChoppedTTv2ReRamSBPreset``),
  ``agad`` (``DynamicTransferCompound`` as in ``AGADReRamSBPreset``), each with our device
  instead of the presets' ``ReRamSBPresetDevice``.  The transfer algorithms' settings can be
  changed on both sides at once (next section).
* Timing: wall time of the training part of every epoch (evaluation timed apart).
  ``s/epoch`` is the mean over epochs 2..N, which excludes JAX's compilation (and any
  warm-up on the aihwkit side); the first epoch is reported separately (for synaptax it
  also includes loading the data, building the model and compiling).  One thread for both:
  ``OMP_NUM_THREADS=1`` and ``torch.set_num_threads(1)`` for aihwkit, ``XLA_FLAGS=
  --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1`` for JAX, set before
  either is imported; both on the CPU (``JAX_PLATFORMS=cpu`` unless set).

Transfer settings (``c-ttv2``, ``agad``) and schedule: the same on both sides
-------------------------------------------------------------------------------
Defaults: the presets' values (``TRANSFER_SETTINGS``).  Each result row stores the settings
it ran with (``settings``, ``settings_tag``), and rows of different settings are kept apart.

* ``--transfer-every X``: samples (mat-vecs) between transfers; synaptax
  ``TrainConfig.transfer_every``, aihwkit ``ChoppedTransferCompound.transfer_every``, both with
  ``units_in_mbatch = False``.  synaptax counts fractions: with X = 0.25 it reads 4 columns
  per sample (64 per batch of 16, one batched read after the batch's fast update).  aihwkit
  1.1 cannot: ``getTransferEvery`` returns ``max((int)roundf(X), 0)`` mat-vecs
  (``rpu_transfer_device.cpp``; the same in ``rpucuda_transfer_device.cu``; only the automatic
  mode X < 0 is clamped to >= 1), and ``finishUpdateCycle`` transfers only when that is > 0,
  so X = 0.25 rounds to 0 and aihwkit *never transfers* (checked: its slow weights stay at
  their initial values while the fast array learns); more reads per transfer are no way out:
  ChoppedTransferCompound stops at its first transfer with "Only 1 read per transfer
  supported" when ``n_reads_per_transfer`` > 1 (checked; AGAD's DynamicTransferCompound
  likewise, "Only single row transfer supported").  Its fastest rate is one column
  per sample, so for X < 1 the script runs aihwkit with ``transfer_every = 1``
  (``--aihwkit-transfer-every`` overrides it, e.g. with 0.25 to see the frozen weights; the
  row records ``aihwkit_transfer_every``).  Both scale the buffer's granularity by
  ``auto_granularity / (in_size · transfer_every)``, so the expected number of transfer
  pulses per sample is the same at X = 0.25 and at 1: aihwkit reads each column 4 times less
  often (every 784 samples in the first layer, every 100 in the second, instead of every
  196 and 25) with 4 times the weight per read, i.e. its fast array integrates 4 times
  longer between the reads of a column.  A non-integer X > 1 is rounded by aihwkit (its
  granularity keeps the unrounded X).
* ``--fast-lr F``: synaptax ``fast_lr`` (``scale_fast_lr = False``, ``auto_scale = True``),
  aihwkit ``fast_lr`` (``auto_scale = True``; aihwkit's fast lr is never scaled by the SGD
  lr).  The transfers are scaled by the current SGD lr on both sides
  (``scale_transfer_lr = True``).
* ``--schedule cosine``: synaptax ``TrainConfig(schedule="cosine")``, i.e.
  ``optax.cosine_decay_schedule(lr, T, alpha=0.05)`` stepped per batch with T = batches per
  epoch × ``--epochs``; aihwkit: a ``torch.optim.lr_scheduler.LambdaLR`` on the AnalogSGD,
  stepped after every batch, with ``lr_t = lr·((1 − 0.05)·0.5·(1 + cos(π·min(t, T)/T)) +
  0.05)`` (batch t, from 0, at ``lr_t`` on both sides; AnalogSGD hands the group's lr to the
  tiles every step, so the transfer lr and the digital biases follow it, as in synaptax).
  T stays that of ``--epochs`` when ``--aihwkit-max-minutes`` stops aihwkit early.
* ``--zero-shift``: synaptax ``TrainConfig(zero_shift_pulses=1000)``; aihwkit's fast device
  (``unit_cell_devices[0]``, the fast device only; the slow one is unchanged) becomes a
  ``SoftBoundsReferenceDevice`` with ``subtract_symmetry_point = True`` (as in aihwkit's
  ``ChoppedTTv2ReRamSBPreset``, which does it on both devices) and the variant's other
  parameters.  How they differ:

  - synaptax *finds* the symmetry points: at initialisation every fast cell receives 1000
    alternating up/down pulse pairs (with its c2c noise), which drive it towards the point
    where its up and down steps are equal; the weights it ends at (exact, no read noise) are
    kept as a digital reference and subtracted from every transfer read *after* the ADC.
    The cells end near, not at, their symmetry points (about e^-4 = 2 % of the initial
    offset left, relaxation rate dw_min·(1/b_max + 1/|b_min|) = 0.004 per pair, plus the
    pulse pairs' c2c random walk, of order 0.01), and their reads start at exactly 0.
  - aihwkit *computes* them: at construction (``populate``, no pulses, no noise) each cell's
    symmetry point ``w* = (a_up − a_down)/(a_up/b_max − a_down/b_min)`` is added to the
    device's reference ``r``, which the device subtracts in analog (it is read as ``w − r``,
    before the ADC); the fast weights are set to 0, i.e. exactly to the symmetry points.
  - So aihwkit's ADC sees the difference from the symmetry point, synaptax's the weight
    itself (ADC step 12/255 = 0.047 in weight units for a one-hot read on both sides).
  - With ``--aihwkit-device reference`` the fast device keeps the variant's bounds (0.21) but
    not its ``reference_std``: that spread models synaptax's window centres, which are the
    symmetry points that synaptax's zero shift removes.

``--aihwkit-max-minutes M`` stops the aihwkit half after the last epoch for which the next one
would still fit in M minutes (``epochs_run`` in the row, ``run/epochs`` in the table).

Run it in a virtual environment that holds aihwkit, torch and synaptax (aihwkit is kept
out of the project's environment), e.g.::

    python3 -m venv /work/aihwkit-venv
    /work/aihwkit-venv/bin/pip install aihwkit==1.1.0 torch==2.10.0
    /work/aihwkit-venv/bin/pip install -e .
    /work/aihwkit-venv/bin/python benchmarks/aihwkit_compare.py                     # analog-sgd, both
    /work/aihwkit-venv/bin/python benchmarks/aihwkit_compare.py --algorithm analog-sgd \\
        --algorithm c-ttv2 --algorithm agad --epochs 15 --seed 0
    /work/aihwkit-venv/bin/python benchmarks/aihwkit_compare.py --only aihwkit --epochs 3
    OMP_NUM_THREADS=1 /work/aihwkit-venv/bin/python benchmarks/aihwkit_compare.py --algorithm c-ttv2 \\
        --transfer-every 0.25 --fast-lr 0.1 --schedule cosine --zero-shift --epochs 15 --seed 0

``--only synaptax`` runs in the project's own environment (no aihwkit needed).  Results are
printed as a table and written as JSON to ``--out`` (default
``benchmarks/results/aihwkit_compare.json``); rows of an earlier run in that file with
another (algorithm, simulator, network, seed, device variant) are kept, so the two halves
may be run separately.

Device translation: synaptax ``reram-sb`` -> aihwkit ``SoftBoundsDevice``
---------------------------------------------------------------------------
synaptax's weight with the ``"reference"`` mapping is ``w = (G - g_ref)/g_per_w`` with
``g_ref = (g_min + g_max)/2 = 5.5 µS`` and ``g_per_w = (g_max - g_min)/(2 w_max) = 4.5 µS``
(``w_max = 1``, TrainConfig's default), so the nominal window 1–10 µS is the weight range
[-1, 1] and one device holds one weight, aihwkit's single-device picture.

=========================  ==============================  ================================
quantity                   synaptax reram-sb               aihwkit SoftBoundsDevice
=========================  ==============================  ================================
weight bounds              G in [1, 10] µS -> w in [-1, 1]  w_min = -1, w_max = 1
step at mid-range          step = 9 µS/1000 = 9 nS          dw_min = step/g_per_w = 0.002
update law                 dG_up = 2 step (g_max-G)/span    dw_up = dw (1 - w/b_max),
                           dG_dn = 2 step (G-g_min)/span    dw_dn = dw (1 - w/b_min)
                           (identical for b_min = -b_max)
d2d of the step            d2d_step = 0.3 (x max(1+0.3z,0))  dw_min_dtod = 0.3 (x (1+0.3z))
d2d of the bounds          d2d_bounds = 0.3 of half window  w_max_dtod = w_min_dtod = 0.3
                           (= 0.3 in weight units)          (relative to w_max = |w_min| = 1)
up/down asymmetry (mean)   asymmetry = 0                    up_down = 0
up/down asymmetry (d2d)    d2d_asymmetry = 0.1:             up_down_dtod = 0.1:
                           up = s(1+b), down = s(1-b)       up = dw(g+r), down = dw(g-r)
cycle-to-cycle             c2c = 0.3 of the step, mult.     dw_min_std = 0.3, mult_noise=True
read noise                 1 % of G per cell and read,      forward/backward w_noise =
                           forward and backward             0.01 g_ref/g_per_w = 0.0122,
                           (sigma_w = 0.01 (1.22 + w))      w_noise_type = AdditiveConstant
stuck cells                0                                corrupt_devices_prob = 0
decay, diffusion, drift    none                             lifetime = 0, diffusion = 0
write noise                none                             write_noise_std = 0
=========================  ==============================  ================================

Known differences that the translation cannot remove (none is a parameter choice):

* Bounds spread vs symmetry point: synaptax spreads each cell's conductance bounds and keeps
  the soft-bounds law relative to the cell's own window, so a cell's symmetry point is the
  centre of its window, spread by 0.3/sqrt(2) = 0.21 in weight units (plus the 0.1 of the
  up/down spread).  aihwkit's soft bounds are relative to zero (``1 - w/b_max``), so its
  symmetry point stays at 0 whatever the bounds (spread 0.1 from ``up_down_dtod`` only).
  ``--aihwkit-device reference`` uses ``SoftBoundsReferenceDevice`` instead, whose read-out
  reference ``r`` (``reference_std = 0.21``) moves the symmetry point of each cell like
  synaptax's window centre does; its bounds then get 0.21 each (synaptax's spread of the
  half window) around the symmetry point.  The two variants bracket synaptax's device.
* synaptax keeps every cell's lower bound at or above 5 % of the nominal g_min (0.05 µS, i.e.
  w >= -1.21) and a window of at least 5 % of the nominal one; aihwkit only makes the bounds
  straddle 0 (``enforce_consistency``).  With a 0.3 spread this truncates the lower bound
  of about a quarter of synaptax's cells at -1.21, far from where the weights live.
* d2d of the asymmetry: synaptax multiplies (``s(1 +- b)``), aihwkit adds (``dw(g +- r)``):
  equal to first order in the spreads.
* Read noise: synaptax's is proportional to the cell's conductance (sigma_w = 0.0122 at
  w = 0, 0.0098 at w = -0.2, 0.0146 at w = +0.2); aihwkit's ``AdditiveConstant`` is the same
  for every cell; it is set to synaptax's value at w = 0, where the weights are.
  (``PCMRead``, proportional to |w|, would be wrong at w = 0.)
* Transfer algorithms: synaptax updates the fast array with a batch's aggregate coincidences,
  then reads the batch's columns; aihwkit updates and transfers sample by sample (a chopper
  flip acts from the next sample, in synaptax from the next batch).  With
  ``--transfer-every`` below 1 aihwkit runs at 1 (previous section).
* Pulse trains: both use stochastic pulse coincidence with bit length 31, update management
  and bit-length management; aihwkit's bit-length management picks any length 1..31,
  synaptax's one of 1, 2, 4, 8, 16, 31 (same expected update).  synaptax sums a batch's
  coincidences per cell and applies them in one closed-form device update; aihwkit applies
  the pulses one by one.  The c2c noise of n pulses is the same to second order.
* 784 inputs exceed the 512-row tile: both split the first layer into two 392-row tiles
  summed digitally, but aihwkit scales each tile's input slice by its own abs-max, synaptax
  the whole input vector by one abs-max.
* Random streams differ (aihwkit's C++ RNGs are seeded from the clock; ``--seed`` fixes the
  initial weights' generator and the batch order only).  Compare over several seeds.

Forward / backward periphery (identical on both sides; synaptax's TrainConfig defaults, its
tile's defaults checked at run time): 7-bit DAC (``inp_res = 1/(2^7 - 2)``: 63 levels per
sign, synaptax ``dac_bits = 7``), 9-bit ADC (``out_res = 1/(2^9 - 2)``: 255 levels per sign,
``adc_bits = 9``), output bound 12 (``out_bound = 12``, synaptax tile ``out_bound = 12``),
no output noise (``out_noise = 0``: synaptax's ADC has ``noise = 0`` by default; aihwkit's
default is 0.06), noise management ``ABS_MAX`` (synaptax ``input_scaling = "abs_max"``), bound
management ``NONE`` (synaptax has none: a saturated ADC stays saturated; aihwkit's default
``ITERATIVE`` would re-read with scaled inputs), inputs clipped to [-1, 1] (``inp_bound = 1``),
no IR drop (synaptax ``ir_drop = False``), tiles of at most 512 x 512 (``max_input_size =
max_output_size = 512``, synaptax ``max_tile = 512``), ideal wires, no weight remapping
(``weight_scaling_omega = 0``).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ALGORITHMS = ("analog-sgd", "c-ttv2", "agad")
SIMULATORS = ("aihwkit", "synaptax")
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "aihwkit_compare.json"

# --------------------------------------------------------------------------- settings
#: synaptax's ``reram-sb`` preset in aihwkit's units (module docstring).  Recomputed from
#: the preset at run time when synaptax is importable (:func:`device_translation`), which
#: warns if the preset has moved away from these numbers.
RERAM_SB_AIHWKIT = {
    "w_min": -1.0,             # g_min = 1 µS at w_max = 1 on the reference mapping
    "w_max": 1.0,              # g_max = 10 µS
    "dw_min": 0.002,           # step 9 nS / g_per_w 4.5 µS
    "dw_min_dtod": 0.3,        # d2d_step
    "w_min_dtod": 0.3,         # d2d_bounds (relative to the half window = to |w_min|)
    "w_max_dtod": 0.3,         # d2d_bounds (relative to the half window = to w_max)
    "up_down": 0.0,            # asymmetry
    "up_down_dtod": 0.1,       # d2d_asymmetry
    "dw_min_std": 0.3,         # c2c (multiplicative: mult_noise=True)
    "read_w_noise": 0.01 * 5.5 / 4.5,  # read_noise * g_ref / g_per_w (forward/backward w_noise)
}

#: Hyperparameters of the transfer algorithms, aihwkit 1.1's ``ChoppedTTv2ReRamSBPreset`` and
#: ``AGADReRamSBPreset`` (the device left out); the same values go to synaptax's TrainConfig.
TRANSFER_SETTINGS = {
    "c-ttv2": {"in_chop_prob": 0.01, "fast_lr": 0.5, "auto_scale": True, "auto_granularity": 1000.0,
               "units_in_mbatch": False, "transfer_every": 1.0, "transfer_lr": 1.0},
    "agad": {"in_chop_prob": 0.02, "fast_lr": 0.5, "auto_scale": True, "auto_granularity": 1000.0,
             "tail_weightening": 5.0, "transfer_every": 1.0, "transfer_lr": 1.0},
}

#: The periphery both simulators use (module docstring).
DAC_BITS, ADC_BITS, OUT_BOUND = 7, 9, 12.0

#: ``--zero-shift``: synaptax's TrainConfig.zero_shift_pulses (alternating pulse pairs).
ZERO_SHIFT_PULSES = 1000
#: ``--schedule cosine``: synaptax's optax.cosine_decay_schedule(lr, total_steps, alpha=0.05).
COSINE_ALPHA = 0.05


def _set_threads(threads: int) -> None:
    """One thread (or ``threads``) for OpenMP/BLAS (aihwkit, torch) and XLA, set before any
    of them is imported."""
    n = str(threads)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = n
    flags = os.environ.get("XLA_FLAGS", "")
    if threads == 1 and "xla_cpu_multi_thread_eigen" not in flags:
        os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")


def run_settings(algorithm: str, args) -> dict:
    """The settings of one run that both halves share: the transfer algorithm's
    hyperparameters (``TRANSFER_SETTINGS`` with ``--transfer-every`` and ``--fast-lr``
    applied), the schedule and the zero shift."""
    out = {"schedule": args.schedule}
    if algorithm in TRANSFER_SETTINGS:
        s = dict(TRANSFER_SETTINGS[algorithm])
        if args.transfer_every is not None:
            s["transfer_every"] = args.transfer_every
        if args.fast_lr is not None:
            s["fast_lr"] = args.fast_lr
        s["zero_shift_pulses"] = ZERO_SHIFT_PULSES if args.zero_shift else 0
        out |= s
    return out


def settings_tag(algorithm: str, settings: dict | None = None) -> str:
    """A short name of the settings that tells result rows apart (the JSON key); the
    defaults when ``settings`` is None (rows of earlier versions of this script)."""
    s = {"schedule": "constant"} | (
        dict(TRANSFER_SETTINGS[algorithm], zero_shift_pulses=0) if algorithm in TRANSFER_SETTINGS else {}) | (
        settings or {})
    tag = f"schedule={s['schedule']}"
    if algorithm in TRANSFER_SETTINGS:
        tag += (f" transfer_every={s['transfer_every']:g} fast_lr={s['fast_lr']:g}"
                f" zero_shift={s['zero_shift_pulses']}")
    return tag


def aihwkit_transfer_every(requested: float, args) -> float:
    """The ``transfer_every`` handed to aihwkit for the requested one (``--aihwkit-transfer-every``
    if given).  aihwkit 1.1 counts transfers in whole mat-vecs: ``getTransferEvery`` returns
    ``max((int)roundf(transfer_every), 0)`` (rpu_transfer_device.cpp, also the CUDA version),
    and ``finishUpdateCycle`` transfers only when that is > 0, so any value below 0.5 means
    *no transfer at all* (the slow weights never change) and ChoppedTransferCompound allows
    one read per transfer only (``n_reads_per_transfer = 1``).  Below 1 the script therefore
    gives aihwkit 1 (its fastest: one column per sample; module docstring)."""
    if args.aihwkit_transfer_every is not None:
        return args.aihwkit_transfer_every
    if requested < 1.0:
        _log(f"note: aihwkit cannot transfer more than once per mat-vec (transfer_every = {requested:g} rounds "
             "to 0 = no transfers); running its half with transfer_every = 1")
        return 1.0
    if requested != round(requested):
        _log(f"note: aihwkit rounds transfer_every = {requested:g} to {round(requested)} mat-vecs "
             "(its buffer granularity keeps the unrounded value)")
    return requested


# --------------------------------------------------------------------------- data
def load_data(seed: int, train_samples: int):
    """The bundled MNIST through synaptax (identical for both halves): ``(train, test)``
    with a subset of ``train_samples`` drawn exactly as synaptax's loop draws it (0: all)."""
    import jax
    import numpy as np
    from synaptax.training.datasets import load_mnist

    train = load_mnist(None, split="train")
    test = load_mnist(None, split="test")
    if 0 < train_samples < len(train.labels):
        keys = _run_keys(seed)
        # the same draw as synaptax.training.loop._subset(train, n, fold_in(keys.data, 0))
        idx = np.sort(np.asarray(jax.random.permutation(jax.random.fold_in(keys.data, 0), len(train.labels)))
                      [:train_samples])
        train = dataclasses.replace(train, images=train.images[idx], labels=train.labels[idx])
    return train, test


def _run_keys(seed: int):
    from synaptax.training.loop import RunKeys

    return RunKeys.from_seed(seed)


def epoch_order(seed: int, epoch: int, n: int):
    """The sample order of ``epoch`` in synaptax's loop for ``seed`` (``"synaptax"``), or a
    NumPy permutation if that cannot be reproduced (``"numpy"``)."""
    import numpy as np

    try:
        import jax

        key = jax.random.fold_in(_run_keys(seed).shuffle, epoch)
        return np.asarray(jax.random.permutation(key, n)), "synaptax"
    except Exception:  # noqa: BLE001 - fall back to an order of the same statistics
        return np.random.default_rng([seed, epoch]).permutation(n), "numpy"


# --------------------------------------------------------------------------- translation
def device_translation() -> dict:
    """The aihwkit SoftBoundsDevice parameters of synaptax's ``reram-sb`` (module docstring),
    computed from the preset when synaptax is importable, else the table's numbers."""
    out = dict(RERAM_SB_AIHWKIT)
    try:
        from synaptax.devices import get_preset
        from synaptax.arrays.mapping import ReferenceColumn
    except Exception:  # noqa: BLE001
        return out | {"source": "table (synaptax not importable)"}
    dev = get_preset("reram-sb")
    var = dev.variability
    w_max = 1.0  # TrainConfig.w_max default
    g_per_w = ReferenceColumn().g_per_w(dev.g_min, dev.g_max, w_max)
    g_ref = 0.5 * (dev.g_min + dev.g_max)
    half = 0.5 * (dev.g_max - dev.g_min)
    computed = {
        "w_min": (dev.g_min - g_ref) / g_per_w,
        "w_max": (dev.g_max - g_ref) / g_per_w,
        "dw_min": dev.step / g_per_w,
        "dw_min_dtod": float(var.d2d_step),
        # synaptax: g_max = hi + half*d2d*z; relative to the half window = to the weight bound
        "w_min_dtod": float(var.d2d_bounds) * half / (g_ref - dev.g_min),
        "w_max_dtod": float(var.d2d_bounds) * half / (dev.g_max - g_ref),
        "up_down": float(dev.asymmetry),
        "up_down_dtod": float(var.d2d_asymmetry),
        "dw_min_std": float(var.c2c),
        "read_w_noise": float(var.read_noise) * g_ref / g_per_w,
    }
    if float(var.c2c_range) != 0.0 or float(var.stuck_min) != 0.0 or float(var.stuck_max) != 0.0:
        print("warning: reram-sb now has additive c2c noise or stuck cells, which this script does not "
              "translate", file=sys.stderr)
    moved = [k for k in computed if not math.isclose(computed[k], RERAM_SB_AIHWKIT[k], rel_tol=1e-6, abs_tol=1e-12)]
    if moved:
        print(f"warning: the reram-sb preset differs from the table in the docstring in {', '.join(moved)}; "
              "using the preset's values", file=sys.stderr)
    return computed | {"source": "synaptax preset reram-sb"}


# --------------------------------------------------------------------------- aihwkit
def _require_aihwkit():
    try:
        import aihwkit  # noqa: F401
        import torch  # noqa: F401
    except ImportError as err:
        raise SystemExit(
            f"aihwkit is not importable ({err}).  This optional benchmark needs aihwkit and torch, kept out "
            "of the project's environment; install them in a separate one, e.g.\n"
            "  python3 -m venv /work/aihwkit-venv\n"
            "  /work/aihwkit-venv/bin/pip install aihwkit==1.1.0 torch==2.10.0\n"
            "  /work/aihwkit-venv/bin/pip install -e .\n"
            "and run this script with /work/aihwkit-venv/bin/python, or pass --only synaptax.") from None


def aihwkit_device(tr: dict, variant: str, *, subtract_symmetry_point: bool = False):
    """The translated device: ``SoftBoundsDevice`` (``variant="softbounds"``) or
    ``SoftBoundsReferenceDevice`` with synaptax's symmetry-point spread (``"reference"``).

    ``subtract_symmetry_point`` (``--zero-shift``, the fast device only): a
    ``SoftBoundsReferenceDevice`` of the variant's bounds whose reference is each cell's
    computed symmetry point and nothing else (``reference_std = 0``), so that every cell's
    symmetry point reads as weight 0, as after synaptax's zero shift (module docstring)."""
    from aihwkit.simulator.configs import SoftBoundsDevice, SoftBoundsReferenceDevice

    common = dict(
        dw_min=tr["dw_min"], dw_min_dtod=tr["dw_min_dtod"], dw_min_std=tr["dw_min_std"],
        up_down=tr["up_down"], up_down_dtod=tr["up_down_dtod"], w_max=tr["w_max"], w_min=tr["w_min"],
        mult_noise=True,            # synaptax's c2c scales each pulse's own step
        write_noise_std=0.0,        # synaptax has none
        corrupt_devices_prob=0.0,   # no stuck cells in reram-sb
        lifetime=0.0, diffusion=0.0,  # no decay, no diffusion (rest_time = 0)
        enforce_consistency=True,   # aihwkit's default: bounds straddle 0
        perfect_bias=False,         # no analog bias (biases are digital)
    )
    if subtract_symmetry_point:
        # the variant's bounds; the reference-read spread that models synaptax's window centres in
        # "reference" is what synaptax's zero shift removes, so no reference_std here
        s = (0.5 * (tr["w_max_dtod"] + tr["w_min_dtod"]) / math.sqrt(2.0) if variant == "reference" else None)
        bounds = dict(w_max_dtod=s, w_min_dtod=s) if s is not None else dict(w_max_dtod=tr["w_max_dtod"],
                                                                              w_min_dtod=tr["w_min_dtod"])
        return SoftBoundsReferenceDevice(reference_mean=0.0, reference_std=0.0, subtract_symmetry_point=True,
                                         slope_up_dtod=0.0, slope_down_dtod=0.0, **bounds, **common)
    if variant == "softbounds":
        return SoftBoundsDevice(w_max_dtod=tr["w_max_dtod"], w_min_dtod=tr["w_min_dtod"], **common)
    # synaptax's window: half width h = 1 + 0.3(z1+z2)/2, centre c = 0.3(z1-z2)/2, independent,
    # each with std 0.3/sqrt(2); the symmetry point is c.  Reference device: bounds around the
    # symmetry point with the half-width spread, read-out reference r (SP at -r) with c's spread.
    s = 0.5 * (tr["w_max_dtod"] + tr["w_min_dtod"]) / math.sqrt(2.0)  # 0.3/sqrt(2) = 0.21
    return SoftBoundsReferenceDevice(w_max_dtod=s, w_min_dtod=s, reference_mean=0.0, reference_std=s,
                                     subtract_symmetry_point=False, slope_up_dtod=0.0, slope_down_dtod=0.0,
                                     **common)


def aihwkit_io(tr: dict, *, transfer: bool = False):
    """Forward/backward (or transfer-read) periphery matching synaptax's tile (docstring)."""
    from aihwkit.simulator.configs import BoundManagementType, IOParameters, NoiseManagementType, WeightNoiseType

    return IOParameters(
        is_perfect=False,
        inp_bound=1.0, inp_res=1.0 / (2 ** DAC_BITS - 2), inp_sto_round=False, inp_noise=0.0,
        out_bound=OUT_BOUND, out_res=1.0 / (2 ** ADC_BITS - 2), out_sto_round=False,
        out_noise=0.0,  # synaptax's ADC noise defaults to 0
        w_noise=tr["read_w_noise"], w_noise_type=WeightNoiseType.ADDITIVE_CONSTANT,  # per-cell read noise
        ir_drop=0.0, out_nonlinearity=0.0,
        # transfer reads as in aihwkit's presets (one-hot inputs: no scaling needed)
        noise_management=NoiseManagementType.NONE if transfer else NoiseManagementType.ABS_MAX,
        bound_management=BoundManagementType.NONE,
    )


def aihwkit_rpu_config(algorithm: str, tr: dict, variant: str, settings: dict | None = None,
                       transfer_every: float | None = None):
    """The rpu_config of ``algorithm`` with the translated device and periphery; ``settings``
    (:func:`run_settings`, default ``TRANSFER_SETTINGS``) and aihwkit's ``transfer_every``
    (:func:`aihwkit_transfer_every`, default the settings' value)."""
    from aihwkit.simulator.configs import (ChoppedTransferCompound, DynamicTransferCompound, PulseType,
                                           SingleRPUConfig, UnitCellRPUConfig, UpdateParameters)

    # stochastic pulse coincidence, BL 31, update and bit-length management (synaptax's analog
    # SGD: bit_length 31, update_management, bl_management)
    update = UpdateParameters(desired_bl=31, pulse_type=PulseType.STOCHASTIC_COMPRESSED, update_bl_management=True,
                              update_management=True, fixed_bl=True, x_res_implicit=0.0, d_res_implicit=0.0,
                              sto_round=False)
    io = dict(forward=aihwkit_io(tr), backward=aihwkit_io(tr), update=update)
    if algorithm == "analog-sgd":
        cfg = SingleRPUConfig(device=aihwkit_device(tr, variant), **io)
    elif algorithm in TRANSFER_SETTINGS:
        s = dict(TRANSFER_SETTINGS[algorithm], zero_shift_pulses=0) | (settings or {})
        # one pulse per transfer, no management (the presets' transfer_update)
        transfer_update = UpdateParameters(desired_bl=1, pulse_type=PulseType.STOCHASTIC_COMPRESSED,
                                           update_bl_management=False, update_management=False)
        # unit_cell_devices[0] is the fast device, [1] the slow weights; the zero shift (symmetry
        # point subtracted) on the fast device only, as synaptax's
        fast = aihwkit_device(tr, variant, subtract_symmetry_point=s["zero_shift_pulses"] > 0)
        # fast_lr is a constant count lr in aihwkit (synaptax scale_fast_lr=False); the transfer
        # lr is scaled by the optimiser's current lr (scale_transfer_lr=True, aihwkit's default)
        kw = dict(unit_cell_devices=[fast, aihwkit_device(tr, variant)],
                  transfer_forward=aihwkit_io(tr, transfer=True), transfer_update=transfer_update,
                  in_chop_prob=s["in_chop_prob"], fast_lr=s["fast_lr"], auto_scale=s["auto_scale"],
                  auto_granularity=s["auto_granularity"],
                  transfer_every=s["transfer_every"] if transfer_every is None else transfer_every,
                  transfer_lr=s["transfer_lr"], scale_transfer_lr=True)
        if algorithm == "c-ttv2":
            device = ChoppedTransferCompound(units_in_mbatch=s["units_in_mbatch"], **kw)
        else:
            device = DynamicTransferCompound(tail_weightening=s["tail_weightening"], **kw)
        cfg = UnitCellRPUConfig(device=device, **io)
    else:
        raise SystemExit(f"unknown algorithm {algorithm!r}; valid: {', '.join(ALGORITHMS)}")
    cfg.mapping.digital_bias = True          # biases digital, as synaptax's
    cfg.mapping.weight_scaling_omega = 0.0   # weights programmed as given (no remapping)
    cfg.mapping.learn_out_scaling = False
    cfg.mapping.max_input_size = 512         # synaptax's max_tile
    cfg.mapping.max_output_size = 512
    return cfg


def run_aihwkit(algorithm: str, args, train, test, tr: dict) -> dict:
    """Train with aihwkit; the result row (accuracy, times, history)."""
    _require_aihwkit()
    import numpy as np
    import torch
    from aihwkit.nn import AnalogLinear, AnalogSequential
    from aihwkit.optim import AnalogSGD

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    sizes = [784, *args.hidden, 10]
    settings = run_settings(algorithm, args)
    te = aihwkit_transfer_every(settings["transfer_every"], args) if "transfer_every" in settings else None
    cfg = aihwkit_rpu_config(algorithm, tr, args.aihwkit_device, settings, te)
    layers = []
    gen = torch.Generator().manual_seed(args.seed)
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layer = AnalogLinear(a, b, bias=True, rpu_config=cfg)
        bound = 1.0 / math.sqrt(a)  # synaptax's initialisation: U(±1/sqrt(fan_in)), zero bias
        layer.set_weights((torch.rand(b, a, generator=gen) * 2.0 - 1.0) * bound, torch.zeros(b))
        layers.append(layer)
        if i < len(sizes) - 2:
            layers.append(torch.nn.Sigmoid())
    model = AnalogSequential(*layers)
    opt = AnalogSGD(model.parameters(), lr=args.lr)
    opt.regroup_param_groups(model)
    steps_per_epoch = len(train.labels) // args.batch_size
    total_steps = max(steps_per_epoch * args.epochs, 1)  # synaptax's: all configured epochs
    if args.schedule == "cosine":
        # optax.cosine_decay_schedule(lr, total_steps, alpha=0.05), stepped per batch as synaptax's
        # (batch t, from 0, at lr(t)); AnalogSGD hands the group's lr to the tiles every step
        def factor(t: int) -> float:
            return (1.0 - COSINE_ALPHA) * 0.5 * (1.0 + math.cos(math.pi * min(t, total_steps) / total_steps)) \
                + COSINE_ALPHA
        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    else:
        sched = None
    loss_fn = torch.nn.CrossEntropyLoss()  # batch mean, as synaptax's

    x_train = torch.from_numpy(np.ascontiguousarray(train.images, dtype=np.float32))
    y_train = torch.from_numpy(np.asarray(train.labels, dtype=np.int64))
    x_test = torch.from_numpy(np.ascontiguousarray(test.images, dtype=np.float32))
    y_test = np.asarray(test.labels)
    steps = len(y_train) // args.batch_size
    history, orders = [], set()
    budget = 60.0 * args.aihwkit_max_minutes
    t_run = time.perf_counter()
    for epoch in range(args.epochs):
        order, how = epoch_order(args.seed, epoch, len(y_train))
        orders.add(how)
        batches = torch.from_numpy(np.asarray(order[:steps * args.batch_size], dtype=np.int64)).view(steps, -1)
        model.train()
        t0 = time.perf_counter()
        total = 0.0
        for idx in batches:
            opt.zero_grad()
            loss = loss_fn(model(x_train[idx]), y_train[idx])
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            total += loss.item()
        t_train = time.perf_counter() - t0
        model.eval()
        t1 = time.perf_counter()
        correct = 0
        with torch.no_grad():
            for i in range(0, len(y_test), 1000):
                correct += int((model(x_test[i:i + 1000]).argmax(-1).numpy() == y_test[i:i + 1000]).sum())
        t_eval = time.perf_counter() - t1
        loss_mean = total / steps
        if not math.isfinite(loss_mean):
            raise RuntimeError(f"aihwkit {algorithm}: loss became {loss_mean} in epoch {epoch + 1}")
        history.append({"epoch": epoch + 1, "train_loss": loss_mean, "test_accuracy": correct / len(y_test),
                        "train_s": t_train, "eval_s": t_eval})
        _log(f"aihwkit {algorithm} epoch {epoch + 1}/{args.epochs}: loss {loss_mean:.4f}, "
             f"test {100 * correct / len(y_test):.2f} %, train {t_train:.2f} s, eval {t_eval:.2f} s")
        spent = time.perf_counter() - t_run
        if budget > 0 and epoch + 1 < args.epochs and spent + (t_train + t_eval) > budget:
            _log(f"aihwkit {algorithm}: stopping after {epoch + 1} of {args.epochs} epochs (--aihwkit-max-minutes "
                 f"{args.aihwkit_max_minutes:g}: {spent / 60:.1f} min spent, the next epoch would pass it)")
            break
    import aihwkit

    return _row(algorithm, "aihwkit", args, history,
                {"version": aihwkit.__version__, "torch": torch.__version__,
                 "device_variant": args.aihwkit_device, "batch_order": "+".join(sorted(orders)),
                 "settings": settings, "aihwkit_transfer_every": te,
                 "zero_shift": ("fast device SoftBoundsReferenceDevice(subtract_symmetry_point=True, "
                                "reference_std=0)") if settings.get("zero_shift_pulses") else None,
                 "rpu_config": str(cfg) if args.save_config else None})


# --------------------------------------------------------------------------- synaptax
def synaptax_config(algorithm: str, args):
    """``(TrainConfig, fields it lacks)`` for ``algorithm`` with the benchmark's settings."""
    from synaptax.training.loop import TrainConfig

    kw = dict(device="reram-sb", algorithm=algorithm, hidden=tuple(args.hidden), activation="sigmoid",
              batch_size=args.batch_size, epochs=args.epochs, seed=args.seed, learning_rate=args.lr,
              optimizer="sgd", schedule=args.schedule, bit_length=31, dac_bits=DAC_BITS, adc_bits=ADC_BITS,
              w_max=1.0, max_tile=512, ir_drop=False, train_samples=args.train_samples, test_samples=0,
              data_dir=None)
    # one device per weight read against the mid-range reference: aihwkit's single-device picture
    # (TrainConfig.mapping; an older synaptax without the field runs its default differential
    # pair, and the row says so in "periphery" and "trainconfig_missing")
    kw["mapping"] = "reference"
    # aihwkit's noise management ABS_MAX and bound management NONE (aihwkit_io)
    kw.update(noise_management="abs-max", bound_management="none")
    if algorithm in TRANSFER_SETTINGS:
        s = run_settings(algorithm, args)
        # the aihwkit presets' values (TRANSFER_SETTINGS), pinned rather than left to synaptax's
        # defaults; fields of the same names in synaptax's TransferAlgorithm; columns_per_transfer =
        # n_reads_per_transfer = 1, transfer_bit_length = transfer_update.desired_bl = 1, momentum 0
        # and buffer_threshold = buffer_granularity = 1 are aihwkit's defaults.  auto_scale,
        # auto_granularity 1000, units_in_mbatch False, tail_weightening 5 and the choppers' regularity
        # (random for c-ttv2, regular for agad) are the synaptax algorithms' class defaults.
        kw.update(transfer_every=s["transfer_every"], transfer_lr=s["transfer_lr"], fast_lr=s["fast_lr"],
                  chopper_probability=s["in_chop_prob"], columns_per_transfer=1, transfer_bit_length=1,
                  momentum=0.0, buffer_threshold=1.0)
        if s["zero_shift_pulses"]:  # the fast array brought to its symmetry points (module docstring)
            kw["zero_shift_pulses"] = s["zero_shift_pulses"]
    have = {f.name for f in dataclasses.fields(TrainConfig)}
    missing = sorted(k for k in kw if k not in have)
    return TrainConfig(**{k: v for k, v in kw.items() if k in have}), missing


def synaptax_periphery(config) -> dict:
    """The periphery synaptax's built model actually uses (checked against aihwkit's)."""
    from synaptax.training.loop import build

    alg = build(config, 1)
    c = alg.model.crossbars[0]
    info = {"mapping": c.mapping.name, "devices_per_weight": c.devices_per_weight,
            "dac_bits": c.dac.bits, "adc_bits": c.adc.bits, "adc_noise": float(getattr(c.adc, "noise", 0.0)),
            "out_bound": float(c.out_bound), "input_scaling": c.input_scaling, "dw_min": float(c.dw_min),
            "max_tile": list(c.max_tile_size), "ir_drop": c.ir_drop,
            "bound_management": getattr(c, "bound_management", "none")}
    rule = getattr(alg, "update_rule", None)
    if rule is not None:  # the update rule's hyperparameters as they ran
        info["update_rule"] = {k: v for k, v in vars(rule).items() if isinstance(v, (bool, int, float, str))}
    expect = {"dac_bits": DAC_BITS, "adc_bits": ADC_BITS, "adc_noise": 0.0, "out_bound": OUT_BOUND,
              "input_scaling": "abs_max", "bound_management": "none", "mapping": "reference"}
    for k, v in expect.items():
        if info[k] != v:
            print(f"warning: synaptax's tile has {k} = {info[k]!r}, aihwkit is set to {v!r}", file=sys.stderr)
    return info


def run_synaptax(algorithm: str, args) -> dict:
    """Train with synaptax's loop; the result row.  Epoch times from the loop's callbacks:
    an epoch's training ends at its last batch's progress call, its evaluation at its log
    line (the loop evaluates, then writes the checkpoint, then logs)."""
    from synaptax.training.loop import TrainingError, train

    config, missing = synaptax_config(algorithm, args)
    if missing:
        print(f"warning: synaptax's TrainConfig has no field {', '.join(missing)}; running without "
              f"({'the default differential mapping' if 'mapping' in missing else 'defaults'})", file=sys.stderr)
    try:
        periphery = synaptax_periphery(config)
    except Exception as err:  # noqa: BLE001 - e.g. an algorithm not yet registered
        raise TrainingError(f"cannot build synaptax's {algorithm!r}: {err}") from err

    marks = {"train_end": {}, "epoch_end": {}}

    def progress(epoch, batch, batches, loss):
        if batch == batches:
            marks["train_end"][epoch] = time.perf_counter()

    def log(msg):
        if msg.startswith("epoch "):
            marks["epoch_end"][int(msg.split()[1].split("/")[0]) - 1] = time.perf_counter()
        _log(f"synaptax {algorithm} {msg}")

    with tempfile.TemporaryDirectory(prefix="aihwkit_compare_") as tmp:
        run_dir = Path(args.run_dir) / f"{algorithm}-seed{args.seed}" if args.run_dir else Path(tmp)
        t_start = time.perf_counter()
        report = train(config, run_dir, progress=progress, log=log)
    import jax
    import synaptax

    history = []
    start = t_start
    for h in report["history"]:
        e = h["epoch"] - 1
        t_train = marks["train_end"][e] - start
        t_eval = marks["epoch_end"][e] - marks["train_end"][e]
        start = marks["epoch_end"][e]
        history.append({"epoch": e + 1, "train_loss": h["train_loss"], "test_accuracy": h["test_accuracy"],
                        "train_s": t_train, "eval_s": t_eval})
    return _row(algorithm, "synaptax", args, history,
                {"version": getattr(synaptax, "__version__", "?"), "jax": jax.__version__,
                 "backend": report.get("backend"), "periphery": periphery, "trainconfig_missing": missing,
                 "batch_order": "synaptax", "settings": run_settings(algorithm, args)})


# --------------------------------------------------------------------------- results
def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _row(algorithm, simulator, args, history, extra) -> dict:
    later = history[1:]
    mean = lambda xs: sum(xs) / len(xs) if xs else None  # noqa: E731
    return {
        "algorithm": algorithm, "simulator": simulator, "network": "-".join(map(str, [784, *args.hidden, 10])),
        "seed": args.seed, "epochs": args.epochs, "batch_size": args.batch_size, "learning_rate": args.lr,
        "aihwkit_device": args.aihwkit_device, "epochs_run": len(history),
        "settings_tag": settings_tag(algorithm, run_settings(algorithm, args)),
        "test_accuracy": history[-1]["test_accuracy"],
        "s_per_epoch": mean([h["train_s"] for h in later]),
        "first_epoch_s": history[0]["train_s"],
        "eval_s": mean([h["eval_s"] for h in later]) if later else history[0]["eval_s"],
        "history": history,
    } | extra


def _key(row) -> tuple:
    return (row["algorithm"], row["simulator"], row["network"], row["seed"],
            row.get("aihwkit_device") if row["simulator"] == "aihwkit" else None,
            row.get("settings_tag") or settings_tag(row["algorithm"]),
            _aihwkit_override(row))


def _aihwkit_override(row):
    """aihwkit's transfer_every where ``--aihwkit-transfer-every`` changed it, else None."""
    te, asked = row.get("aihwkit_transfer_every"), row.get("settings", {}).get("transfer_every")
    if te is None or asked is None:
        return None
    return None if te == (1.0 if asked < 1.0 else asked) else te


def print_table(rows) -> None:
    fmt = lambda v, spec: "–" if v is None else format(v, spec)  # noqa: E731
    print("\n| algorithm | settings | simulator | network | seed | epochs | test accuracy % | s/epoch | first epoch s "
          "| eval s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        sim = r["simulator"] + (f" ({r['aihwkit_device']})" if r["simulator"] == "aihwkit" else
                                f" ({r.get('periphery', {}).get('mapping', '?')})")
        if r["simulator"] == "aihwkit" and r.get("aihwkit_transfer_every") is not None and \
                r["aihwkit_transfer_every"] != r.get("settings", {}).get("transfer_every"):
            sim += f" transfer_every={r['aihwkit_transfer_every']:g}"
        tag = r.get("settings_tag", "")
        if "error" in r:
            print(f"| {r['algorithm']} | {tag} | {sim} | {r['network']} | {r['seed']} | {r['epochs']} | "
                  f"failed: {r['error']} | | | |")
            continue
        epochs = r["epochs"] if r.get("epochs_run", r["epochs"]) == r["epochs"] else f"{r['epochs_run']}/{r['epochs']}"
        print(f"| {r['algorithm']} | {tag} | {sim} | {r['network']} | {r['seed']} | {epochs} | "
              f"{100 * r['test_accuracy']:.2f} | {fmt(r['s_per_epoch'], '.2f')} | {r['first_epoch_s']:.2f} | "
              f"{fmt(r['eval_s'], '.2f')} |")
    done = [r for r in rows if "error" not in r]
    if done:  # test accuracy after every epoch
        n = max(len(r["history"]) for r in done)
        print("\n| epoch | " + " | ".join(f"{r['algorithm']} {r['simulator']} %" for r in done) + " |")
        print("|---|" + "---|" * len(done))
        for e in range(n):
            cells = [f"{100 * r['history'][e]['test_accuracy']:.2f}" if e < len(r["history"]) else "–" for r in done]
            print(f"| {e + 1} | " + " | ".join(cells) + " |")


def write_json(path: Path, rows, meta) -> None:
    """Write ``rows`` into ``path``, keeping earlier rows of other keys."""
    path.parent.mkdir(parents=True, exist_ok=True)
    old = []
    if path.exists():
        try:
            old = json.loads(path.read_text()).get("results", [])
        except (OSError, ValueError, AttributeError):
            old = []
    keys = {_key(r) for r in rows}
    merged = [r for r in old if _key(r) not in keys] + list(rows)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(meta | {"results": merged}, indent=2, default=str))
    tmp.replace(path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--algorithm", action="append", choices=ALGORITHMS,
                    help="algorithm to run (repeatable; default analog-sgd)")
    ap.add_argument("--only", choices=SIMULATORS, default=None, help="run one simulator only")
    ap.add_argument("--hidden", type=int, nargs="+", default=[100],
                    help="hidden layer sizes: 100 (784-100-10, default) or 256 128 (784-256-128-10)")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=0.5, help="SGD learning rate (synaptax TrainConfig's default)")
    ap.add_argument("--train-samples", type=int, default=0, help="use a subset (0: all 5,000; for smoke tests)")
    ap.add_argument("--aihwkit-device", choices=("softbounds", "reference"), default="softbounds",
                    help="aihwkit device: SoftBoundsDevice (default) or SoftBoundsReferenceDevice with "
                         "synaptax's symmetry-point spread (see the docstring)")
    ap.add_argument("--transfer-every", type=float, default=None,
                    help="c-ttv2/agad: samples between transfers (default 1; below 1 several columns per sample "
                         "in synaptax; aihwkit then runs 1, see the docstring)")
    ap.add_argument("--fast-lr", type=float, default=None, help="c-ttv2/agad: fast_lr on both sides (default 0.5)")
    ap.add_argument("--schedule", choices=("constant", "cosine"), default="constant",
                    help="learning-rate schedule per batch: constant (default) or synaptax's cosine "
                         f"(optax.cosine_decay_schedule, alpha={COSINE_ALPHA}; aihwkit: the same as a LambdaLR)")
    ap.add_argument("--zero-shift", action="store_true",
                    help=f"c-ttv2/agad: synaptax zero_shift_pulses={ZERO_SHIFT_PULSES}; aihwkit's fast device with "
                         "subtract_symmetry_point=True (see the docstring)")
    ap.add_argument("--aihwkit-transfer-every", type=float, default=None,
                    help="give aihwkit this transfer_every instead (default: --transfer-every, or 1 when that is "
                         "below 1, which aihwkit rounds to 0 = no transfers)")
    ap.add_argument("--aihwkit-max-minutes", type=float, default=0.0,
                    help="stop aihwkit's training after the last epoch that fits in this many minutes (0: no "
                         "limit); the schedule still spans --epochs")
    ap.add_argument("--threads", type=int, default=1, help="threads for both simulators (default 1)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--run-dir", default=None, help="keep synaptax's run folders here (default: temporary)")
    ap.add_argument("--save-config", action="store_true", help="store aihwkit's rpu_config text in the JSON")
    args = ap.parse_args(argv)
    algorithms = args.algorithm or ["analog-sgd"]
    simulators = [args.only] if args.only else list(SIMULATORS)
    if args.epochs < 1 or args.batch_size < 1:
        ap.error("--epochs and --batch-size must be >= 1")
    transfer_opts = [o for o, v in (("--transfer-every", args.transfer_every), ("--fast-lr", args.fast_lr),
                                    ("--zero-shift", args.zero_shift or None),
                                    ("--aihwkit-transfer-every", args.aihwkit_transfer_every)) if v is not None]
    if transfer_opts and not any(a in TRANSFER_SETTINGS for a in algorithms):
        ap.error(f"{', '.join(transfer_opts)} apply to {' and '.join(TRANSFER_SETTINGS)} only")
    if args.transfer_every is not None and not args.transfer_every > 0:
        ap.error("--transfer-every must be positive")
    if args.fast_lr is not None and not args.fast_lr >= 0:
        ap.error("--fast-lr must be >= 0")

    _set_threads(args.threads)
    if "aihwkit" in simulators:
        _require_aihwkit()  # fail early, before any training
    try:
        train, test = load_data(args.seed, args.train_samples)
    except ImportError as err:
        raise SystemExit(f"synaptax is not importable ({err}); install it in this environment: pip install -e .")
    tr = device_translation()

    rows = []
    for algorithm in algorithms:
        for sim in simulators:
            _log(f"--- {sim}: {algorithm}, {'-'.join(map(str, [784, *args.hidden, 10]))}, {args.epochs} epochs, "
                 f"seed {args.seed}, {settings_tag(algorithm, run_settings(algorithm, args))}")
            try:
                row = run_aihwkit(algorithm, args, train, test, tr) if sim == "aihwkit" else run_synaptax(algorithm, args)
            except Exception as err:  # noqa: BLE001 - report and go on with the other runs
                _log(f"{sim} {algorithm} failed: {type(err).__name__}: {err}")
                row = {"algorithm": algorithm, "simulator": sim, "network": "-".join(map(str, [784, *args.hidden, 10])),
                       "seed": args.seed, "epochs": args.epochs, "aihwkit_device": args.aihwkit_device,
                       "settings_tag": settings_tag(algorithm, run_settings(algorithm, args)),
                       "error": f"{type(err).__name__}: {err}"}
            rows.append(row)
    print_table(rows)
    meta = {
        "benchmark": "benchmarks/aihwkit_compare.py",
        "device_translation": tr,
        "transfer_settings": TRANSFER_SETTINGS,  # the defaults; each row's "settings" as it ran
        "periphery": {"dac_bits": DAC_BITS, "adc_bits": ADC_BITS, "out_bound": OUT_BOUND, "out_noise": 0.0,
                      "noise_management": "abs_max", "bound_management": "none"},
        "data": {"train": train.source, "train_samples": len(train.labels), "test": test.source,
                 "test_samples": len(test.labels)},
        "threads": args.threads, "xla_flags": os.environ.get("XLA_FLAGS"), "python": sys.version.split()[0],
        "machine": platform.machine(), "processor": platform.processor(), "cpus": os.cpu_count(),
        "load_average_at_end": os.getloadavg()[0],  # wall times are only as good as an idle machine
    }
    write_json(args.out, rows, meta)
    print(f"\nwritten to {args.out}")
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
