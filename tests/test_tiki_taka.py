"""The Tiki-Taka family (arrays/updates/transfer.py, training/algorithms/tiki_taka.py).

Hand-computed references use a deterministic device (constant step, no variability, no
noise), ideal converters and inputs for which the coincidence trains fire in every slot
(``p = q = 1``), so that every count is exact.
"""
import json
import math
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from synaptax.arrays import Crossbar
from synaptax.arrays.updates import OuterProduct, Transfer, apply_rule
from synaptax.circuits.converters import ADC, DAC
from synaptax.devices import get_preset
from synaptax.devices.generic import ConstantStepDevice
from synaptax.training.algorithms import AGAD, ALGORITHMS, ChoppedTTv2, TikiTaka, TTv2, build_optimizer
from synaptax.training.loop import TrainConfig, TrainingError
from synaptax.training.network import AnalogMLP

pytestmark = pytest.mark.timeout(600)

STEP = 1e-8  # S; g range 1 µS, differential pair: dw_min = 2·step/g_per_w = 0.02
DW = 0.02


def _crossbar(n_in=3, n_out=2):
    dev = ConstantStepDevice(g_min=0.0, g_max=1e-6, step=STEP, pulse_width=1e-9)
    return Crossbar(dev, n_in, n_out, dac=DAC(bits=None), adc=ADC(bits=None, saturate=False))


# x and d of one sample: the fast update with fast_lr just below 4·dw_min runs a 4-slot
# train with p·q = 0.99999 (just below 1, so that rounding cannot pick the 8-slot train):
# every slot fires on every cell with x_i·d_j ≠ 0 for the fixed keys of these tests, so
# ΔA = 4·dw_min·sign(d xᵀ) exactly
ALMOST = 0.99999
X = np.array([[1.0, 0.0, -1.0]])
D = np.array([[1.0, -1.0]])
SIGN = np.sign(D.T @ X)  # (out, in)


def _rule(**kw):
    base = dict(fast_lr=ALMOST * 4 * DW, scale_fast_lr=False, auto_scale=False, transfer_every=1.0, transfer_lr=1.0,
                buffer_threshold=1.0, auto_granularity=0.0, momentum=0.25, transfer_bit_length=1,
                chopper_probability=0.0)
    return Transfer(**(base | kw))


def _run(rule, c, steps, *, lr=0.5, state=None, w_state=None, key=0):
    rs = rule.init(c, key=jax.random.key(100)) if state is None else state
    ws = c.init(key=jax.random.key(101)) if w_state is None else w_state
    out = []
    for i in range(steps):
        written, rs = apply_rule(rule, OuterProduct(jnp.asarray(X), jnp.asarray(D), lr), rs, c, ws,
                                 key=jax.random.key(key * 1000 + i))
        ws = written.state
        out.append((written, rs, ws))
    return out


def test_ttv2_update_matches_hand_computation():
    c = _crossbar()
    fast = c
    (w1, s1, ws1), (w2, s2, ws2), (w3, s3, ws3) = _run(_rule(), c, 3)
    # fast array after k updates: k·4·dw_min·sign
    np.testing.assert_allclose(fast.weights(s1.fast), 4 * DW * SIGN, atol=1e-12)
    np.testing.assert_allclose(fast.weights(s3.fast), 12 * DW * SIGN, atol=1e-12)
    # step 1 reads column 0: v = [0.08, -0.08]; H = v·lr/g = v·0.5/0.02 = [2, -2] → one pulse
    # each (transfer_bit_length 1), then H ← momentum·H = [0.5, -0.5]
    np.testing.assert_allclose(s1.buffer[:, 0], [0.5, -0.5], atol=1e-9)
    np.testing.assert_allclose(c.weights(ws1), DW * np.array([[1, 0, 0], [-1, 0, 0]]), atol=1e-12)
    # step 2 reads column 1 (all zero): nothing changes
    np.testing.assert_allclose(c.weights(ws2), c.weights(ws1), atol=1e-15)
    assert float(jnp.abs(s2.buffer[:, 1]).max()) == 0.0
    # step 3 reads column 2: v = 3·0.08·[-1, 1] → H = [-6, 6] → pulses [-1, +1], H ← [-1.5, 1.5]
    np.testing.assert_allclose(s3.buffer[:, 2], [-1.5, 1.5], atol=1e-9)
    np.testing.assert_allclose(c.weights(ws3), DW * np.array([[1, 0, -1], [-1, 0, 1]]), atol=1e-12)
    assert int(s3.reads) == 3 and int(s3.cycles) == 3
    # pulses: W gets one pulse on 2 cells × 2 devices; the fast array 4 pulses on 4 cells × 2 devices
    assert float(jnp.sum(w1.pulses.up) + jnp.sum(w1.pulses.down)) == 4
    assert float(w1.cost.pulses) == 32
    # time: fast array one sample × 4 slots × 1 ns; one read (10 ns); W: one row, one pulse
    np.testing.assert_allclose(float(w1.cost.time), 4e-9 + c.read_time, rtol=1e-12)
    np.testing.assert_allclose(float(w1.time), 1e-9, rtol=1e-12)
    # energy: the fast array's write energy is that of its pulses
    a0 = _rule().init(c, key=jax.random.key(100)).fast
    e_fast = c.write_energy(a0, jax.tree.map(lambda p: p, _fast_pulses(c)))
    np.testing.assert_allclose(float(w1.cost.write_energy), float(e_fast), rtol=1e-12)
    assert float(w1.cost.read_energy) > 0 and float(w1.cost.converter_energy) >= 0


