#!/usr/bin/env bash
# Issue #16's accelerator rows in one call, on a CUDA machine whose python3 holds torch (docs/performance.md):
#   bash benchmarks/gpu_check.sh            # writes $OUT (default /tmp/gpu_check): speed_gpu.json, its log, nvidia-smi
# diffusers (the peer) may travel as wheels in .whl/ (pip download --no-deps diffusers==0.42.1 importlib_metadata);
# without it the peer rows are left out. Time: ~3-5 min on an H100 (two torch.compile runs of mf-370m).
set -o pipefail
OUT=${OUT:-/tmp/gpu_check}
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD:$PWD/benchmarks${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/nvidia-smi.txt"
python3 benchmarks/speed.py --only gpu --reps 5 --warmup 2 --json "$OUT/speed_gpu.json" 2>&1 | tee "$OUT/speed_gpu.log"
