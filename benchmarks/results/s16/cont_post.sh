#!/usr/bin/env bash
# session 16: the session-15 checkout was not carried over, so the wide candidate's runs (runs/s14/W288pre, W288post at
# step 2 600 of 11 600) are lost. This continues the bundled model's post-training instead, from its float16 weights
# (mofo/assets/default, mix-small-10000-11600) with the recipe the wide candidate was to use: LiDAR-like sparse depth,
# joint 0.3 / i2d 0.6 / d2i 0.1, photometric jitter 0.5, half the i2d samples at t_depth = 1 (flow.i2d_t1 = 0.5).
# Resumable: rerun the same command. NPROC=2: DDP, one thread each. STEPS sets the cosine length.
set -e
cd "$(dirname "$0")/../../.."
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 HF_HUB_OFFLINE=1
ARGS=(train --config configs/default_post.toml --stage post --init mofo/assets/default
  --data synth:mix --sensor lidar --steps ${STEPS:-6000} --lr 2e-4 --set warmup=100 --set flow.p_joint=0.3 --set flow.p_i2d=0.6
  --set flow.p_d2i=0.1 --set photometric=0.5 --set flow.i2d_t1=0.5 --set ckpt_every=200 --set keep=2 --set sample_every=100000
  --compile --out runs/s16/Bcont --resume)
if [ "${NPROC:-1}" -gt 1 ]; then
  exec .venv/bin/torchrun --standalone --nproc_per_node=$NPROC -m mofo.cli "${ARGS[@]}"
fi
exec .venv/bin/mofo "${ARGS[@]}"
