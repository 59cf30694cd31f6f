"""Preset descriptions (``synaptax devices``) and readable validation results
(``synaptax reproduce``): synaptax.devices.describe and synaptax.validation.report."""
import dataclasses
import inspect
import math
import re

import jax
import matplotlib
import numpy as np
import pytest

from synaptax.devices import PRESETS, LookupTableDevice, get_preset
from synaptax.devices.describe import (TAGS, FAMILIES, describe_preset, eng, plain_text, plot_pulse_response,
                                       preset_family, preset_parameters, preset_provenance, preset_table,
                                       pulse_response, summarise_preset)
from synaptax.validation import format_result, run_target

ALL = sorted(PRESETS)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# ----------------------------------------------------------------------------- plain_text
@pytest.mark.parametrize("doc, text", [
    ("Idealised device: ``levels`` equal steps", "Idealised device: levels equal steps"),
    ("As :func:`h_wo3` without proton loss", "As h_wo3 without proton loss"),
    ("see :func:`synaptax.devices.generic.presets.pcmo`", "see synaptax.devices.generic.presets.pcmo"),
    ("a :class:`~synaptax.devices.core.variability.StepVariability` here", "a StepVariability here"),
    ("moved by :meth:`ECRAMDevice.scaled` to", "moved by ECRAMDevice.scaled to"),
    ("the :meth:`scaled copy <ECRAMDevice.scaled>`", "the scaled copy"),
    ("*emphasis* and **strong** and `interpreted`", "emphasis and strong and interpreted"),
    ("  two\n    lines\n\n  and   a paragraph  ", "two lines and a paragraph"),
    ("literal ``x* = a*b`` kept", "literal x* = a*b kept"),
    ("Update law, per pulse::\n\n    x ← x + a", "Update law, per pulse: x ← x + a"),
    ("", ""),
])
def test_plain_text(doc, text):
    assert plain_text(doc) == text


def test_plain_text_of_every_preset_docstring_has_no_markup():
    for name in ALL:
        text = plain_text(PRESETS[name].__doc__)
        assert text and "``" not in text and ":func:" not in text and ":class:" not in text, name
        assert "\n" not in text and "  " not in text


def test_eng_format():
    assert eng(5.4e-13) == "540e-15"
    assert eng(0.5) == "500e-3"
    assert eng(1.0) == "1"
    assert eng(96.44e-6) == "96.4e-6"
    assert eng(999.96) == "1e3"
    assert eng(None) == "—"


# ----------------------------------------------------------------------------- summaries
@pytest.mark.parametrize("name", ALL)
def test_every_preset_is_summarised(name):
    s = summarise_preset(name)
    assert s.name == name
    assert s.family in set(FAMILIES.values())
    assert 0 < s.g_min < s.g_max
    assert math.isfinite(s.energy_per_pulse) and s.energy_per_pulse >= 0
    assert s.states is None or (isinstance(s.states, int) and s.states >= 1)
    assert s.pulse_time is None or s.pulse_time > 0
    assert s.description and "``" not in s.description and ":func:" not in s.description
    assert "[" not in s.description  # provenance brackets are left to describe_preset


def test_summary_numbers_by_hand():
    ideal = summarise_preset("ideal")
    assert ideal.family == "generic"
    assert ideal.states == 1000  # (1 − 0.1) µS / 0.9 nS
    # V²·G·t at mid-range: 1 V² × 0.55 µS × 1 ns
    assert ideal.energy_per_pulse == pytest.approx(1.0 * 0.55e-6 * 1e-9, rel=1e-6)
    assert ideal.pulse_time == pytest.approx(1e-9)
    assert summarise_preset("ag-asi").states == 97  # NeuroSim levels
    assert summarise_preset("gokmen-vlasov").states == 1200
    assert summarise_preset("reram-sb").states == 1000
    assert summarise_preset("mg-wo3").family == "electrochemical"
    assert summarise_preset("cogd").family == "spintronic"


def test_families():
    assert {preset_family(n) for n in ALL} == {"generic", "electrochemical", "magneto-ionic", "spintronic", "pcm"}
    assert preset_family("con-25nm") == "magneto-ionic"
    with pytest.raises(ValueError, match="unknown device"):
        summarise_preset("no-such-device")


