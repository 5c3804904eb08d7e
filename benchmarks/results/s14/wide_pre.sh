#!/usr/bin/env bash
# session 14+: the wide bundled candidate, stage 1: width 288 (9 heads of 32; the study's `scaling` point that beat 192),
# `small` otherwise, x target, text-to-image pre-training on the scene mix from scratch, 10 000 steps x 32 (the bundled
# model's pre-training budget). Resumable: rerun the same command. NPROC=2 runs it under torchrun (DDP, one thread each).
set -e
cd /work/main
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 HF_HUB_OFFLINE=1
ARGS=(train --stage pretrain --preset small --data synth:mix --steps 10000 --batch-size 32 --lr 5e-4
  --set warmup=200 --set schedule="cosine" --set ema_decay=0.999 --set model.image_target="x" --set model.hidden_size=288
  --set model.num_heads=9 --set "model.axes_dim=[8,8,8,8]" --set ckpt_every=200 --set keep=2 --set sample_every=2500
  --set log_every=25 --compile --out runs/s14/W288pre --resume)
if [ "${NPROC:-1}" -gt 1 ]; then
  exec .venv/bin/torchrun --standalone --nproc_per_node=$NPROC -m mofo.cli "${ARGS[@]}"
fi
exec .venv/bin/mofo "${ARGS[@]}"
