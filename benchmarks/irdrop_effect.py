"""What IR drop does to a layer: the README's table of ``ir_drop_effect``.

The first layer of 784-100-10 (784×100 as two 392×100 tiles, differential pair) on
``reram-sb`` initialised as ``synaptax train`` does (seed 0), 100 MNIST test images,
float32, at NeuroSim's cross-point wire resistances per segment (45/22/14 nm) and 10 Ω.
Besides the report's numbers it fits one gain between the layer outputs with wires and
with ideal wires (how much of the error is lost gain) and counts how often the largest of
the 100 outputs is the same unit.

    python benchmarks/irdrop_effect.py      # writes benchmarks/results/irdrop_effect.json
"""
import json
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from synaptax.arrays.diagnostics import ir_drop_currents, ir_drop_effect_report, summarise_ir_drop
from synaptax.training.datasets import load_mnist
from synaptax.training.io import atomic_write_json
from synaptax.training.loop import RunKeys, TrainConfig, build

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    keys = RunKeys.from_seed(0)
    alg = build(TrainConfig(device="reram-sb"), 1, key=keys.model)
    ts = alg.init(key=keys.model)
    xb, state = alg.model.crossbars[0], ts.states[0]
    x = jnp.asarray(load_mnist(None, split="test").images[:100], jnp.float32)
    rows = []
    for node, r in (("45nm", 0.49), ("22nm", 1.06), ("14nm", 2.03), (None, 10.0)):
        t0 = time.perf_counter()
        cur = ir_drop_currents(xb, state, x, r_row=r, r_col=r)
        effect = summarise_ir_drop(cur, full_scale_current=xb.full_scale_current, tile_shape=xb.tile_shape,
                                   tile_grid=xb.tile_grid)
        rep = ir_drop_effect_report(effect)
        seconds = time.perf_counter() - t0
        yw, yi = (np.asarray(a, np.float64).sum(axis=-2) for a in (cur.wires, cur.ideal))  # layer outputs
        gain = float(np.sum(yw * yi) / np.sum(yi * yi))
        rows.append(rep | {
            "node": node,
            "best_fit_gain": gain,
            "relative_error_after_gain": float(np.linalg.norm(yw - gain * yi) / np.linalg.norm(yi)),
            "same_largest_output": float(np.mean(np.argmax(yw, -1) == np.argmax(yi, -1))),
            "seconds": round(seconds, 2),
        })
        print(json.dumps(rows[-1]), flush=True)
    out = {"layer": "784x100 of 784-100-10, reram-sb, seed 0, 100 MNIST test images, float32",
           "backend": jax.default_backend(), "rows": rows}
    atomic_write_json(ROOT / "benchmarks" / "results" / "irdrop_effect.json", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
