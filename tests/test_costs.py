"""The first-order latency and area model (synaptax.circuits.costs): units, orderings,
monotonicity, exact bookkeeping, every preset, bad input."""
import math

import pytest

from synaptax.arrays import Crossbar
from synaptax.circuits import ADC, DAC
from synaptax.circuits import costs
from synaptax.circuits.costs import (
    Periphery, cell_area, crossbar_area, format_costs, mvm_latency, pulse_period, run_costs, write_latency,
)
from synaptax.devices import PRESETS, get_preset
from synaptax.training.loop import TrainConfig, build


def _model(device="ideal", **kw):
    cfg = TrainConfig(device=device, epochs=1, hidden=(100,), **kw)
    return cfg, build(cfg, 10)


@pytest.fixture(scope="module")
def ideal():
    return _model("ideal")


def _report(cfg, **values):
    return {"config": cfg.as_dict(), "device": cfg.device, **values}


# ----------------------------------------------------------------------------- pulses, cells
def test_pulse_periods_in_each_technology_range():
    assert 1e-9 <= pulse_period(get_preset("reram-sb")) <= 1e-6          # nanoseconds
    assert pulse_period(get_preset("mg-wo3")) == pytest.approx(0.5)     # the Mg-ion film
    for name in ("con-25nm", "con-200nm", "cofen-high-m", "cofen-low-m"):  # gate trains: seconds
        assert pulse_period(get_preset(name)) >= 1.0
    reram, mg, mi = (write_latency(get_preset(n), 31) for n in ("reram-sb", "mg-wo3", "con-25nm"))
    assert reram < 1e-6 < mg < mi
    assert write_latency(get_preset("mg-wo3"), 10, rest_time=2.0) == pytest.approx(10 * 0.5 + 2.0)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_has_a_cell_area_and_a_pulse_period(name):
    device = get_preset(name)
    cell = cell_area(device, preset=name)
    assert math.isfinite(cell.area) and cell.area > 0
    assert cell.kind in ("cross-point 4F²", "1T1R 48F²", "device footprint")
    assert any(tag in cell.source for tag in ("[pub]", "[paper]", "[derived]", "[assumed]"))
    period = pulse_period(device)
    assert math.isfinite(period) and period > 0


def test_cell_rules():
    f = costs.FEATURE_SIZE[22]
    assert cell_area(get_preset("ideal"), preset="ideal").area == pytest.approx(4 * f * f)
    assert cell_area(get_preset("reram-sb"), preset="reram-sb").area == pytest.approx(48 * f * f)
    # the paper's devices: the Mg-EIS film (1 × 0.6 cm²), the Co/Gd Hall bar (10 µm)
    assert cell_area(get_preset("mg-wo3-film"), preset="mg-wo3-film").area == pytest.approx(0.6e-4)
    assert cell_area(get_preset("cogd-hallbar"), preset="cogd-hallbar").area == pytest.approx(1e-10)
    assert cell_area(get_preset("mg-wo3-100nm"), preset="mg-wo3-100nm").area == pytest.approx(1e-14)
    assert cell_area(get_preset("con-25nm"), preset="con-25nm").area == pytest.approx(1e-14)
    # a smaller node, smaller F² cells
    assert cell_area(get_preset("ideal"), preset="ideal", node=14).area < cell_area(get_preset("ideal"),
                                                                                    preset="ideal").area
    # no preset / a device file: the family's rule (a generic device: 1T1R)
    assert cell_area(get_preset("ideal")).kind == "1T1R 48F²"
    assert cell_area(get_preset("ideal"), preset="fitted.toml").kind == "1T1R 48F²"
    assert cell_area(get_preset("mg-wo3")).kind == "device footprint"


# ----------------------------------------------------------------------------- periphery
def test_converters_grow_with_bits():
    p = Periphery()
    for b in range(2, 12):
        assert p.adc_area(b + 1) > p.adc_area(b)
        assert p.adc_conversion_time(b + 1) > p.adc_conversion_time(b)
        assert p.dac_area(b + 1) > p.dac_area(b)
        assert p.dac_settling_time(b + 1) > p.dac_settling_time(b)
    # the published reference point: ISAAC's 8-bit ADC, 1200 µm² at 32 nm, 1.2 GS/s
    assert Periphery(node=32).adc_area(8) == pytest.approx(1200e-12)
    assert p.adc_conversion_time(8) == pytest.approx(1 / 1.2e9)
    assert p.adc_area(None) == 0 and p.adc_conversion_time(None) == 0


