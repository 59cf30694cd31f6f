"""aihwkit's side of ``benchmarks/training.py --aihwkit-python``: the time of one epoch.

Run by ``benchmarks/training.py`` in a separate Python environment that has aihwkit 1.1.0
and torch (``pip install aihwkit==1.1.0 torch==2.10.0``; neither is a synaptax dependency)
and needs neither jax nor synaptax: the data comes as an ``.npz`` written by the caller
(the same 10,000 images and labels, the same batch order), the device in aihwkit's units
from :mod:`aihwkit_compare` (its table of synaptax's ``reram-sb``).

Network and settings, those of ``benchmarks/training.py``: 784-256-128-10, sigmoid hidden
units, analog SGD at learning rate 0.1, batch 64, stochastic pulse coincidence with bit
length 31 and update / bit-length management, 7-bit DAC / 9-bit ADC (out bound 12), abs-max
noise management, one ``SoftBoundsDevice`` per weight (``SingleRPUConfig``), digital biases,
tiles of at most 512 × 512.  ``--read-noise`` picks the periphery: ``none`` (the
``aihwkit`` configuration: no per-cell read noise, ADC output noise 0.06 at out bound 12)
or ``reram-sb`` (the preset's 1 % read noise as aihwkit's additive weight noise).

One thread (``OMP_NUM_THREADS=1`` and ``torch.set_num_threads(1)``).  Prints one JSON line:
the wall and CPU time of every epoch's training part.

Usage (normally through training.py): python aihwkit_epoch.py --data D.npz --epochs 3
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help=".npz with images (n, 784) float32, labels (n,), order (epochs, n)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--read-noise", choices=("none", "reram-sb"), default="none")
    args = ap.parse_args()

    import numpy as np
    import torch
    from aihwkit.nn import AnalogLinear, AnalogSequential
    from aihwkit.optim import AnalogSGD

    import aihwkit_compare as ac

    torch.set_num_threads(1)
    torch.manual_seed(0)
    tr = dict(ac.RERAM_SB_AIHWKIT)
    cfg = ac.aihwkit_rpu_config("analog-sgd", tr, "softbounds")
    if args.read_noise == "none":
        for io in (cfg.forward, cfg.backward):
            io.w_noise = 0.0
            io.out_noise = 0.06
    data = np.load(args.data)
    x = torch.from_numpy(np.ascontiguousarray(data["images"], dtype=np.float32))
    y = torch.from_numpy(np.asarray(data["labels"], dtype=np.int64))
    order = np.asarray(data["order"], dtype=np.int64)
    batch = 64
    steps = order.shape[1] // batch
    sizes = [784, 256, 128, 10]
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(AnalogLinear(a, b, bias=True, rpu_config=cfg))
        if i < len(sizes) - 2:
            layers.append(torch.nn.Sigmoid())
    model = AnalogSequential(*layers)
    opt = AnalogSGD(model.parameters(), lr=0.1)
    opt.regroup_param_groups(model)
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()
    wall, cpu, losses = [], [], []
    for epoch in range(args.epochs):
        batches = torch.from_numpy(order[epoch % len(order), :steps * batch]).view(steps, batch)
        c0, t0 = time.process_time(), time.perf_counter()
        total = 0.0
        for idx in batches:
            opt.zero_grad()
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            total += loss.item()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        losses.append(total / steps)
    print(json.dumps({"aihwkit": aihwkit_version(), "torch": torch.__version__, "threads": torch.get_num_threads(),
                      "read_noise": args.read_noise, "epoch_wall_s": wall, "epoch_cpu_s": cpu,
                      "train_loss": losses, "steps": steps, "affinity": sorted(os.sched_getaffinity(0))}))
    return 0


def aihwkit_version() -> str:
    import aihwkit

    return aihwkit.__version__


if __name__ == "__main__":
    sys.exit(main())