def _fast_pulses(c):
    """The fast array's first update by hand: 4 pulses, potentiation where sign > 0, on
    (devices, in, out)."""
    up = np.where(SIGN.T > 0, 4.0, 0.0)
    down = np.where(SIGN.T < 0, 4.0, 0.0)
    return c.pulse_record(c.pad(jnp.asarray(up)), c.pad(jnp.asarray(down)))


def test_ttv2_without_forgetting_subtracts_the_pulses():
    c = _crossbar()
    (_, s1, _), = _run(_rule(forget_buffer=False, momentum=0.0, transfer_bit_length=1), c, 1)
    np.testing.assert_allclose(s1.buffer[:, 0], [1.0, -1.0], atol=1e-9)  # 2 − 1 pulse
    (_, s1, ws1), = _run(_rule(forget_buffer=False, momentum=0.0, transfer_bit_length=5), c, 1)
    np.testing.assert_allclose(s1.buffer[:, 0], [0.0, 0.0], atol=1e-9)  # both pulses written
    np.testing.assert_allclose(c.weights(ws1)[:, 0], [2 * DW, -2 * DW], atol=1e-12)


def test_tiki_taka_v1_transfer_by_coincidence():
    # transfer_lr·lr ≈ 1: 4 slots, p·q ≈ 1 (as the fast update): W[:, i] += v exactly
    c = _crossbar()
    rule = Transfer(buffered=False, fast_lr=ALMOST * 4 * DW, scale_fast_lr=False, auto_scale=False,
                    transfer_every=1.0, units_in_mbatch=True, transfer_lr=1.0, transfer_bit_length=31)
    (w1, s1, ws1), = _run(rule, c, 1, lr=ALMOST)
    np.testing.assert_allclose(c.weights(ws1), 4 * DW * np.array([[1, 0, 0], [-1, 0, 0]]), atol=1e-12)
    np.testing.assert_allclose(float(w1.time), 4 * 1e-9, rtol=1e-12)  # one transfer, 4 slots


def test_chopper_sign_applies_to_the_fast_update_and_is_removed_in_the_buffer():
    c = _crossbar()
    rule = _rule()
    state = rule.init(c, key=jax.random.key(100))
    state = _replace(state, chopper=jnp.array([-1.0, 1.0, 1.0]))
    (_, s1, ws1), = _run(rule, c, 1, state=state)
    # column 0 of the fast array moved the other way ...
    np.testing.assert_allclose(c.weights(s1.fast), 4 * DW * SIGN * np.array([-1, 1, 1]), atol=1e-12)
    # ... and the de-chopped buffer still writes the gradient's direction into W
    np.testing.assert_allclose(c.weights(ws1), DW * np.array([[1, 0, 0], [-1, 0, 0]]), atol=1e-12)


