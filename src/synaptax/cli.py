"""The ``synaptax`` command line.

``synaptax train``   train an MLP on MNIST with weights in crossbars; report accuracy and energy.
``synaptax devices`` list the device presets.
``synaptax reproduce`` run a paper's validation target (exit 0 passed, 3 not passed).

Errors are reported as one message on stderr with a non-zero exit status, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


class _Progress:
    """A one-line text progress bar on stderr."""

    def __init__(self, epochs: int, enabled: bool):
        self.epochs = epochs
        self.enabled = enabled and sys.stderr.isatty() or enabled == "always"
        self.t0 = time.perf_counter()

    def __call__(self, epoch, batch, batches, loss):
        if not self.enabled or (batch % 10 and batch != batches):
            return
        width = 30
        done = int(width * batch / batches)
        msg = (f"\repoch {epoch + 1}/{self.epochs} [{'#' * done}{'.' * (width - done)}] "
               f"{batch}/{batches} loss {loss:.4f} {time.perf_counter() - self.t0:6.1f} s")
        sys.stderr.write(msg)
        if batch == batches:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _add_train(sub):
    from .devices import PRESETS
    from .training.algorithms import ALGORITHMS

    p = sub.add_parser("train", help="train an MLP on MNIST with weights in crossbar arrays",
                       description="Train a 784-...-10 MLP on MNIST (bundled 5k/10k subsets by default) with "
                                   "its weights in crossbars of the chosen device; write a run folder with a "
                                   "JSON report (accuracy, energy per update and per inference) and plots.")
    p.add_argument("--device", default="ideal", metavar="NAME",
                   help=f"device preset: {', '.join(sorted(PRESETS))} (default: ideal)")
    p.add_argument("--algorithm", default="analog-sgd", metavar="NAME",
                   help=f"training algorithm: {', '.join(ALGORITHMS)} (default: analog-sgd)")
    p.add_argument("--hidden", default="100", help="hidden layer sizes, comma-separated (default: 100)")
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
    p.add_argument("--r-wire", type=float, default=1.06, help="wire resistance per cell segment in ohm (default: 1.06)")
    p.add_argument("--train-samples", type=int, default=0, help="use only the first N training images (0: all)")
    p.add_argument("--test-samples", type=int, default=0, help="use only the first N test images (0: all)")
    p.add_argument("--data-dir", default=None, help="folder with the standard MNIST files (default: bundled subsets)")
    p.add_argument("--run-dir", default=None, help="run folder (default: runs/<device>-<algorithm>-seed<seed>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its last checkpoint")
    p.add_argument("--json", default=None, metavar="PATH", help="also write the JSON report to PATH")
    p.add_argument("--progress", choices=["auto", "always", "never"], default="auto", help="progress bar on stderr")
    p.set_defaults(func=_cmd_train)


def _cmd_train(args) -> int:
    from .training.io import atomic_write_json
    from .training.loop import TrainConfig, train

    try:
        hidden = tuple(int(h) for h in args.hidden.split(",") if h.strip())
    except ValueError:
        raise _UsageError(f"--hidden must be comma-separated integers, got {args.hidden!r}") from None
    config = TrainConfig(
        device=args.device, algorithm=args.algorithm, hidden=hidden, activation=args.activation,
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
        fast_device=args.fast_device)
    config.validate()
    if args.optimizer not in ("sgd", "momentum", "adam"):
        raise _UsageError(f"unknown optimizer {args.optimizer!r}; valid: sgd, momentum, adam")
    if args.schedule not in ("constant", "cosine", "step"):
        raise _UsageError(f"unknown schedule {args.schedule!r}; valid: constant, cosine, step")
    name = f"{'float' if args.algorithm == 'float' else args.device}-{args.algorithm}-seed{args.seed}"
    run_dir = Path(args.run_dir or os.path.join("runs", name))
    if args.json:
        json_path = Path(args.json)
        if json_path.parent and not json_path.parent.exists():
            raise _UsageError(f"--json: folder {str(json_path.parent)!r} does not exist")
    progress = _Progress(args.epochs, {"auto": True, "always": "always", "never": False}[args.progress])
    report = train(config, run_dir, resume=args.resume, progress=progress)
    if args.json:
        atomic_write_json(args.json, report)
    _summary(report, run_dir)
    return 0


def _fmt(value, unit=""):
    if value is None:
        return "n/a"
    if isinstance(value, float) and unit:
        return f"{value:.3e} {unit}"
    return str(value)


def _summary(report: dict, run_dir: Path) -> None:
    rows = [
        ("device", report["device"]),
        ("algorithm", report["algorithm"]),
        ("network", report["network"]),
        ("epochs", report["epochs"]),
        ("train / test samples", f"{report['train_samples']} / {report['test_samples']}"),
        ("test accuracy", f"{100 * report['test_accuracy']:.2f} %"),
        ("energy per update", _fmt(report["energy_per_update_J"], "J")),
        ("  write pulses", _fmt(report["write_energy_per_update_J"], "J")),
        ("  cell reads", _fmt(report["read_energy_per_update_J"], "J")),
        ("  converters", _fmt(report["converter_energy_per_update_J"], "J")),
        ("energy per update per cell", _fmt(report["energy_per_update_per_cell_J"], "J")),
        ("energy per inference", _fmt(report["energy_per_inference_J"], "J")),
        ("device time per update", _fmt(report.get("latency_per_update_s"), "s")),
        ("wall time", f"{report['wall_time_s']:.1f} s"),
        ("run folder", str(run_dir)),
    ]
    width = max(len(k) for k, _ in rows)
    line = "+" + "-" * (width + 2) + "+" + "-" * 28 + "+"
    print(line)
    for k, v in rows:
        print(f"| {k:<{width}} | {str(v):<26} |")
    print(line)


def _add_reproduce(sub):
    p = sub.add_parser("reproduce", help="run a paper's validation target (A1…D6) and report pass/fail",
                       description="Run the protocol of a validation target from the papers and compare the "
                                   "measured number with the expected one.")
    p.add_argument("target", nargs="?", help="target id, e.g. C2")
    p.add_argument("--list", action="store_true", help="list all targets")
    p.add_argument("--json", default=None, metavar="PATH", help="write the result as JSON to PATH")
    p.set_defaults(func=_cmd_reproduce)


def _cmd_reproduce(args) -> int:
    from .training.io import atomic_write_json
    from .validation import TARGETS, run_target, target_ids

    if args.list:
        for tid in target_ids():
            t = TARGETS[tid]
            flag = "  (known failure)" if t.known_failure else ""
            print(f"{tid:<4} {t.description}{flag}")
        return 0
    if not args.target:
        raise _UsageError("give a target id (e.g. 'synaptax reproduce C2') or --list")
    result = run_target(args.target)
    if args.json:
        atomic_write_json(args.json, result)
    print(json.dumps(result, indent=2, default=str))
    return 0 if result["passed"] else 3


def _cmd_devices(args) -> int:
    from .devices import PRESETS

    for name in sorted(PRESETS):
        doc = (PRESETS[name].__doc__ or "").strip().splitlines()[0]
        print(f"{name:<15} {doc}")
    return 0


class _UsageError(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="synaptax", description="Crossbar arrays of emerging synaptic devices, in JAX.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_train(sub)
    _add_reproduce(sub)
    p = sub.add_parser("devices", help="list the device presets")
    p.set_defaults(func=_cmd_devices)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from .training.datasets import DatasetError
    from .training.loop import TrainingError

    try:
        return args.func(args)
    except (TrainingError, DatasetError, _UsageError, ValueError, OSError) as err:
        print(f"synaptax: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("synaptax: interrupted; finished epochs are kept in the run folder (use --resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

__all__ = [
    "main",
]
