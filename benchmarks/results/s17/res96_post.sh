#!/usr/bin/env bash
# session 17: does a finer grid help real photos? The bundled model's float16 weights continued with the bundled
# recipe on the bundled mix, at 96 px (12 x 12 tokens per modality instead of 8 x 8); nothing else changes.
# RES=128 INIT=FOLDER OUT=runs/s17/R128: another grid, continued from another model.
# EXTRA='--set flow.i2d_t1=0.5 ...' adds settings. Resumable: rerun the same command. NPROC=2: DDP, one thread each. STEPS sets the cosine length.
set -e
cd "$(dirname "$0")/../../.."
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 HF_HUB_OFFLINE=1
ARGS=(train --config configs/default_post.toml --stage post --init ${INIT:-mofo/assets/default}
  --data synth:mix --sensor lidar --steps ${STEPS:-2000} --lr 2e-4 --set model.resolution=${RES:-96}
  --set warmup=100 --set flow.p_joint=0.3 --set flow.p_i2d=0.6 --set flow.p_d2i=0.1 --set photometric=0.5
  --set ckpt_every=200 --set keep=2 --set sample_every=100000 --compile --out ${OUT:-runs/s17/R${RES:-96}} --resume $EXTRA)
if [ "${NPROC:-1}" -gt 1 ]; then
  exec .venv/bin/torchrun --standalone --nproc_per_node=$NPROC -m mofo.cli "${ARGS[@]}"
fi
exec .venv/bin/mofo "${ARGS[@]}"
