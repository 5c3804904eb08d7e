#!/usr/bin/env bash
# 1 vs 10 steps on the study's test split (500 images): recipe, i2d_t1 0.5, regression
cd "$(dirname "$0")/../../.."
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
for m in runs/study/pretrain/ref runs/s14/probe/probe/i2d-t1-0.5-s0 runs/study/regression/t2i-s0; do
  for s in 1 10; do
    echo "$m steps=$s $(.venv/bin/mofo eval --benchmark synth --root data/study/test --model $m/final --steps $s --limit 500 2>/dev/null | tail -1)"
  done
done
