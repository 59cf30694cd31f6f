"""The measurement data layer of ``synaptax fit``: the CSV format, its reader and writer, the
simulator, and the shipped example file."""
import time

import jax
import numpy as np
import pytest

from synaptax.devices.core.variability import StepVariability
from synaptax.devices.fitting import (MeasurementError, MeasurementWarning, Measurements, read_measurements,
                                      simulate_measurements, write_measurements)
from synaptax.devices.fitting.example import EXAMPLE_PROTOCOL, example_device, example_path, make_example
from synaptax.devices.generic import ConstantStepDevice, SoftBoundsDevice

HEADER = "device,cycle,pulse,direction,conductance_S,time_s,width_s\n"
GOOD = ["d0,0,0,none,1e-6,0.0,",
        "d0,0,1,up,1.1e-6,1e-6,1e-8",
        "d0,0,2,up,1.2e-6,2e-6,1e-8",
        "d0,0,3,down,1.15e-6,3e-6,1e-8",
        "d0,0,4,none,1.1e-6,1.0,"]


def write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(path) -> str:
    with pytest.raises(MeasurementError) as info:
        read_measurements(path)
    message = str(info.value)
    assert "\n" not in message, message
    assert str(path) in message, message
    return message


# --------------------------------------------------------------------------- the example
def test_example_file_reads_with_every_column():
    m = read_measurements(example_path())
    p = EXAMPLE_PROTOCOL
    n_reads = 1 + 2 * p["pulses"] + len(p["rest_times"])
    assert m.n_rows == p["devices"] * p["cycles"] * n_reads
    assert m.devices == tuple(f"d{i:03d}" for i in range(p["devices"]))
    assert m.time is not None and m.width is not None and m.amplitude_unit == "V"
    pulse_rows = m.direction != 0
    np.testing.assert_array_equal(m.amplitude[pulse_rows], 1.5)
    assert np.all(np.isnan(m.amplitude[~pulse_rows]))
    np.testing.assert_array_equal(m.width[pulse_rows], 1e-8)
    assert np.all((m.conductance > 0.5e-6) & (m.conductance < 11e-6))
    assert m.row[0] == 1 and m.line[0] > 1 and np.all(np.diff(m.line) == 1)

    inc = m.increments()
    assert inc.gaps == 0
    assert inc.g_before.shape == (p["devices"] * p["cycles"] * 2 * p["pulses"],)
    assert np.sum(inc.direction == 1) == np.sum(inc.direction == -1)
    # soft bounds: potentiation raises, depression lowers the conductance on average
    assert np.mean(inc.g_after - inc.g_before, where=inc.direction == 1) > 0
    assert np.mean(inc.g_after - inc.g_before, where=inc.direction == -1) < 0

    rests = m.rests()
    assert rests.n_segments == p["devices"] * p["cycles"]
    assert rests.time.shape == (rests.n_segments * len(p["rest_times"]),)
    np.testing.assert_allclose(rests.time - rests.t0[rests.segment], np.tile(p["rest_times"], rests.n_segments),
                               rtol=1e-9)
    # each segment starts at the last depression read
    last_down = m.pulse == 2 * p["pulses"]
    np.testing.assert_array_equal(rests.g0, m.conductance[last_down])
    assert np.all(np.diff(rests.segment) >= 0)

    text = example_path().read_text()
    assert "SIMULATED" in text.splitlines()[0]
    assert "make_example" in text and "SoftBoundsDevice" in text and "conductance_S" in text
    assert example_path().stat().st_size < 300_000


def test_make_example_reproduces_the_shipped_file(tmp_path):
    path = make_example(tmp_path / "again.csv")
    new, shipped = read_measurements(path), read_measurements(example_path())
    np.testing.assert_array_equal(new.pulse, shipped.pulse)
    np.testing.assert_array_equal(new.time, shipped.time)
    np.testing.assert_allclose(new.conductance, shipped.conductance, rtol=2e-6)
    with pytest.raises(FileExistsError, match="again.csv"):
        make_example(path)