def test_transfer_schedule_counts_cycles():
    # transfer_every = 2 samples, 3 samples per update: 1, 2, 1, 2 columns read per update
    c = _crossbar(n_in=4, n_out=2)
    rule = Transfer(transfer_every=2.0, auto_scale=False, scale_fast_lr=False, fast_lr=0.0)
    rs = rule.init(c, key=jax.random.key(0))
    ws = c.init(key=jax.random.key(1))
    reads = []
    x, d = jnp.ones((3, 4)), jnp.ones((3, 2))
    for i in range(4):
        written, rs = apply_rule(rule, OuterProduct(x, d, 0.1), rs, c, ws, key=jax.random.key(i))
        reads.append(int(rs.reads))
    assert reads == [1, 3, 4, 6]
    assert int(rs.cycles) == 12
    assert rule.columns_per_update(3) == 2
    # in mini-batch units: one column per update whatever the batch
    rule = Transfer(transfer_every=1.0, units_in_mbatch=True, columns_per_transfer=2)
    assert rule.columns_per_update(64) == 2


def test_regular_chopper_sequence():
    # chopper_probability 0.5, regular: the period is 2 sweeps; a column's chopper flips
    # after its read in every second sweep (sweeps 1, 3, …)
    c = _crossbar(n_in=2, n_out=2)
    rule = _rule(chopper_probability=0.5, chopper_random=False)
    rs = rule.init(c, key=jax.random.key(0))
    ws = c.init(key=jax.random.key(1))
    seq = []
    for i in range(8):
        _, rs = apply_rule(rule, OuterProduct(jnp.asarray(X[:, :2]), jnp.asarray(D), 0.1), rs, c, ws,
                           key=jax.random.key(i))
        seq.append(tuple(int(v) for v in rs.chopper))
    # reads: col 0 (sweep 0), col 1 (sweep 0), col 0 (sweep 1: flip), col 1 (sweep 1: flip), ...
    assert seq == [(1, 1), (1, 1), (-1, 1), (-1, -1), (-1, -1), (-1, -1), (1, -1), (1, 1)]


def test_random_chopper_flip_rate():
    c = _crossbar(n_in=64, n_out=2)
    p = 0.3
    rule = Transfer(chopper_probability=p, chopper_random=True, transfer_every=1.0)
    rs = rule.init(c, key=jax.random.key(0))
    ws = c.init(key=jax.random.key(1))
    x, d = jnp.ones((64, 64)), jnp.zeros((64, 2))
    flips = 0
    prev = rs.chopper
    steps = 20
    for i in range(steps):  # each update reads all 64 columns once
        _, rs = apply_rule(rule, OuterProduct(x, d, 0.1), rs, c, ws, key=jax.random.key(i))
        flips += int(jnp.sum(rs.chopper != prev))
        prev = rs.chopper
    n = steps * 64
    assert abs(flips / n - p) < 4 * math.sqrt(p * (1 - p) / n)


def test_agad_reference_and_warm_up():
    c = _crossbar()
    rule = _rule(chopper_probability=0.5, chopper_random=False)
    rule = Transfer(**{**{f: getattr(rule, f) for f in rule.__dataclass_fields__}, "dynamic": True})
    state = rule.init(c, key=jax.random.key(100))
    m = jnp.array([[0.02], [-0.02]])
    mu_old = jnp.array([[0.5], [0.5]])
    n_chop = 2
    # past the warm-up (sweeps > n_chop), column 0 just switched: μ ← running mean
    state = _replace(state, switched=jnp.array([True, False, False]),
                     running_mean=state.running_mean.at[:, 0:1].set(m),
                     past_mean=state.past_mean.at[:, 0:1].set(mu_old),
                     reads=jnp.asarray(3 * (n_chop + 1), jnp.int32))
    (_, s1, ws1), = _run(rule, c, 1, state=state)
    v = 4 * DW * np.array([1.0, -1.0])  # the read of column 0
    h = (v - np.array([0.02, -0.02])) * 0.5 / DW  # = [1.5, -1.5] → one pulse each, H ← 0.25·H
    np.testing.assert_allclose(s1.buffer[:, 0], 0.25 * h, atol=1e-9)
    np.testing.assert_allclose(s1.past_mean[:, 0], [0.02, -0.02], atol=1e-12)
    s = min(5.0 / n_chop, 1.0)
    np.testing.assert_allclose(s1.running_mean[:, 0], np.array([0.02, -0.02]) * (1 - s) + v * s, atol=1e-12)
    np.testing.assert_allclose(c.weights(ws1)[:, 0], [DW, -DW], atol=1e-12)
    # during the warm-up no write happens (the buffer still fills)
    (_, s0, ws0), = _run(rule, c, 1)
    np.testing.assert_allclose(c.weights(ws0), c.weights(c.init(key=jax.random.key(101))), atol=1e-15)


