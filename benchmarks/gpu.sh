#!/usr/bin/env bash
# Every GPU measurement of synaptax in one run (under 8 minutes on one H100), as JSON.
#
#   benchmarks/gpu.sh [OUT.json] [--dry-run] [--sections a,b,...]
#
# OUT.json defaults to benchmarks/results/gpu.json.  Runs from a source checkout
# (PYTHONPATH=src) with JAX (CUDA), equinox, optax, numpy and jaxtyping already installed:
# nothing is installed or downloaded.  --dry-run runs every section end to end on the CPU
# with small sizes (under a minute; what tests/test_scale.py runs).  PYTHON picks the
# interpreter (default python3).  What is measured: benchmarks/gpu.py's docstring.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
out="$root/benchmarks/results/gpu.json"
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) extra+=(--dry-run) ;;
        --sections|--budget-s) extra+=("$1" "$2"); shift ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) out="$1" ;;
    esac
    shift
done
export PYTHONPATH="$root/src${PYTHONPATH:+:$PYTHONPATH}"
# the largest-crossbar section needs most of the card (JAX reserves 75 % by default)
export XLA_PYTHON_CLIENT_MEM_FRACTION="${XLA_PYTHON_CLIENT_MEM_FRACTION:-0.92}"
if [[ " ${extra[*]-} " == *" --dry-run "* ]]; then
    export JAX_PLATFORMS="${JAX_PLATFORMS:-cpu}"
    export XLA_FLAGS="${XLA_FLAGS:---xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1}"
fi
exec "${PYTHON:-python3}" "$here/gpu.py" --json "$out" ${extra[@]+"${extra[@]}"}