def test_example_relaxes_toward_its_rest_state():
    m = read_measurements(example_path())
    rests = m.rests()
    long = np.isclose(rests.time - rests.t0[rests.segment], 10.0)
    g_end = rests.conductance[long]
    # distance to the rest state shrinks over the 10 s rest (tau = 1 s)
    assert np.mean(np.abs(g_end - rests.g0)) > 1e-8
    assert example_device().relaxation is not None


# --------------------------------------------------------------------------- round trip
def test_write_read_round_trip_is_exact(tmp_path):
    device = SoftBoundsDevice(g_min=1e-6, g_max=10e-6, step=5e-8,
                              variability=StepVariability(d2d_step=0.3, c2c=0.3, read_noise=0.01))
    m = simulate_measurements(device, key=jax.random.key(3), devices=3, cycles=2, pulses=7, rest_times=(0.5, 2.0),
                              read_noise=True)
    path = write_measurements(m, tmp_path / "m.csv", comment="a comment\nover two lines")
    back = read_measurements(path)
    for name in ("device", "cycle", "pulse", "direction", "conductance", "time", "amplitude", "width"):
        np.testing.assert_array_equal(getattr(back, name), getattr(m, name), err_msg=name)
    assert back.amplitude_unit == "V" and back.source == str(path)
    lines = path.read_text().splitlines()
    assert lines[:2] == ["# a comment", "# over two lines"]
    assert back.line[0] == 4 and back.row[0] == 1

    with pytest.raises(FileExistsError, match="m.csv"):
        write_measurements(m, path)
    write_measurements(m, path, overwrite=True, precision=4)
    rounded = read_measurements(path)
    np.testing.assert_allclose(rounded.conductance, m.conductance, rtol=1e-3)
    assert not np.array_equal(rounded.conductance, m.conductance)


def test_awkward_device_ids_and_amplitude_in_amperes_round_trip(tmp_path):
    ids = np.array(['a,b', 'say "hi"', '#3', 'x'], dtype=object)
    m = Measurements("<made>", ids, [0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 1], [1e-6, 2e-6, 3e-6, 4e-6],
                     amplitude=[np.nan, np.nan, np.nan, -2e-5], amplitude_unit="A")
    back = read_measurements(write_measurements(m, tmp_path / "ids.csv"))
    assert list(back.device) == list(ids)
    assert back.amplitude_unit == "A" and back.amplitude[3] == -2e-5 and np.isnan(back.amplitude[0])


def test_amplitude_in_amperes_is_accepted(tmp_path):
    path = write(tmp_path, "device,cycle,pulse,direction,conductance_S,amplitude_A\n"
                           "d,0,0,none,1e-6,\nd,0,1,up,2e-6,1e-4\nd,0,2,-,1.5e-6,-1e-4\n")
    m = read_measurements(path)
    assert m.amplitude_unit == "A"
    np.testing.assert_array_equal(m.amplitude[1:], [1e-4, -1e-4])
    np.testing.assert_array_equal(m.direction, [0, 1, -1])


# --------------------------------------------------------------------------- structure
def test_direction_aliases_comments_and_extra_columns(tmp_path):
    text = ("# lab notes\n\n  # indented comment\nnote, conductance_S ,device,cycle,pulse,direction\n"
            "x,1e-6,d,0,0,READ\n,,,,,\ny,2e-6,d,0,1,+\nz,3e-6,d,0,2,Set\n,2e-6,d,0,3,reset\n,1e-6,d,0,4,Depression\n"
            ",2e-6,d,0,5,potentiation\n,2e-6,d,0,6,\n,3e-6,d,0,7,Up\n")
    m = read_measurements(write(tmp_path, text))
    np.testing.assert_array_equal(m.direction, [0, 1, 1, -1, -1, 1, 0, 1])
    np.testing.assert_array_equal(m.line, [5, 7, 8, 9, 10, 11, 12, 13])
    np.testing.assert_array_equal(m.row, np.arange(1, 9))
    assert m.time is None and m.amplitude is None and m.width is None
    assert m.rests().n_segments == 0