def _replace(state, **kw):
    fields = {n: getattr(state, n) for n in state.__dataclass_fields__}
    return type(state)(**(fields | kw))


def test_transfer_bad_inputs():
    with pytest.raises(ValueError, match="transfer_every"):
        Transfer(transfer_every=0.0)
    with pytest.raises(ValueError, match="chopper_probability"):
        Transfer(chopper_probability=1.5)
    with pytest.raises(ValueError, match="momentum"):
        Transfer(momentum=1.0)
    with pytest.raises(ValueError, match="columns_per_transfer"):
        Transfer(columns_per_transfer=0)
    with pytest.raises(ValueError, match="buffered"):
        Transfer(buffered=False, dynamic=True)
    with pytest.raises(ValueError, match="key"):
        Transfer().init(_crossbar())


def test_schedule_capped_at_one_sweep_per_update():
    # 8 samples at one column per sample ask for 8 columns of a 3-column array: 3 are read
    c = _crossbar()
    rule = Transfer(transfer_every=1.0)
    rs = rule.init(c, key=jax.random.key(0))
    _, rs = apply_rule(rule, OuterProduct(jnp.ones((8, 3)), jnp.ones((8, 2)), 0.1), rs, c,
                       c.init(key=jax.random.key(1)), key=jax.random.key(2))
    assert int(rs.reads) == 3 and int(rs.cycles) == 8


def _model(device="reram-sb", sizes=(784, 16, 10)):
    dev = get_preset(device)
    return AnalogMLP([Crossbar(dev, a, b) for a, b in zip(sizes[:-1], sizes[1:])])


@pytest.mark.parametrize("cls", [TikiTaka, TTv2, ChoppedTTv2, AGAD])
def test_step_jit_equals_eager_and_vmaps_over_seeds(cls):
    opt, sched = build_optimizer("sgd", 0.1, total_steps=10)
    alg = cls(_model(), opt, sched)
    x = jax.random.uniform(jax.random.key(1), (8, 784))
    y = jnp.arange(8) % 10
    ts = alg.init(key=jax.random.key(0))
    eager = alg.step(ts, x, y, key=jax.random.key(3))
    jitted = jax.jit(lambda ts, k: alg.step(ts, x, y, key=k))(ts, jax.random.key(3))
    for a, b in zip(jax.tree.leaves(eager), jax.tree.leaves(jitted)):
        np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=1e-6, atol=1e-12)
    m = eager[1]
    assert float(m.latency) > 0 and float(m.write_energy) > 0 and float(m.pulses) > 0

    def one(seed):
        ts = alg.init(key=jax.random.key(seed))
        return alg.step(ts, x, y, key=jax.random.fold_in(jax.random.key(seed), 1))[1].loss

    seeds = jnp.arange(2)
    np.testing.assert_allclose(jax.vmap(one)(seeds), [one(int(s)) for s in seeds], rtol=1e-5)


def test_registry_and_defaults():
    for name in ("tiki-taka", "ttv2", "c-ttv2", "agad"):
        assert name in ALGORITHMS
    opt, sched = build_optimizer("sgd", 0.1, total_steps=10)
    tt = TikiTaka(_model(), opt, sched)
    assert tt.update_rule.buffered is False and tt.units_in_mbatch and tt.transfer_bit_length == 31
    c = ChoppedTTv2(_model(), opt, sched)
    assert c.chopper_probability == 0.01 and c.chopper_random and c.auto_granularity == 1000.0
    a = AGAD(_model(), opt, sched)
    assert a.update_rule.dynamic and not a.chopper_random and a.chopper_probability == 0.02
    assert TTv2(_model(), opt, sched).chopper_probability == 0.0
    with pytest.raises(ValueError, match="momentum"):
        TTv2(_model(), opt, sched, momentum=2.0)