def test_preset_table_layout():
    names = ["ideal", "reram-sb", "mg-wo3-film", "h-wo3"]
    lines = preset_table(names, width=100).splitlines()
    assert len(lines) == len(names) + 2
    assert [line.split()[0] for line in lines[2:]] == names
    assert all(len(line) <= 100 for line in lines)
    assert any(line.rstrip().endswith("…") for line in lines[2:])  # descriptions cut to fit
    row = next(line for line in lines if line.startswith("mg-wo3-film "))
    assert " 0.08–2300 " in row and " electrochemical " in row and " 500e-3 " in row


@pytest.mark.slow
def test_preset_table():
    table = preset_table()
    lines = table.splitlines()
    assert len(lines) == len(ALL) + 2  # header, rule, one line per preset
    header = lines[0]
    for col in ("G range [µS]", "states", "E/pulse [J]", "pulse [s]", "family", "description"):
        assert col in header
    for name in ALL:
        assert sum(line.split()[0] == name for line in lines[2:]) == 1, name
    assert all(len(line) <= 120 for line in lines)
    assert "`" not in table and ":func:" not in table and ":class:" not in table
    row = next(line for line in lines if line.startswith("ideal "))
    assert " generic " in row and "0.1–1" in row and " 1000 " in row and "550e-18" in row and "1e-9" in row


# ----------------------------------------------------------------------------- parameters
def _leaf_paths(device) -> set[str]:
    """Dotted paths of the non-static leaves of ``device`` (independently of describe)."""
    out = set()
    for path, _ in jax.tree_util.tree_flatten_with_path(device)[0]:
        out.add(".".join(p.name for p in path))
    return out


def _static_paths(obj, prefix="") -> set[str]:
    out = set()
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            out |= _static_paths(v, f"{prefix}{f.name}.")
        elif f.metadata.get("static"):
            out.add(prefix + f.name)
    return out


@pytest.mark.parametrize("name", ["reram-sb", "con-25nm", "cofen-high-m", "mg-wo3", "cogd-hallbar"])
def test_describe_lists_every_leaf_parameter(name):
    device = get_preset(name)
    params = {p.path: p for p in preset_parameters(name)}
    expected = _leaf_paths(device) | _static_paths(device)
    assert expected <= set(params), expected - set(params)
    text = describe_preset(name)
    for path in expected:
        assert re.search(rf"^  {re.escape(path)}\s+\S.*\[({'|'.join(TAGS)}|untagged)\]", text, re.M), path
    assert "`" not in text and ":func:" not in text


def _tags(name):
    return {p.path: p.tag for p in preset_parameters(name)}


def test_describe_tags_reram_sb_against_the_docstring():
    tags = _tags("reram-sb")
    doc = PRESETS["reram-sb"].__doc__
    # "read noise 1 % [assumed, after aihwkit's ..." and "1–10 µS, 1.5 V, 10 ns write pulses [assumed]"
    assert re.search(r"read noise 1 %\s*\[assumed", doc) and re.search(r"1–10 µS.*pulses \[assumed\]", doc)
    for path in ("g_min", "g_max", "pulse_voltage", "pulse_width", "variability.read_noise", "variability.c2c",
                 "variability.d2d_step", "variability.d2d_bounds", "variability.d2d_asymmetry"):
        assert tags[path] == "assumed", path
    assert tags["step"] == "derived"
    assert tags["asymmetry"] == "untagged" and tags["variability.stuck_min"] == "untagged"
    text = describe_preset("reram-sb")
    assert re.search(r"^  g_min\s+1 µS\s+\[assumed\]", text, re.M)
    assert re.search(r"^  pulse_width\s+10 ns\s+\[assumed\]", text, re.M)