def test_gaps_break_chains_and_are_counted(tmp_path):
    rows = ["d0,0,0,none,1e-6,0,", "d0,0,1,up,2e-6,1,1e-8", "d0,0,2,up,3e-6,2,1e-8",
            "d0,0,4,up,4e-6,4,1e-8",             # gap: pulse 3 missing
            "d0,0,5,up,5e-6,5,1e-8", "d0,0,6,none,4.9e-6,6,",
            "d0,0,8,none,4.8e-6,8,",            # gap inside the rest run
            "d1,0,0,none,1e-6,0,", "d1,0,2,down,0.9e-6,1,1e-8"]   # gap
    m = read_measurements(write(tmp_path, HEADER + "\n".join(rows) + "\n"))
    inc = m.increments()
    assert inc.gaps == 3
    np.testing.assert_array_equal(inc.row, [2, 3, 5])
    np.testing.assert_array_equal(inc.g_before, [1e-6, 2e-6, 4e-6])
    np.testing.assert_array_equal(inc.device_index, [0, 0, 0])
    rests = m.rests()
    assert rests.n_segments == 1
    np.testing.assert_array_equal(rests.row, [6])
    assert rests.g0[0] == 5e-6 and rests.t0[0] == 5.0 and rests.row0[0] == 5


def test_interleaved_devices_give_sorted_traces(tmp_path):
    rows = ["b,1,0,none,1e-6,0,", "a,0,0,none,2e-6,0,", "b,1,1,up,1.5e-6,1,1e-8", "a,0,1,down,1.8e-6,1,1e-8",
            "b,0,0,none,3e-6,5,", "b,1,2,up,1.7e-6,2,1e-8", "b,0,1,down,2.5e-6,6,1e-8"]
    m = read_measurements(write(tmp_path, HEADER + "\n".join(rows) + "\n"))
    assert m.devices == ("b", "a")
    traces = m.traces()
    assert [(t.device, t.cycle) for t in traces] == [("b", 0), ("b", 1), ("a", 0)]
    np.testing.assert_array_equal(traces[1].pulse, [0, 1, 2])
    np.testing.assert_array_equal(traces[1].row, [1, 3, 6])
    np.testing.assert_array_equal(traces[1].conductance, [1e-6, 1.5e-6, 1.7e-6])
    inc = m.increments()
    np.testing.assert_array_equal(inc.device_index, [0, 0, 0, 1])
    np.testing.assert_array_equal(inc.cycle, [0, 1, 1, 0])
    np.testing.assert_array_equal(inc.row, [7, 3, 6, 4])
    sub = m.subset(devices="a")
    assert sub.devices == ("a",) and list(sub.row) == [2, 4]
    assert m.subset(cycles=[1]).n_rows == 3
    with pytest.raises(ValueError, match="'zz'"):
        m.subset(devices=["zz"])


# --------------------------------------------------------------------------- the simulator
def test_constant_step_increments_equal_the_step_until_the_bound():
    step = 1e-8
    device = ConstantStepDevice(g_min=1e-6, g_max=1.5e-6, step=step)            # 50 steps
    m = simulate_measurements(device, key=jax.random.key(0), devices=2, cycles=2, pulses=60)
    inc = m.increments()
    assert inc.gaps == 0 and inc.g_before.shape == (2 * 2 * 120,)
    d = (inc.g_after - inc.g_before).reshape(2, 2, 120)
    np.testing.assert_allclose(d[..., :50], step, rtol=1e-6)
    np.testing.assert_allclose(d[..., 50:60], 0.0, atol=1e-20)
    np.testing.assert_allclose(d[..., 60:110], -step, rtol=1e-6)
    np.testing.assert_allclose(d[..., 110:], 0.0, atol=1e-20)
    assert m.time is None and m.amplitude_unit == "V"        # no time column without a period or rest times
    np.testing.assert_array_equal(m.width[m.direction != 0], device.pulse_width)


