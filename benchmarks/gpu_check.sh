#!/usr/bin/env bash
# The GPU check: one command for a machine with a GPU (and without one).
#
#   benchmarks/gpu_check.sh [REPORT.json] [--wheels DIR]
#
# Installs ae_zoo with its [gpu,test] extras (from DIR with --wheels, for a machine with
# no network), then runs benchmarks/gpu_check.py: the GPU tests (tests/test_gpu.py: XLA on
# the GPU for the dense and conv VAEs, mixed_float16 and mixed_bfloat16, MirroredStrategy
# over the GPUs, a model trained on the GPU served on a CPU) and the throughput benchmark
# for both models, and writes one JSON report (default gpu_check.json). On a machine
# without a GPU it says so, runs the CPU subset and exits 0. Meant to finish within
# 6 minutes on one GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
report="gpu_check.json"
wheels=""
while [ $# -gt 0 ]; do
    case "$1" in
        --wheels) wheels="$2"; shift 2 ;;
        *) report="$1"; shift ;;
    esac
done
start=$(date +%s)
if [ -n "$wheels" ]; then
    python -m pip install -q --no-index --find-links "$wheels" -e ".[gpu,test]"
else
    python -m pip install -q -e ".[gpu,test]"
fi
echo "installed in $(( $(date +%s) - start )) s"
PYTHONUNBUFFERED=1 python benchmarks/gpu_check.py --out "$report" --started "$start"