def test_describe_tags_magnetoionic_against_the_source():
    from synaptax.devices.magnetoionic import presets as mi

    src = inspect.getsource(mi)
    tags = _tags("con-25nm")
    # CON_FIXED comments: "rate_ref": ... # [paper]; "edl_thickness": ... # [assumed]; the
    # field exponent [derived]; every CON_FIT entry [fit]
    assert re.search(r'"rate_ref": 0\.8 / 1400\.0,\s*# \[paper\]', src)
    assert re.search(r'"edl_thickness": 1e-9,\s*# \[assumed\]', src)
    assert re.search(r"#: \[fit\] parameters of the CoN model", src)
    assert tags["film.rate_ref"] == "paper"
    assert tags["film.edl_thickness"] == "assumed"
    assert tags["film.field_exponent"] == "derived"
    for key in mi.CON_FIT:
        assert tags[f"film.{key}"] == "fit", key
    assert tags["train.amplitude"] == "paper"  # "−25 V [paper] pulses"
    assert tags["transducer.g_on"] == "assumed"  # the read element [assumed]
    assert tags["energy.leakage_current_density"] == "derived"  # GateEnergy docstring
    assert tags["film.injection_ratio"] == "assumed"  # the class default, [assumed 1 …]
    assert tags["film.thickness_ref"] == "untagged"
    cofen = _tags("cofen-high-m")
    for key in mi.COFEN_FIT:
        assert cofen[f"film.{key}"] == "fit", key
    assert cofen["film.saturation_magnetisation"] == "pub"
    assert cofen["remanence_ratio"] == "assumed"
    text = describe_preset("con-25nm")
    assert re.search(r"^  film\.rate_ref\s+.*s⁻¹\s+\[paper\]", text, re.M)


def test_describe_tags_cogd_from_the_class_docstring():
    tags = _tags("cogd-hallbar")
    assert tags["barrier"] == "fit" and tags["sheet_resistance"] == "assumed" and tags["sot_efficiency"] == "paper"
    assert tags["h_x"] == "paper" and tags["set_current"] == "derived" and tags["width"] == "paper"
    # the array preset changed the width: its class-docstring tag no longer applies
    assert _tags("cogd")["width"] == "untagged"


@pytest.mark.parametrize("name", ALL)
def test_provenance_tables_name_real_parameters(name):
    provenance = preset_provenance(name)
    paths = {p.path for p in preset_parameters(name)}
    assert provenance, f"{name} has no PROVENANCE entry"
    assert set(provenance) <= paths, set(provenance) - paths
    assert all(tag in TAGS and note for tag, note in provenance.values())


def test_units_come_from_the_docstrings():
    params = {p.path: p for p in preset_parameters("mg-wo3")}
    assert params["g_min"].unit == "S"
    assert params["pulse_width"].unit == "s"
    assert params["geometry.exchange_area"].unit == "m²"
    assert params["ocp_offset_std"].unit == "V"
    assert params["variability.c2c"].unit == ""
    cogd = {p.path: p for p in preset_parameters("cogd")}
    assert cogd["barrier"].unit == "kT" and cogd["h_x"].unit == "A/m"


def test_describe_lookup_table_arrays():
    from synaptax.devices.describe import describe_device

    g = np.linspace(1e-6, 10e-6, 11)
    dev = LookupTableDevice(g, np.full(11, 0.2e-6), np.full(11, 0.3e-6))
    text = describe_device(dev, name="measured")
    # arrays: shape, dtype, min … max (no unit: the class documents its constructor's
    # arguments, not these fields)
    assert re.search(r"^  table_conductance\s+array\(11,\) float\d+, 1e-06 … 1e-05\s+\[untagged\]", text, re.M)
    assert "trajectory_up" in text


# ----------------------------------------------------------------------------- pulse response
@pytest.mark.parametrize("name", ALL)
def test_plot_pulse_response_every_preset(name, tmp_path):
    backend = matplotlib.get_backend()
    path = tmp_path / f"{name}.png"
    resp = plot_pulse_response(name, path, pulses=3)
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 1000
    assert matplotlib.get_backend() == backend
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, no leftovers
    g = resp.conductance
    assert resp.pulses == 3 and g.shape == (7,) and np.all(np.isfinite(g))
    lo, hi = (float(v) for v in get_preset(name).conductance_range)
    assert np.all(g >= lo * (1 - 1e-6)) and np.all(g <= hi * (1 + 1e-6))
    assert g[0] == pytest.approx(lo, rel=1e-5)
    assert g[3] >= g[0] and g[6] <= g[3]