def test_soft_bounds_increments_follow_the_law():
    device = SoftBoundsDevice(g_min=1e-6, g_max=10e-6, step=9e-8)
    m = simulate_measurements(device, key=jax.random.key(1), devices=1, cycles=1, pulses=30)
    inc = m.increments()
    span = 9e-6
    expect = np.where(inc.direction == 1, 2 * 9e-8 * (10e-6 - inc.g_before) / span,
                      -2 * 9e-8 * (inc.g_before - 1e-6) / span)
    np.testing.assert_allclose(inc.g_after - inc.g_before, expect, rtol=1e-9)


def test_simulated_layout_time_stamps_and_rests():
    device = example_device()
    m = simulate_measurements(device, key=jax.random.key(2), devices=3, cycles=2, pulses=4, rest_times=(1e-3, 1.0))
    n_reads = 1 + 8 + 2
    assert m.n_rows == 3 * 2 * n_reads and m.source == "<simulated>"
    assert m.devices == ("d000", "d001", "d002")
    np.testing.assert_array_equal(m.direction[:n_reads], [0, 1, 1, 1, 1, -1, -1, -1, -1, 0, 0])
    period = 10 * device.pulse_width                      # the default
    np.testing.assert_allclose(m.time[:n_reads], [k * period for k in range(9)] + [8 * period + 1e-3,
                                                                                   8 * period + 1.0])
    assert m.time[n_reads] > m.time[n_reads - 1]          # the next cycle starts later
    rests = m.rests()
    assert rests.n_segments == 6
    # exponential relaxation (tau = 1 s) toward each cell's rest level: G(t) - G0 is
    # proportional to 1 - exp(-t/tau) (the state also evolves between pulses, 90 ns each)
    moved = (rests.conductance - rests.g0[rests.segment]).reshape(6, 2)
    np.testing.assert_allclose(moved[:, 1] / moved[:, 0], np.expm1(-1.0) / np.expm1(-1e-3), rtol=1e-6)


def test_simulator_refuses_a_device_that_reaches_zero():
    device = ConstantStepDevice(g_min=0.0, g_max=1e-6, step=1e-8)
    with pytest.raises(ValueError, match="g_min = 0.0 S"):
        simulate_measurements(device, key=jax.random.key(0), devices=2, cycles=1, pulses=3)
    with pytest.raises(ValueError, match="rest_times"):
        simulate_measurements(example_device(), key=jax.random.key(0), rest_times=(1.0, 0.5))


def test_simulation_of_a_hundred_devices_is_fast():
    device = example_device()
    start = time.perf_counter()
    simulate_measurements(device, key=jax.random.key(0), devices=100, cycles=5, pulses=200)   # compiles
    first = time.perf_counter() - start
    start = time.perf_counter()
    m = simulate_measurements(device, key=jax.random.key(1), devices=100, cycles=5, pulses=200)
    again = time.perf_counter() - start
    assert m.n_rows == 100 * 5 * 401
    assert again < 2.0 and first < 20.0, (first, again)


