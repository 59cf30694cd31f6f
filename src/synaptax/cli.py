"""The ``synaptax`` command line.

``synaptax train``     train a network (MLP, LeNet-5, VGG-like, layer lists) on MNIST or your data
                       with weights in crossbars; report accuracy and energy
                       (exit 0 finished, 1 error, 4 diverged, 130 interrupted).
``synaptax evaluate``  program a finished run into fresh devices; accuracy and energy over time.
``synaptax devices``   the device presets as a table; ``devices show NAME`` one preset's parameters.
``synaptax reproduce`` run a paper's validation target (exit 0 passed, 3 not passed).
``synaptax fit``       fit a device model to measured pulse responses; write a device file.
``synaptax sweep``     train a study's points (grid/zip of settings) and write its report
                       (exit 0 all finished, 4 some failed, 1 error, 130 interrupted).
``synaptax compare``   a table of runs or studies side by side.

Errors are reported as one message on stderr with a non-zero exit status, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


class _Progress:
    """A one-line text progress bar on stderr, with the time spent and an estimate of the
    time left (from the steps run since the first report, so compilation does not count)."""

    def __init__(self, epochs: int, enabled: bool):
        self.epochs = epochs
        self.enabled = enabled and sys.stderr.isatty() or enabled == "always"
        self.t0 = time.perf_counter()
        self.first = None  # (time, global step) of the first report

    def eta(self, epoch, batch, batches, now) -> float | None:
        step = epoch * batches + batch
        if self.first is None:
            self.first = (now, step)
            return None
        t1, s1 = self.first
        if step <= s1 or now <= t1:
            return None
        return (now - t1) / (step - s1) * (self.epochs * batches - step)

    def __call__(self, epoch, batch, batches, loss):
        now = time.perf_counter()
        eta = self.eta(epoch, batch, batches, now)
        if not self.enabled or (batch % 10 and batch != batches):
            return
        width = 30
        done = int(width * batch / batches)
        left = f"ETA {_duration(eta)}" if eta is not None else "ETA --:--"
        msg = (f"\repoch {epoch + 1}/{self.epochs} [{'#' * done}{'.' * (width - done)}] "
               f"{batch}/{batches} loss {loss:.4f} {_duration(now - self.t0)} {left} ")
        sys.stderr.write(msg)
        if batch == batches:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _add_train(sub):
    from .devices import PRESETS
    from .training.algorithms import ALGORITHMS

    p = sub.add_parser("train", help="train a network (MLP, LeNet-5, VGG-like) with weights in crossbar arrays",
                       description="Train a network (an MLP by default; --network lenet5, vgg-small, ...) on MNIST "
                                   "(bundled 5k/10k subsets by default) or your data (--data-dir) with its weights "
                                   "in crossbars of the chosen device; write a run folder with a JSON report "
                                   "(accuracy, energy per update and per inference) and plots.")
    p.add_argument("--device", default="ideal", metavar="NAME",
                   help=f"device preset: {', '.join(sorted(PRESETS))}; or a device file DEVICE.toml (from "
                        "'synaptax fit') (default: ideal)")
    p.add_argument("--algorithm", default="analog-sgd", metavar="NAME",
                   help=f"training algorithm: {', '.join(ALGORITHMS)} (default: analog-sgd)")
    p.add_argument("--hidden", default="100", help="hidden layer sizes of the MLP, comma-separated (default: 100)")
    p.add_argument("--network", default=None, metavar="DESC",
                   help="architecture: mlp:256,128, lenet5, vgg-small, or a layer list such as "
                        "conv8k3same,pool2,fc64 (conv<OUT>k<K>[s<S>][p<P>|same], pool<K>, avgpool<K>, fc<N>); "
                        "the output layer is added (default: the MLP of --hidden)")
    p.add_argument("--activation", default="sigmoid",
                   help="hidden activation: sigmoid, relu, tanh, cogd-neuron (Co/Gd device neuron, mean response) "
                        "or cogd-neuron-noisy (one noisy device read; analog algorithms) (default: sigmoid)")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=0.5, help="learning rate (default: 0.5)")
    p.add_argument("--optimizer", default="sgd", help="optax optimizer: sgd, momentum, adam (default: sgd)")
    p.add_argument("--schedule", default="constant", help="constant, cosine or step (default: constant)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bit-length", type=int, default=31, help="coincidence pulse slots per sample (analog-sgd)")
    p.add_argument("--pulse-budget", type=int, default=1000,
                   help="most weights pulsed per layer and update (sign-sgd) (default: 1000)")
    tt = "(Tiki-Taka family: tiki-taka, ttv2, c-ttv2, agad; default: the algorithm's)"
    p.add_argument("--transfer-every", type=float, default=None, metavar="N",
                   help=f"update cycles between transfers (samples; mini-batches for tiki-taka) {tt}")
    p.add_argument("--transfer-lr", type=float, default=None, metavar="LR",
                   help=f"transfer learning rate, multiplied by --lr {tt}")
    p.add_argument("--fast-lr", type=float, default=None, metavar="LR", help=f"fast-array learning rate {tt}")
    p.add_argument("--columns-per-transfer", type=int, default=None, metavar="N",
                   help=f"columns of the fast array read and written per transfer {tt}")
    p.add_argument("--buffer-threshold", type=float, default=None, metavar="T",
                   help=f"buffer threshold in units of the fast array's dw_min (ttv2, c-ttv2, agad) {tt}")
    p.add_argument("--chopper-probability", type=float, default=None, metavar="P",
                   help=f"chopper flip probability per read (c-ttv2; agad: 1/period) {tt}")
    p.add_argument("--momentum", type=float, default=None, metavar="M",
                   help=f"fraction of the buffer kept after a transfer {tt}")
    p.add_argument("--transfer-bit-length", type=int, default=None, metavar="N",
                   help=f"most pulses per element and transfer (tiki-taka: coincidence slots) {tt}")
    p.add_argument("--zero-shift-pulses", type=int, default=None, metavar="N",
                   help=f"zero-shifting: N alternating pulse pairs bring the fast array to its symmetry point, "
                        f"read as its reference (0: off) {tt}")
    p.add_argument("--fast-device", default=None, metavar="NAME",
                   help=f"device preset of the fast arrays {tt}")
    p.add_argument("--device-param", dest="device_params", action="append", default=None, metavar="PATH=VALUE",
                   help="replace a numeric parameter of the device, e.g. variability.c2c=0.1 (repeatable; "
                        "'synaptax devices show NAME' lists the paths)")
    p.add_argument("--mapping", default="differential", help="weight mapping: differential or reference")
    p.add_argument("--bound-management", default="none",
                   help="none or iterative: re-run an MVM whose output saturates the ADC with halved inputs")
    p.add_argument("--noise-management", default="abs-max",
                   help="abs-max (scale each input vector by its largest magnitude) or none")
    p.add_argument("--rest-time", type=float, default=0.0, help="seconds the devices evolve between updates")
    p.add_argument("--gate-voltage", type=float, default=None, metavar="V",
                   help="magneto-ionic devices: potentiation gate voltage, negative (default: the preset's, -25 V)")
    p.add_argument("--pulse-frequency", type=float, default=None, metavar="HZ",
                   help="magneto-ionic devices: gate pulse frequency (default: the preset's)")
    p.add_argument("--duty-cycle", type=float, default=None, metavar="D",
                   help="magneto-ionic devices: pulse width / period, in (0, 1] (default: the preset's)")
    p.add_argument("--burst", type=int, default=None, metavar="N",
                   help="magneto-ionic devices: gate pulses per update pulse (default: the preset's)")
    p.add_argument("--dac-bits", type=int, default=7, help="input DAC bits, 0 = ideal (default: 7)")
    p.add_argument("--adc-bits", type=int, default=9, help="output ADC bits, 0 = ideal (default: 9)")
    p.add_argument("--w-max", type=float, default=1.0, help="weight of a full-range conductance difference")
    p.add_argument("--max-tile", type=int, default=512, help="largest crossbar tile, rows = cols (default: 512)")
    p.add_argument("--ir-drop", action="store_true", help="solve the wire network exactly in every MVM")
    p.add_argument("--r-wire", type=_r_wire, default=1.06, metavar="OHM|NODE",
                   help="wire resistance per cell segment with --ir-drop: ohms, or a technology node of NeuroSim's "
                        "cross-point wire table: 45nm (0.49), 32nm (0.73), 22nm (1.06), 14nm (2.03) (default: 1.06)")
    p.add_argument("--train-samples", type=int, default=0, help="use only the first N training images (0: all)")
    p.add_argument("--test-samples", type=int, default=0, help="use only the first N test images (0: all)")
    p.add_argument("--data-dir", default=None, metavar="FOLDER|FILE.npz",
                   help="the data: a folder of IDX files (MNIST, Fashion-MNIST, KMNIST, EMNIST layouts) or an .npz "
                        "file with x_train, y_train, x_test, y_test (default: the bundled MNIST subsets)")
    p.add_argument("--no-verify", dest="verify_data", action="store_false",
                   help="do not check known datasets' content checksums or a SHA256SUMS file (structure is "
                        "always checked)")
    p.add_argument("--weight-noise", type=float, default=None, metavar="FRACTION",
                   help="hwa: relative weight noise injected in training (default: 0.04)")
    p.add_argument("--converters-in-loop", action="store_true",
                   help="hwa: quantise each layer's inputs and outputs to --dac-bits / --adc-bits in training")
    p.add_argument("--mesh", default=None, metavar="data=N,tiles=M|auto",
                   help="train on several devices: each batch split over 'data', each crossbar's columns over "
                        "'tiles' (e.g. data=4,tiles=2; auto: all devices on data); on a CPU the devices come from "
                        "JAX_NUM_CPU_DEVICES=N or SYNAPTAX_HOST_DEVICES=N (default: one device)")
    p.add_argument("--run-dir", default=None,
                   help="run folder (default: runs/<device>-<algorithm>-seed<seed>-<hash of the settings>)")
    p.add_argument("--resume", action="store_true", help="continue the run in the run folder from its last checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace a run already in the run folder")
    p.add_argument("--config", default=None, metavar="FILE",
                   help="take the settings from FILE: a run's config.json or report.json, or a TOML file "
                        "(keys as the options' names, top level or under [train]); options given on the "
                        "command line win")
    p.add_argument("--json", default=None, metavar="PATH", help="also write the JSON report to PATH")
    p.add_argument("--progress", choices=["auto", "always", "never"], default="auto", help="progress bar on stderr")
    p.set_defaults(func=_cmd_train)
    return p


def _r_wire(text: str):
    """``--r-wire``: a resistance in ohms or a technology node such as ``22nm``."""
    try:
        return float(text)
    except ValueError:
        t = text.strip().lower().replace(" ", "")
        if t.endswith("nm") and t[:-2].isdigit():
            return t
        raise argparse.ArgumentTypeError(f"expected ohms or a node such as 22nm, got {text!r}") from None


def _explicit_options(parser, argv: list[str]) -> set[str]:
    """Destinations of the options written on the command line (``--x v`` or ``--x=v``)."""
    given = {a.split("=", 1)[0] for a in argv if a.startswith("-")}
    return {a.dest for a in parser._actions if given & set(a.option_strings)}


def _config_file(path: str) -> dict:
    """Settings from ``--config FILE``: a JSON config or report, or a TOML file."""
    from .training.io import CheckpointError, read_json

    p = Path(path)
    if p.suffix.lower() == ".toml":
        import tomllib

        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise _UsageError(f"--config: file {path!r} does not exist") from None
        except (OSError, UnicodeDecodeError) as err:
            raise _UsageError(f"--config: file {path!r} cannot be read: {err}") from None
        except tomllib.TOMLDecodeError as err:
            raise _UsageError(f"--config: {path!r} is not valid TOML: {err}") from None
        data = data.get("train", data)
    else:
        try:
            data = read_json(p, "--config file")
        except CheckpointError as err:
            raise _UsageError(str(err)) from None
        if isinstance(data.get("config"), dict):  # a report.json
            data = data["config"]
    if not isinstance(data, dict):
        raise _UsageError(f"--config: {path!r} holds no table of settings")
    return data


def _cmd_train(args) -> int:
    from .training.io import atomic_write_json
    from .training.loop import TrainConfig, TrainingError, train

    try:
        hidden = tuple(int(h) for h in args.hidden.split(",") if h.strip())
    except ValueError:
        raise _UsageError(f"--hidden must be comma-separated integers, got {args.hidden!r}") from None
    device_params = {}
    for item in args.device_params or ():
        path, eq, value = item.partition("=")
        try:
            device_params[path.strip()] = float(value)
        except ValueError:
            eq = ""
        if not eq or not path.strip():
            raise _UsageError(f"--device-param must be PATH=NUMBER (e.g. variability.c2c=0.1), got {item!r}")
    config = TrainConfig(
        device=args.device, device_params=device_params, algorithm=args.algorithm, hidden=hidden, activation=args.activation,
        network=args.network, verify_data=args.verify_data, weight_noise=args.weight_noise,
        converters_in_loop=args.converters_in_loop,
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr, optimizer=args.optimizer,
        schedule=args.schedule, seed=args.seed, bit_length=args.bit_length, pulse_budget=args.pulse_budget, rest_time=args.rest_time,
        dac_bits=args.dac_bits, adc_bits=args.adc_bits, w_max=args.w_max, max_tile=args.max_tile,
        ir_drop=args.ir_drop, r_wire=args.r_wire, train_samples=args.train_samples,
        test_samples=args.test_samples, data_dir=args.data_dir, gate_voltage=args.gate_voltage,
        pulse_frequency=args.pulse_frequency, duty_cycle=args.duty_cycle, burst=args.burst,
        mapping=args.mapping, bound_management=args.bound_management, noise_management=args.noise_management,
        transfer_every=args.transfer_every, transfer_lr=args.transfer_lr, fast_lr=args.fast_lr,
        columns_per_transfer=args.columns_per_transfer, buffer_threshold=args.buffer_threshold,
        chopper_probability=args.chopper_probability, momentum=args.momentum,
        transfer_bit_length=args.transfer_bit_length, zero_shift_pulses=args.zero_shift_pulses,
        fast_device=args.fast_device, mesh=args.mesh)
    if args.config:
        import dataclasses

        values = _config_file(args.config)
        try:
            base = TrainConfig.from_dict(values, source=f"--config {args.config}")
        except TypeError as err:
            raise _UsageError(f"--config {args.config}: {err}") from None
        explicit = {TrainConfig.ALIASES.get(d, d) for d in args.explicit}
        fields = {f.name for f in dataclasses.fields(TrainConfig)}
        config = dataclasses.replace(base, **{f: getattr(config, f) for f in explicit & fields})
    config.validate()
    for name in ("optimizer", "schedule"):
        valid = {"optimizer": ("sgd", "momentum", "adam"), "schedule": ("constant", "cosine", "step")}[name]
        if getattr(config, name) not in valid:
            raise TrainingError(f"unknown {name} {getattr(config, name)!r}; valid: {', '.join(valid)}")
    run_dir = Path(args.run_dir) if args.run_dir else Path("runs") / config.run_name()
    if args.json:
        json_path = Path(args.json)
        if json_path.parent and not json_path.parent.exists():
            raise _UsageError(f"--json: folder {str(json_path.parent)!r} does not exist")
    progress = _Progress(config.epochs, {"auto": True, "always": "always", "never": False}[args.progress])
    report = train(config, run_dir, resume=args.resume, overwrite=args.overwrite, progress=progress)
    if args.json:
        atomic_write_json(args.json, report)
    _summary(report, run_dir)
    return 0


def _eng(value, unit: str) -> str:
    """``value`` with an SI prefix, e.g. ``26.4 nJ``; ``n/a`` for None."""
    from .devices.describe import si

    return "n/a" if value is None else si(value, unit, 3)


def _summary_rows(report: dict, run_dir: Path) -> list[tuple[str, str]]:
    analog = report.get("energy_per_update_J") is not None
    rows = [
        ("device", report["device"]),
        ("algorithm", report["algorithm"]),
        ("network", report["network"]),
        ("epochs", report["epochs"]),
        ("train / test samples", f"{report['train_samples']} / {report['test_samples']}"),
        ("test accuracy", f"{100 * report['test_accuracy']:.2f} %"),
    ]
    if analog:
        rows += [
            ("energy per update (run mean)", _eng(report["energy_per_update_J"], "J")),
            ("  write pulses", _eng(report["write_energy_per_update_J"], "J")),
            ("  cell reads", _eng(report["read_energy_per_update_J"], "J")),
            ("  converters", _eng(report["converter_energy_per_update_J"], "J")),
            ("energy per update, last epoch", _eng(report["energy_per_update_last_epoch_J"], "J")),
            ("energy per update per cell", _eng(report["energy_per_update_per_cell_J"], "J")),
            ("total training energy", f"{_eng(report['total_training_energy_J'], 'J')} over {report['updates']} updates"),
            ("pulses per update (mean)", f"{report['pulses_per_update']:.4g}"),
            ("total pulses", f"{report['total_pulses']:.4g}"),
            ("energy per inference", _eng(report["energy_per_inference_J"], "J")),
            ("device time per update", _eng(report.get("latency_per_update_s"), "s")),
            ("total device time", _eng(report.get("device_time_s"), "s")),
        ]
        phys = report.get("physical") or {}
        if phys:
            conv = lambda b: f"{b} bit" if b else "ideal"  # noqa: E731
            rows.append(("converters", f"DAC {conv(phys['dac_bits'])}, ADC {conv(phys['adc_bits'])}"))
            rows.append(("tiles", f"{phys['tile_rows']}×{phys['tile_cols']} max, "
                                  f"{'+'.join(map(str, phys['tiles_per_layer']))} per layer"))
            node = f" ({phys['wire_node']})" if phys.get("wire_node") else ""
            rows.append(("wires", f"IR drop solved, {phys['r_row_ohm']:g} Ω per segment{node}" if phys["ir_drop"]
                         else "ideal (--ir-drop to solve the wire network)"))
        for e in report.get("ir_drop_effect") or []:
            rows.append((f"  IR drop, layer {e['layer']}",
                         f"max {_eng(e['max_voltage_drop_V'], 'V')} lost "
                         f"({100 * e['max_voltage_drop_fraction']:.2g} % of the drive), output error "
                         f"{100 * e['relative_output_error']:.2g} %"))
    if report.get("costs"):
        from .circuits.costs import format_costs

        rows += format_costs(report["costs"])
    rows += [("wall time", f"{report['wall_time_s']:.1f} s"), ("run folder", str(run_dir))]
    return [(k, str(v)) for k, v in rows]


def _summary(report: dict, run_dir: Path) -> None:
    rows = _summary_rows(report, run_dir)
    kw = max(len(k) for k, _ in rows)
    vw = max(len(v) for _, v in rows)
    line = "+" + "-" * (kw + 2) + "+" + "-" * (vw + 2) + "+"
    print(line)
    for k, v in rows:
        print(f"| {k:<{kw}} | {v:<{vw}} |")
    print(line)


def _add_reproduce(sub):
    p = sub.add_parser("reproduce", help="run a paper's validation target (A1…D6) and report pass/fail",
                       description="Run the protocol of a validation target from the papers and compare the "
                                   "measured number with the expected one: a readable summary ending in PASS, "
                                   "FAIL or KNOWN FAILURE (exit 0 passed, 3 not passed).")
    p.add_argument("target", nargs="?", help="target id, e.g. C2")
    p.add_argument("--list", action="store_true", help="list all targets")
    p.add_argument("--json", nargs="?", const="-", default=None, metavar="PATH",
                   help="the result as JSON: on stdout instead of the summary (--json alone, after the target), "
                        "or written to PATH with the summary printed")
    p.set_defaults(func=_cmd_reproduce)


def _cmd_reproduce(args) -> int:
    from .training.io import atomic_write_json
    from .validation import TARGETS, format_result, run_target, target_ids

    if args.list:
        for tid in target_ids():
            t = TARGETS[tid]
            flag = "  (known failure)" if t.known_failure else ""
            print(f"{tid:<4} {t.description}{flag}")
        return 0
    if not args.target:
        raise _UsageError("give a target id (e.g. 'synaptax reproduce C2', 'synaptax reproduce C2 --json') "
                          "or --list")
    result = run_target(args.target)
    if args.json == "-":
        print(json.dumps(result, indent=2, default=str, ensure_ascii=False))
    else:
        if args.json:
            atomic_write_json(args.json, json.loads(json.dumps(result, default=str)))
        print(format_result(result))
    return 0 if result["passed"] else 3


def _add_devices(sub):
    p = sub.add_parser("devices", help="the device presets as a table; 'devices show NAME' for one preset",
                       description="Without arguments: every preset with its family, conductance range, states and "
                                   "energy per pulse.  'show NAME': every parameter of a preset with its provenance "
                                   "tag ([pub], [paper], [derived], [fit], [assumed]) and, with --plot, its pulse "
                                   "response.")
    p.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    p.add_argument("name", nargs="?", help="preset name (with show)")
    p.add_argument("--plot", default=None, metavar="PATH", help="with show: write the pulse response to PATH (PNG)")
    p.add_argument("--pulses", type=int, default=None, metavar="N",
                   help="with --plot: N potentiation then N depression pulses (default: the preset's number of "
                        "states, 10 to 500)")
    p.set_defaults(func=_cmd_devices)


def _cmd_devices(args) -> int:
    from .devices import PRESETS
    from .devices.describe import describe_preset, plot_pulse_response, preset_table

    if args.action == "list":
        if args.name or args.plot or args.pulses is not None:
            raise _UsageError("'synaptax devices' takes no preset name; use 'synaptax devices show NAME'")
        print(preset_table())
        return 0
    if not args.name:
        raise _UsageError(f"give a preset name: 'synaptax devices show NAME'; names: {', '.join(sorted(PRESETS))}")
    from .devices.fitting.devicefile import is_device_file

    if is_device_file(args.name):
        return _show_device_file(args)
    if args.name not in PRESETS:
        raise _UsageError(f"unknown device {args.name!r}; valid names: {', '.join(sorted(PRESETS))}")
    if args.pulses is not None and args.pulses < 1:
        raise _UsageError(f"--pulses must be >= 1, got {args.pulses}")
    if args.pulses is not None and not args.plot:
        raise _UsageError("--pulses needs --plot PATH")
    print(describe_preset(args.name))
    if args.plot:
        resp = plot_pulse_response(args.name, args.plot, pulses=args.pulses)
        print(f"\npulse response ({resp.pulses} potentiation then {resp.pulses} depression pulses) "
              f"written to {args.plot}")
    return 0


def _show_device_file(args) -> int:
    from .devices.describe import describe_device, plot_pulse_response
    from .devices.fitting.devicefile import load_device_file

    if args.pulses is not None and args.pulses < 1:
        raise _UsageError(f"--pulses must be >= 1, got {args.pulses}")
    if args.pulses is not None and not args.plot:
        raise _UsageError("--pulses needs --plot PATH")
    df = load_device_file(args.name)
    print(describe_device(df.device, name=df.name, family="", doc=df.description, origin=df.path,
                          provenance=df.provenance))
    if df.uncertainty:
        print("\nUncertainties (one standard error, SI units):")
        for key, value in df.uncertainty.items():
            print(f"  {key:<28} {value:.3g}")
    if df.fit:
        f = df.fit
        print(f"\nFit: {f.get('source')} (sha256 {str(f.get('source_sha256', ''))[:12]}…) on {f.get('date')}, "
              f"chosen by {f.get('chosen_by')}; {f.get('devices')} devices, {f.get('increments')} increments, "
              f"R² {f.get('r2', float('nan')):.4f}")
    if args.plot:
        resp = plot_pulse_response(args.name, args.plot, pulses=args.pulses)
        print(f"\npulse response ({resp.pulses} potentiation then {resp.pulses} depression pulses) "
              f"written to {args.plot}")
    return 0


def _add_fit(sub):
    from .devices.fitting.models import MODELS

    p = sub.add_parser("fit", help="fit a device model to measured pulse responses (CSV) and write a device file",
                       description="Fit a compact device model (constant, linear, soft-bounds, exp, pow step, or a "
                                   "table) to the pulse responses of one or many measured devices: per-device "
                                   "least squares, device-to-device spreads, cycle-to-cycle noise from the "
                                   "residuals, stuck devices, and with time stamps a relaxation law.  Writes a "
                                   "device file (TOML) usable as --device FILE.toml and a figure of data against "
                                   "the model.  CSV format: see synaptax.devices.fitting.data, or the example "
                                   "shipped in the package (synaptax/data/example_pulse_response.csv).")
    p.add_argument("data", metavar="DATA.csv", help="the measurements (columns device, cycle, pulse, direction, "
                                                   "conductance_S; optional time_s, amplitude_V or amplitude_A, "
                                                   "width_s)")
    p.add_argument("--model", default="auto", choices=MODELS, metavar="MODEL",
                   help=f"{', '.join(MODELS)} (default: auto, the lowest BIC among constant, linear, soft-bounds, "
                        "pow)")
    p.add_argument("-o", "--output", default=None, metavar="DEVICE.toml",
                   help="device file to write (default: DATA.toml beside the data)")
    p.add_argument("--plot", default=None, metavar="PNG", help="figure to write (default: the device file's name "
                                                              "with .png)")
    p.add_argument("--no-plot", action="store_true", help="write no figure")
    p.add_argument("--name", default=None, help="the device's name in the file (default: the file's stem)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing device file and figure")
    p.set_defaults(func=_cmd_fit)


def _cmd_fit(args) -> int:
    from pathlib import Path

    from .devices.describe import si
    from .devices.fitting import closest_presets, fit_measurements, read_measurements, write_device_file
    from .devices.fitting.plot import plot_fit

    data_path = Path(args.data)
    out = Path(args.output) if args.output else data_path.with_suffix(".toml")
    if out.suffix.lower() != ".toml":
        raise _UsageError(f"-o {out}: a device file must end in .toml")
    plot = None if args.no_plot else (Path(args.plot) if args.plot else out.with_suffix(".png"))
    if args.no_plot and args.plot:
        raise _UsageError("--plot and --no-plot exclude each other")
    for path in (out, plot):
        if path is not None and path.exists() and not args.overwrite:
            raise _UsageError(f"{path} exists; choose another output or pass --overwrite (nothing was fitted)")
    data = read_measurements(data_path)
    print(f"{data_path}: {data.n_rows} rows, {len(data.devices)} devices", file=sys.stderr)
    fit = fit_measurements(data, model=args.model)
    print(format_fit(fit, si))
    near = closest_presets(fit.device)
    if near:
        print("\nclosest presets (rms log ratio of the one-pulse change over the window): "
              + ", ".join(f"{n} ({d:.2f})" for n, d in near))
    write_device_file(fit, out, name=args.name, overwrite=args.overwrite)
    print(f"\ndevice file written to {out}")
    if plot is not None:
        plot_fit(fit, data, plot)
        print(f"figure written to {plot}")
    print(f"use it: synaptax train --device {out}   |   synaptax devices show {out}")
    return 0


def format_fit(fit, si) -> str:
    """The summary ``synaptax fit`` prints."""
    c = fit.counts
    lines = [f"model: {fit.model} (chosen by {fit.chosen_by})",
             f"data: {c['devices']} devices ({c['stuck_devices']} stuck), {c['increments']} one-pulse increments "
             f"used, {c['censored_at_bounds']} censored at a bound, {c['gaps']} gaps"]
    bic = fit.goodness["bic"]
    if len(bic) > 1:
        best = min(bic.values())
        lines.append("BIC (lower is better): " + ", ".join(f"{m} {v - best:+.1f}" for m, v in
                                                          sorted(bic.items(), key=lambda t: t[1])))
    lines.append(f"goodness: rms residual {si(fit.goodness['rmse_S'], 'S')} per pulse, R² of the increments "
                 f"{fit.goodness['r2']:.4f}, reduced χ² {fit.goodness['reduced_chi2']:.3f}")

    def row(name, p):
        value = si(p.value, p.unit) if p.unit else f"{p.value:.4g}"
        err = si(p.se, p.unit) if p.unit else f"{p.se:.2g}"
        return f"  {name:<16} {value:>12} ± {err:<10} {p.note}"

    lines.append("\nparameters (value ± one standard error):")
    lines += [row(k, p) for k, p in fit.parameters.items()]
    lines.append("variability:")
    lines += [row(k, p) for k, p in fit.variability.items()]
    if fit.spread_not_modelled:
        lines.append("device-to-device spread the model holds fixed: "
                     + ", ".join(f"{k} {v:.3g}" for k, v in fit.spread_not_modelled.items()))
    if fit.alternative:
        a = fit.alternative
        lines.append(f"the same law as NeuroSim's exp model: nl_up {a['nl_up']:.3g}, nl_down {a['nl_down']:.3g}, "
                     f"levels {a['levels']:.4g}")
    rel = fit.relaxation
    if rel is None:
        lines.append("relaxation: not fitted (no time-stamped rest reads)")
    elif rel.law == "none":
        lines.append(f"relaxation: none found ({rel.reads} rest reads; BIC prefers no change)")
    else:
        extra = f", exponent {rel.exponent.value:.3g} ± {rel.exponent.se:.2g}" if rel.exponent else ""
        lines.append(f"relaxation: {rel.law}, tau {si(rel.tau.value, 's')} ± {si(rel.tau.se, 's')}, rest "
                     f"{rel.rest.value:.3f} ± {rel.rest.se:.2g} of the window{extra} ({rel.reads} rest reads)")
    return "\n".join(lines)


def _add_sweep(sub):
    p = sub.add_parser("sweep", help="train every point of a study file (grid/zip of settings) and write its report",
                       description="Train a study's points, many per compiled program, into a study folder "
                                   "(results.csv, summary.csv, figures/, report.html). Rerun the same command to "
                                   "resume: finished points are never recomputed. Exit 0: every point finished; "
                                   "4: some points failed or diverged (recorded); 1: error; 130: interrupted.")
    p.add_argument("study", nargs="?", metavar="STUDY.toml", help="the study file (synaptax sweep --example)")
    p.add_argument("--example", action="store_true", help="print a documented example study file and exit")
    p.add_argument("--out", default=None, metavar="DIR", help="study folder (default: studies/<name>)")
    p.add_argument("--batch", default=None, metavar="N|auto",
                   help="most points per compiled program (default: the study file's, else as memory allows)")
    p.add_argument("--vmap", default=None, metavar="N|all|auto",
                   help="points of a batch stepped at once with jax.vmap (default: the study file's, else all; "
                        "1: in turn, in the same compiled program)")
    p.add_argument("--retry-failed", action="store_true", help="train failed and diverged points again")
    p.add_argument("--dry-run", action="store_true", help="list the points and how they would be batched; train nothing")
    p.set_defaults(func=_cmd_sweep)


def _cmd_sweep(args) -> int:
    from .studies import EXAMPLE, read_study, run_study

    if args.example:
        print(EXAMPLE, end="")
        return 0
    if not args.study:
        raise _UsageError("sweep: name a study file (STUDY.toml), or --example for one to start from")
    batch = _count_option("--batch", args.batch, words={"auto": None})
    vmap = _count_option("--vmap", args.vmap, words={"auto": "auto", "all": None}, default="auto")
    study = read_study(args.study)
    out = Path(args.out) if args.out else Path("studies") / study.name
    if args.dry_run:
        from .studies.engine import plan_study

        print(plan_study(study, out, max_batch=batch))
        return 0
    result = run_study(study, out, max_batch=batch, retry_failed=args.retry_failed, vmap=vmap)
    from .studies.report import format_study_summary

    print(format_study_summary(result["points"], list(study.axes)))
    o = result["outputs"]
    print(f"\n{len(result['points'])} points ({result['trained']} trained now, {result['skipped']} already done, "
          f"{result['failed']} failed or diverged) in {result['wall_time_s']:.0f} s")
    print(f"report: {o['report_html']}\nresults: {o['results_csv']}  summary: {o['summary_csv']}")
    return 4 if result["failed"] else 0


def _count_option(option: str, value, *, words: dict, default=None):
    """An option that is a count (an integer >= 1) or one of ``words`` (their meanings)."""
    if value is None:
        return default
    if value in words:
        return words[value]
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        choices = ", ".join(repr(w) for w in words)
        raise _UsageError(f"{option} must be {choices} or an integer >= 1, got {value!r}")
    return n


def _add_compare(sub):
    p = sub.add_parser("compare", help="a table of runs or studies side by side",
                       description="Compare run folders (report.json) and study folders (summary.csv) side by side.")
    p.add_argument("paths", nargs="+", metavar="RUN_OR_STUDY_DIR")
    p.add_argument("--csv", default=None, metavar="FILE", help="also write the table as CSV")
    p.set_defaults(func=_cmd_compare)


def _cmd_compare(args) -> int:
    from .studies.compare import compare_csv, format_compare

    print(format_compare(args.paths))
    if args.csv:
        from .studies.report import atomic_write_bytes

        atomic_write_bytes(Path(args.csv), compare_csv(args.paths).encode("utf-8"))
        print(f"table written to {args.csv}")
    return 0


def _add_evaluate(sub):
    p = sub.add_parser("evaluate", help="program a finished run's weights into fresh devices; accuracy and energy "
                                         "as they drift",
                       description="Program a finished run's trained weights into fresh devices (a new "
                                   "device-to-device sample, the device's programming noise, optionally "
                                   "program-and-verify), let them evolve (drift, relaxation, retention) and report "
                                   "the test accuracy (mean ± std over repeated programmings) and the energy per "
                                   "inference at each time.  Writes inference-<hash>.json and .png into the run "
                                   "folder; the same settings are never recomputed.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder of 'synaptax train'")
    p.add_argument("--times", default="1,60,3600,86400,2.6e6,3.2e7", metavar="LIST",
                   help="seconds after programming, comma-separated (default: 1 s, 1 min, 1 h, 1 day, 1 month, "
                        "1 year: %(default)s)")
    p.add_argument("--repeats", type=int, default=5, metavar="N", help="independent programmings (default: 5)")
    p.add_argument("--seed", type=int, default=0, help="seed of the programmings and reads (default: 0)")
    p.add_argument("--device", default=None, metavar="NAME",
                   help="program into this device preset or device file DEVICE.toml (default: the run's device)")
    p.add_argument("--no-programming-noise", action="store_true",
                   help="set every cell exactly to its target conductance")
    p.add_argument("--program-verify", type=int, default=0, metavar="N",
                   help="program-and-verify: up to N rounds of read, compare, correct with pulses (default: 0)")
    p.add_argument("--drift-compensation", action="store_true",
                   help="global drift compensation: scale each layer's output by its reference read right after "
                        "programming over the same read now")
    p.add_argument("--test-samples", type=int, default=None, metavar="N",
                   help="test images to evaluate (0: all; default: the run's)")
    p.add_argument("--placement", choices=["one-sided", "centred"], default=None,
                   help="where a weight's pair of devices is programmed: one-sided (the device of its sign at the "
                        "bottom of the window plus |w|, the other at the bottom; default for a pair, as inference "
                        "chips do) or centred (around mid-range, as in training)")
    p.set_defaults(func=_cmd_evaluate)


def _cmd_evaluate(args) -> int:
    from .training.deploy import evaluate_run, format_result, parse_times

    times = parse_times(args.times)
    for option, value, least in (("--repeats", args.repeats, 1), ("--program-verify", args.program_verify, 0),
                                 ("--test-samples", args.test_samples, 0)):
        if value is not None and value < least:
            raise _UsageError(f"{option} must be >= {least}, got {value}")
    record = evaluate_run(args.run_dir, times, repeats=args.repeats, seed=args.seed, device=args.device,
                          programming_noise=not args.no_programming_noise, verify=args.program_verify,
                          drift_compensation=args.drift_compensation, test_samples=args.test_samples,
                          placement=args.placement)
    print(format_result(record))
    run = Path(args.run_dir)
    print(f"\nresult: {run / record['files']['json']}\nfigure: {run / record['files']['png']}")
    return 0


class _UsageError(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    from . import __version__

    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] in (["train"], ["fit"], ["sweep"], ["evaluate"]) and not {"-h", "--help", "--example"} & set(argv):
        print("synaptax: loading JAX ...", file=sys.stderr, flush=True)  # the imports take seconds
    parser = argparse.ArgumentParser(prog="synaptax", description="Crossbar arrays of emerging synaptic devices, in JAX.")
    parser.add_argument("--version", action="version", version=f"synaptax {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    train_parser = _add_train(sub)
    _add_reproduce(sub)
    _add_devices(sub)
    _add_fit(sub)
    _add_sweep(sub)
    _add_compare(sub)
    _add_evaluate(sub)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    args.explicit = _explicit_options(train_parser, argv) if args.command == "train" else set()
    from ._xla import apply_cpu_workaround, apply_host_devices

    apply_cpu_workaround()
    if (args.command == "sweep" and not args.example) or (args.command == "train" and args.mesh):
        apply_host_devices()  # a study spreads its batched configurations over the cores
    from .training.datasets import DatasetError
    from .studies.engine import StudyRunError
    from .training.loop import DivergenceError, TrainingError

    try:
        return args.func(args)
    except DivergenceError as err:
        print(f"synaptax: {err}", file=sys.stderr)
        return 4
    except BrokenPipeError:  # output piped into e.g. `head`, which closed it (an OSError: first)
        sys.stderr.close()
        return 0
    except (TrainingError, DatasetError, _UsageError, ValueError, OSError, StudyRunError) as err:
        print(f"synaptax: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if args.command == "sweep":
            print("synaptax: interrupted; finished points and epochs are kept in the study folder (run the same "
                  "command again to continue)", file=sys.stderr)
            return 130
        print("synaptax: interrupted; finished epochs are kept in the run folder (continue with --resume; "
              "a run interrupted in its first epoch leaves nothing)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

__all__ = [
    "main",
]