def test_config_rejects_transfer_options_for_other_algorithms(tmp_path):
    with pytest.raises(TrainingError, match="transfer_lr"):
        TrainConfig(device="reram-sb", algorithm="analog-sgd", transfer_lr=0.1).validate()
    with pytest.raises(TrainingError, match="chopper_probability"):
        TrainConfig(device="reram-sb", algorithm="c-ttv2", chopper_probability=2.0).validate()
    with pytest.raises(TrainingError, match="fast_device"):
        TrainConfig(device="reram-sb", algorithm="c-ttv2", fast_device="nope").validate()
    with pytest.raises(TrainingError, match="zero_shift_pulses"):
        TrainConfig(device="reram-sb", algorithm="c-ttv2", zero_shift_pulses=1.5).validate()


# fast-mode accuracy: small data, a small network; fails if training breaks (chance is 10 %)
# Fast mode: 124 updates (AGAD 186), through the command line in a process of its own
# (one compiled training program each, away from the test worker's other programs).  The
# transfers are sped up so that they can move the weights in that time (the papers'
# schedules sweep the first layer's 784 columns once per 784 samples): 256 columns per
# update (a sweep every ~3 updates) and up to 2 pulses per transfer; tiki-taka 16 columns
# per mini-batch.  AGAD with a chopper period of 2 sweeps (its default warm-up of 50 sweeps
# would outlast the run).
@pytest.mark.slow
@pytest.mark.parametrize("name", ["tiki-taka", "ttv2", "c-ttv2", "agad"])
def test_fast_mode_training(tmp_path, name):
    tt = (["--transfer-every", "0.0625"] if name == "tiki-taka"
          else ["--transfer-every", "0.0625", "--transfer-bit-length", "2", "--zero-shift-pulses", "100"])
    epochs = "2"
    if name == "agad":  # the reference of the last period needs a few periods: one more epoch
        tt += ["--chopper-probability", "0.5"]
        epochs = "3"
    cmd = [sys.executable, "-m", "synaptax", "train", "--device", "reram-sb", "--algorithm", name, "--hidden", "32",
           "--epochs", epochs, "--train-samples", "1000", "--test-samples", "500", "--lr", "0.5",
           "--run-dir", str(tmp_path / "run"), "--json", str(tmp_path / "report.json"), "--progress", "never", *tt]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=540)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["test_accuracy"] >= 0.6, report["test_accuracy"]  # chance: 0.1
    assert report["latency_per_update_s"] > 0 and report["device_time_s"] > 0
    assert report["algorithm_settings"]["transfer_every"] == 0.0625
    assert report["config"]["algorithm"] == name

def test_zero_shift_finds_the_symmetry_point_and_is_subtracted():
    # soft bounds with step_up/step_down = 1.2/0.8: symmetry point x* = 0.6 of the window;
    # one device per weight read against mid-range: w* = (0.6 − 0.5)·span/(span/2) = 0.2
    from synaptax.devices.generic import SoftBoundsDevice

    dev = SoftBoundsDevice(g_min=0.0, g_max=1e-6, step=1e-8, asymmetry=0.2)
    c = Crossbar(dev, 3, 2, mapping="reference", dac=DAC(bits=None), adc=ADC(bits=None, saturate=False))
    rule = Transfer(zero_shift_pulses=400, fast_lr=0.0, scale_fast_lr=False, auto_scale=False)
    rs = rule.init(c, key=jax.random.key(0))
    # alternating pulses converge to within one step of x*: the pair up-then-down ends below it
    np.testing.assert_allclose(np.asarray(rs.reference), 0.2, atol=2 * 0.02)
    np.testing.assert_allclose(c.weights(rs.fast), rs.reference, atol=1e-12)
    # with no fast update the read minus the reference is zero: nothing reaches the buffer
    written, rs1 = apply_rule(rule, OuterProduct(jnp.zeros((1, 3)), jnp.zeros((1, 2)), 0.5), rs, c,
                              c.init(key=jax.random.key(1)), key=jax.random.key(2))
    np.testing.assert_allclose(rs1.buffer, 0.0, atol=1e-9)
    # without zero-shifting the same fast array (at zero weight) also fills nothing,
    # but once moved to its symmetry point it would read 0.2
    assert float(Transfer().init(c, key=jax.random.key(0)).reference.max()) == 0.0