# --------------------------------------------------------------------------- errors
BAD_ROWS = [
    # (rows replacing GOOD[k] for k in the dict, data row, column, fragment)
    ({1: "d0,0,1,up,abc,1e-6,1e-8"}, 2, "conductance_S", "'abc' is not a number"),
    ({1: "d0,0,1,up,nan,1e-6,1e-8"}, 2, "conductance_S", "'nan' is not a finite number"),
    ({2: "d0,0,2,up,1.2e-6,inf,1e-8"}, 3, "time_s", "'inf' is not a finite number"),
    ({1: "d0,0,1,up,,1e-6,1e-8"}, 2, "conductance_S", "is empty"),
    ({1: "d0,1.5,1,up,1.1e-6,1e-6,1e-8"}, 2, "cycle", "'1.5' is not a whole number"),
    ({3: "d0,0,-3,down,1.15e-6,3e-6,1e-8"}, 4, "pulse", "'-3' is negative"),
    ({1: "d0,0,1,sideways,1.1e-6,1e-6,1e-8"}, 2, "direction", "'sideways' is not a direction"),
    ({2: "d0,0,2,up,0,2e-6,1e-8"}, 3, "conductance_S", "'0' is not > 0"),
    ({2: "d0,0,2,up,-1e-6,2e-6,1e-8"}, 3, "conductance_S", "is not > 0"),
    ({3: "d0,0,3,down,1.15e-6,3e-6,0"}, 4, "width_s", "'0' is not > 0"),
    ({3: "d0,0,3,down,1.15e-6,3e-6,"}, 4, "width_s", "is empty on a pulse row"),
    ({2: "d0,0,2,up,1.2e-6"}, 3, "time_s", "the row has 5 field(s), the header 7"),
    ({2: "d0,0,2,up,1.2e-6,2e-6,1e-8,7"}, 3, "column 8", "the row has 8 fields"),
    ({3: "d0,0,1,down,1.15e-6,3e-6,1e-8"}, 4, "pulse", "'1' does not exceed '2' in row 3 (line 5)"),
    ({3: "d0,0,3,down,1.15e-6,1e-6,1e-8"}, 4, "time_s", "'1e-6' is earlier than '2e-6' in row 3 (line 5)"),
    ({1: ",0,1,up,1.1e-6,1e-6,1e-8"}, 2, "device", "is empty"),
    # two problems: the first in the file is named
    ({1: "d0,0,1,up,1.1e-6,1e-6,-1", 3: "d0,0,3,down,xyz,3e-6,1e-8"}, 2, "width_s", "'-1' is not > 0"),
    ({1: "d0,0,1,up,1.1e-6,1e-6,1e-8,", 2: "d0,0,2,up,1.2e-6,2e-6,1e-8", 4: "d0,x,4,none,1.1e-6,1.0,"}, 5, "cycle",
     "'x' is not a number"),
]


@pytest.mark.parametrize("changes, row, column, fragment", BAD_ROWS)
def test_bad_rows_name_file_row_line_and_column(tmp_path, changes, row, column, fragment):
    rows = list(GOOD)
    for k, text in changes.items():
        rows[k] = text
    path = write(tmp_path, "# comment\n" + HEADER + "\n".join(rows) + "\n")
    message = error_of(path)
    assert f"row {row} (line {row + 2})" in message, message
    assert (column if column.startswith("column") else f"column {column}") in message, message
    assert fragment in message, message


@pytest.mark.parametrize("text, fragments", [
    ("", ["the file is empty"]),
    ("# only\n# comments\n\n", ["no header line"]),
    ("# device,cycle,pulse,direction,conductance_S\nd,0,0,none,1e-6\n",
     ["missing required column(s)", "line 1 names the columns but starts with '#'"]),
    ("device,cycle,pulse,direction,G\nd,0,0,none,1e-6\n",
     ["line 1", "column conductance_S", "missing required column(s) conductance_S", "found: 'device'",
      "column 'G' looks like conductance_S: name it conductance_S (values in siemens)"]),
    ("device,cycle,pulse,direction,conductance_uS\nd,0,0,none,1\n",
     ["column 'conductance_uS' looks like conductance_S in another unit: convert the values to siemens"]),
    ("device,cycle,pulse_number,dir,R_ohm\nd,0,0,none,1\n",
     ["pulse, direction, conductance_S", "'pulse_number' looks like pulse", "'R_ohm' looks like a resistance"]),
    ("device;cycle;pulse;direction;conductance_S\n", ["separated by semicolons"]),
    ("device,cycle,pulse,direction,Conductance_S\nd,0,0,none,1e-6\n", ["name it conductance_S"]),
    ("device,cycle,pulse,direction,conductance_S,amplitude_V,amplitude_A\nd,0,0,none,1e-6,,\n",
     ["line 1", "column amplitude_A", "both amplitude_V and amplitude_A"]),
    ("device,cycle,pulse,direction,conductance_S,cycle\nd,0,0,none,1e-6,0\n", ["column cycle: appears twice"]),
    ("# c\ndevice,cycle,pulse,direction,conductance_S\n\n# nothing\n", ["line 2", "no data rows"]),
    ('device,cycle,pulse,direction,conductance_S\n"d,0,0,none,1e-6\nd,0,1,up,2e-6\n',
     ["row 1 (line 2)", "quoted field is not closed"]),
])
def test_bad_files_give_one_line_errors(tmp_path, text, fragments):
    message = error_of(write(tmp_path, text))
    for fragment in fragments:
        assert fragment in message, message