def test_more_adc_bits_more_area_and_time():
    dev = get_preset("ideal")
    lo, hi = (Crossbar(dev, 256, 128, adc=ADC(bits=b)) for b in (6, 10))
    assert crossbar_area(hi).adc > crossbar_area(lo).adc
    assert mvm_latency(hi) > mvm_latency(lo)
    d_lo, d_hi = (Crossbar(dev, 256, 128, dac=DAC(bits=b)) for b in (4, 8))
    assert crossbar_area(d_hi).dac > crossbar_area(d_lo).dac and mvm_latency(d_hi) > mvm_latency(d_lo)


def test_more_columns_per_adc_longer_mvm_fewer_adcs():
    xb = Crossbar(get_preset("ideal"), 300, 100)
    times = [mvm_latency(xb, periphery=Periphery(columns_per_adc=c)) for c in (1, 2, 4, 8, 16, 33, 34, 64, 100, 200)]
    assert all(b >= a for a, b in zip(times, times[1:])) and times[-1] > times[0]
    areas = [crossbar_area(xb, periphery=Periphery(columns_per_adc=c)).adc for c in (1, 8, 64)]
    assert areas[0] > areas[1] > areas[2]
    # the formula: DAC settling + integration + conversions in turn
    p = Periphery(columns_per_adc=8)
    one = p.dac_settling_time(7) + xb.read_time + 8 * p.adc_conversion_time(9)
    assert mvm_latency(xb, periphery=p) == pytest.approx(one)
    assert mvm_latency(xb, batch=5, periphery=p) == pytest.approx(5 * one)
    back = p.dac_settling_time(7) + xb.read_time + 8 * p.adc_conversion_time(9)   # rows 300: 38 ADCs, 8 each
    assert mvm_latency(xb, transposed=True, periphery=p) == pytest.approx(back)


def test_tiles_work_in_parallel():
    dev = get_preset("ideal")
    small, big = Crossbar(dev, 256, 64, max_tile_size=(256, 64)), Crossbar(dev, 1024, 256, max_tile_size=(256, 64))
    assert big.tile_grid == (4, 4)
    assert mvm_latency(big) == pytest.approx(mvm_latency(small))
    assert crossbar_area(big).total == pytest.approx(16 * crossbar_area(small).total)


# ----------------------------------------------------------------------------- a run
def test_area_is_cells_times_cell_area_plus_periphery(ideal):
    cfg, alg = ideal
    c = run_costs(alg.model, report=_report(cfg))
    cells = sum(x.padded_shape[0] * x.padded_shape[1] * x.devices_per_weight for x in alg.model.crossbars)
    assert c["cells"] == cells == 2 * (784 * 100 + 100 * 10)
    assert c["array_area_m2"] == cells * c["cell_area_m2"]
    assert c["area_m2"] == c["array_area_m2"] + c["periphery_area_m2"]
    assert c["periphery_area_m2"] == c["dac_area_m2"] + c["adc_area_m2"]
    p = Periphery()
    dacs = sum(x.tile_grid[0] * x.tile_grid[1] * sum(x.tile_shape) for x in alg.model.crossbars)
    adcs = sum(x.tile_grid[0] * x.tile_grid[1] * (p.adcs(x.tile_shape[0]) + p.adcs(x.tile_shape[1]))
               for x in alg.model.crossbars)
    assert c["dac_area_m2"] == pytest.approx(dacs * p.dac_area(7))
    assert c["adc_area_m2"] == pytest.approx(adcs * p.adc_area(9))