def test_pulse_response_by_hand():
    # constant step: 0.9 nS per pulse, exactly, up then down
    resp = pulse_response("ideal", pulses=4)
    np.testing.assert_allclose(np.diff(resp.conductance), [0.9e-9] * 4 + [-0.9e-9] * 4, rtol=1e-6)
    np.testing.assert_array_equal(resp.pulse, np.arange(9))
    with pytest.raises(ValueError, match="pulses"):
        pulse_response("ideal", pulses=0)
    with pytest.raises(ValueError, match="start"):
        pulse_response("ideal", pulses=2, start="max")


def test_plot_pulse_response_of_a_device(tmp_path):
    g = np.linspace(1e-6, 10e-6, 11)
    dev = LookupTableDevice(g, np.full(11, 0.2e-6), np.full(11, 0.3e-6))
    path = tmp_path / "lut.png"
    resp = plot_pulse_response(dev, path, pulses=5)
    assert path.read_bytes().startswith(PNG_SIGNATURE)
    np.testing.assert_allclose(resp.conductance[:6], 1e-6 + 0.2e-6 * np.arange(6), rtol=1e-6)


# ----------------------------------------------------------------------------- format_result
FAKE_PASS = {
    "target": "C2", "description": "Mg-EIS: ΔG = 0.3 µS ± 20 % per ±10 µA × 0.5 s pulse at 5 µS",
    "source": "paper.txt, Fig. 3d", "measured": {"delta_g_at_5uS_S": 3.08e-7, "ratio_30uS_to_1uS": 5.44},
    "expected": {"delta_g_at_5uS_S": 3e-7, "ratio_30uS_to_1uS": "> 3"}, "tolerance": "±20 % on ΔG(5 µS)",
    "passed": True, "delta_g_up_down_at_5uS_S": [3.84e-7, 2.32e-7], "role": "primary",
}
FAKE_FAIL = {
    "target": "A3", "description": "CoN 200 nm pulsed: M_S(960 s)", "source": "con.txt, Fig. 2b",
    "measured": {"m960_1Hz": 30.1, "m960_100Hz": 168.0}, "expected": {"m960_1Hz": 17.6, "m960_100Hz": 168.2},
    "tolerance": "within ±30 %", "unit": "emu cm^-3", "passed": False,
}


def _check_readable(text):
    assert "\\u" not in text and "\\x" not in text
    assert text.splitlines()[-1] in ("PASS", "FAIL", "KNOWN FAILURE")


def test_format_result_pass():
    text = format_result(FAKE_PASS)
    _check_readable(text)
    lines = text.splitlines()
    assert lines[0].startswith("C2 — Mg-EIS: ΔG = 0.3 µS ± 20 %")
    assert lines[-1] == "PASS"
    assert re.search(r"delta_g_at_5uS_S\s+308 nS\s+300 nS", text)
    assert re.search(r"ratio_30uS_to_1uS\s+5\.44\s+> 3", text)
    assert "tolerance: ±20 % on ΔG(5 µS)" in text and "role:      primary" in text
    assert "[384 nS, 232 nS]" in text


def test_format_result_fail_and_known_failure():
    text = format_result(FAKE_FAIL)
    _check_readable(text)
    assert text.splitlines()[-1] == "FAIL"
    assert "emu cm⁻³" in text and re.search(r"m960_1Hz\s+30\.1 emu cm⁻³\s+17\.6 emu cm⁻³", text)
    known = format_result({**FAKE_FAIL, "known_failure": "turnover 430 s, paper 695 s"})
    assert known.splitlines()[-1] == "KNOWN FAILURE" and "known failure: turnover 430 s" in known
    # a scalar result and an expectation given as a sentence
    text = format_result({"target": "X1", "measured": 2.0, "expected": "more than 1", "passed": False})
    assert re.search(r"value\s+2\s+more than 1", text) and text.endswith("FAIL")


def test_format_result_of_a_real_target():
    result = run_target("B5")  # the fastest target (≈ 0.2 s)
    text = format_result(result)
    _check_readable(text)
    assert text.splitlines()[0].startswith("B5 — CoFeN")
    assert text.splitlines()[-1] == ("PASS" if result["passed"] else "FAIL")
    assert "tolerance: ±30 %" in text
