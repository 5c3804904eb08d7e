#!/usr/bin/env bash
# the wide bundled candidate, stage 2: Modality Forcing post-training of runs/s14/W288pre (width 288) with the bundled
# recipe in one cosine: LiDAR-like sparse depth, joint 0.3 / i2d 0.6 / d2i 0.1, photometric jitter 0.5, 11 600 steps x 32
# (the bundled model's post-training budget), with half the i2d samples at t_depth = 1 (flow.i2d_t1 = 0.5: the study-scale
# probe of session 14-15 gained 0.019 synthetic AbsRel at 1 step on two seeds, 10 steps level; docs/default_model.md).
# Resumable: rerun the same command. NPROC=2: DDP, one thread each.
set -e
cd /work/main
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 HF_HUB_OFFLINE=1
ARGS=(train --config configs/default_post.toml --stage post --init runs/s14/W288pre/checkpoints/step_0010000
  --data synth:mix --sensor lidar --steps 11600 --lr 3e-4 --set warmup=100 --set flow.p_joint=0.3 --set flow.p_i2d=0.6
  --set flow.p_d2i=0.1 --set photometric=0.5 --set flow.i2d_t1=0.5 --set ckpt_every=200 --set keep=2 --set sample_every=5800
  --compile --out runs/s14/W288post --resume)
if [ "${NPROC:-1}" -gt 1 ]; then
  exec .venv/bin/torchrun --standalone --nproc_per_node=$NPROC -m mofo.cli "${ARGS[@]}"
fi
exec .venv/bin/mofo "${ARGS[@]}"