def test_missing_folder_and_binary_files(tmp_path):
    message = error_of(tmp_path / "nope.csv")
    assert "no such file" in message
    assert "is a folder" in error_of(tmp_path)
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"device,cycle,pulse,direction,conductance_S\n\xe9,0,0,none,1e-6\n")
    assert "line 2: is not UTF-8 text" in error_of(path)


def test_error_helper_and_attributes():
    err = MeasurementError.at("data.csv", 7, 9, "conductance_S", "'abc' is not a number")
    assert str(err) == "data.csv, row 7 (line 9), column conductance_S: 'abc' is not a number"
    assert (err.path, err.row, err.line, err.column) == ("data.csv", 7, 9, "conductance_S")
    assert isinstance(err, ValueError)
    err = MeasurementError.at("data.csv", message="device 'd3' has only 2 up increments\n(rows 10–12)")
    assert str(err) == "data.csv: device 'd3' has only 2 up increments (rows 10–12)"


def test_constructed_measurements_are_checked():
    with pytest.raises(MeasurementError, match=r"^<mine>, row 2, column conductance_S: 0.0 is not > 0"):
        Measurements("<mine>", ["a", "a"], [0, 0], [0, 1], [0, 1], [1e-6, 0.0])
    with pytest.raises(MeasurementError, match="column pulse: 0 does not exceed 1 in row 1"):
        Measurements("<mine>", ["a", "a"], [0, 0], [1, 0], [0, 1], [1e-6, 2e-6])
    m = Measurements("<mine>", ["a", "a", "a"], [0, 0, 0], [0, 1, 2], ["none", "Up", "-"], [1e-6, 2e-6, 1e-6])
    np.testing.assert_array_equal(m.direction, [0, 1, -1])
    assert m.direction.dtype == np.int8 and list(m.row) == [1, 2, 3] and list(m.line) == [0, 0, 0]
    with pytest.raises(ValueError, match="'sideways' is not a direction"):
        Measurements("<mine>", ["a"], [0], [0], ["sideways"], [1e-6])
    with pytest.raises(ValueError, match="shape"):
        Measurements("<mine>", ["a", "a"], [0], [0, 1], [0, 1], [1e-6, 2e-6])


def test_near_miss_optional_columns_and_units_warn(tmp_path):
    path = write(tmp_path, "device,cycle,pulse,direction,conductance_S,time\nd,0,0,none,3.5,0\nd,0,1,up,4.0,1\n")
    with pytest.warns(MeasurementWarning) as record:
        m = read_measurements(path)
    messages = " ".join(str(w.message) for w in record)
    assert "'time' looks like time_s" in messages and "median conductance_S is 3.75 S" in messages
    assert m.time is None


# --------------------------------------------------------------------------- speed
def test_a_hundred_thousand_rows_read_quickly(tmp_path):
    n_dev, n_reads = 100, 1000
    rng = np.random.default_rng(0)
    pulse = np.tile(np.arange(n_reads), n_dev)
    direction = np.where(pulse == 0, 0, np.where(pulse <= n_reads // 2, 1, -1)).astype(np.int8)
    m = Measurements("<big>", np.repeat([f"dev{i}" for i in range(n_dev)], n_reads), np.zeros(n_dev * n_reads, int),
                     pulse, direction, rng.uniform(1e-6, 1e-5, n_dev * n_reads), time=pulse * 1e-6,
                     amplitude=np.where(direction != 0, 1.2, np.nan), amplitude_unit="V",
                     width=np.where(direction != 0, 1e-8, np.nan))
    path = write_measurements(m, tmp_path / "big.csv")
    start = time.perf_counter()
    back = read_measurements(path)
    inc = back.increments()
    elapsed = time.perf_counter() - start
    assert back.n_rows == 100_000 and inc.g_before.shape == (n_dev * (n_reads - 1),)
    np.testing.assert_array_equal(back.conductance, m.conductance)
    assert elapsed < 10.0, elapsed