def test_figures_of_merit_consistent(ideal):
    cfg, alg = ideal
    xbs = alg.model.crossbars
    read = cfg.batch_size * (xbs[0].read_time + 2 * xbs[1].read_time)       # what the simulation counts
    report = _report(cfg, energy_per_inference_J=1e-9, energy_per_update_J=2e-8, latency_per_update_s=read + 3e-7,
                     total_training_energy_J=4e-5, updates=2000)
    c = run_costs(alg.model, report=report)
    assert c["ops_per_inference"] == 2 * (784 * 100 + 100 * 10)
    assert c["inference_latency_s"] == pytest.approx(sum(mvm_latency(x) for x in xbs))
    assert c["inference_tops_per_w"] == pytest.approx(c["ops_per_inference"] / 1e-9 / 1e12)
    assert c["inference_edp_Js"] == pytest.approx(1e-9 * c["inference_latency_s"])
    assert c["inference_tops_per_mm2"] == pytest.approx(
        c["ops_per_inference"] / c["inference_latency_s"] / (c["area_m2"] * 1e6) / 1e12)
    # update: reads of the first order model, the simulated writes, the rest
    assert c["update_write_latency_s"] == pytest.approx(3e-7)
    assert c["write_slots_per_update"] == pytest.approx(300)                 # 1 ns pulses
    assert c["update_read_latency_s"] == pytest.approx(
        cfg.batch_size * (mvm_latency(xbs[0]) + mvm_latency(xbs[1]) + mvm_latency(xbs[1], transposed=True)))
    assert c["update_latency_s"] == pytest.approx(c["update_read_latency_s"] + 3e-7 + c["update_rest_s"])
    assert c["ops_per_update"] == cfg.batch_size * (2 * 78400 * 2 + 2 * 1000 * 3)
    assert c["update_tops_per_w"] == pytest.approx(c["ops_per_update"] / 2e-8 / 1e12)
    assert c["update_edp_Js"] == pytest.approx(2e-8 * c["update_latency_s"])
    assert c["training_energy_J"] == 4e-5
    assert c["training_device_time_s"] == pytest.approx(2000 * c["update_latency_s"])
    assert all(isinstance(k, str) for k in c) and all(
        v is None or isinstance(v, (int, float, str)) for v in c.values())
    rows = format_costs(c)
    assert rows and all(isinstance(k, str) and isinstance(v, str) for k, v in rows)
    text = dict(rows)
    assert "ns" in text["inference latency, with converters"] and "TOPS/W" in text["inference efficiency"]


def test_rest_time_and_write_bound():
    cfg, alg = _model("mg-wo3", rest_time=3.0)
    c = run_costs(alg.model, report=_report(cfg, updates=100))  # no simulated latency: the coincidence bound
    assert c["update_write_latency_s"] == pytest.approx(cfg.batch_size * cfg.bit_length * 0.5 * 2)
    assert c["update_rest_s"] == pytest.approx(3.0)
    assert c["update_latency_s"] > c["update_write_latency_s"] + 3.0
    assert c["cell_kind"] == "device footprint" and c["cell_area_m2"] == pytest.approx(0.6e-4)
    assert "h)" in dict(format_costs(c))["training device time, with converters"]           # hours shown as such


def test_none_report_values_and_float_algorithm(ideal):
    cfg, alg = ideal
    c = run_costs(alg.model, report=_report(cfg, energy_per_inference_J=None, energy_per_update_J=None,
                                            latency_per_update_s=None, total_training_energy_J=None, updates=None))
    assert c["area_m2"] > 0 and c["inference_latency_s"] > 0
    for key in ("inference_energy_J", "inference_tops_per_w", "inference_edp_Js", "update_tops_per_w",
                "training_energy_J", "training_device_time_s"):
        assert c[key] is None
    assert all(isinstance(v, str) for _, v in format_costs(c))
    fcfg = TrainConfig(algorithm="float", epochs=1, hidden=(100,))
    falg = build(fcfg, 10)
    assert run_costs(falg.model, report=_report(fcfg)) == {} and format_costs({}) == []


def test_tiki_taka_fast_arrays_counted():
    cfg, alg = _model("ideal", algorithm="tiki-taka")
    with_fast = run_costs(alg, report=_report(cfg))
    alone = run_costs(alg.model, report=_report(cfg))
    assert alone["arrays"] == 2 and with_fast["arrays"] == 4
    assert with_fast["area_m2"] == pytest.approx(2 * alone["area_m2"])


def test_ideal_converters_cost_nothing():
    dev = get_preset("ideal")
    a = crossbar_area(Crossbar(dev, 64, 32, dac=DAC(bits=None), adc=ADC(bits=None)))
    assert a.periphery == 0 and a.total == a.array
    assert mvm_latency(Crossbar(dev, 64, 32, dac=DAC(bits=None), adc=ADC(bits=None))) == pytest.approx(10e-9)


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("call, name", [
    (lambda: cell_area(get_preset("ideal"), preset="no-such-device"), "preset"),
    (lambda: Periphery(columns_per_adc=0), "columns_per_adc"),
    (lambda: Periphery(columns_per_adc=2.5), "columns_per_adc"),
    (lambda: Periphery(node=28), "node"),
    (lambda: Periphery(dac_time_constant=-1.0), "dac_time_constant"),
    (lambda: mvm_latency(Crossbar(get_preset("ideal"), 8, 4), batch=0), "batch"),
    (lambda: write_latency(get_preset("ideal"), -1), "slots"),
    (lambda: write_latency(get_preset("ideal"), 1, rest_time=-1.0), "rest_time"),
])
def test_bad_input_one_line_error_naming_the_parameter(call, name):
    with pytest.raises(ValueError) as err:
        call()
    message = str(err.value)
    assert name in message and "\n" not in message
