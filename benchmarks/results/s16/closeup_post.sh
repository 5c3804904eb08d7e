#!/usr/bin/env bash
# session 16: does the closeup family move real photos? The bundled model's float16 weights continued with the bundled
# recipe (no i2d_t1, so the world is the only change) on a mix with close views of rooms:
# room 0.25 / closeup 0.25 / street 0.35 / open 0.15 (the bundled mix: room 0.4 / street 0.4 / open 0.2).
# Resumable: rerun the same command. NPROC=2: DDP, one thread each. STEPS sets the cosine length.
set -e
cd "$(dirname "$0")/../../.."
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 HF_HUB_OFFLINE=1
ARGS=(train --config configs/default_post.toml --stage post --init mofo/assets/default
  --data synth:room=0.25,closeup=0.25,street=0.35,open=0.15 --sensor lidar --steps ${STEPS:-2800} --lr 2e-4
  --set warmup=100 --set flow.p_joint=0.3 --set flow.p_i2d=0.6 --set flow.p_d2i=0.1 --set photometric=0.5
  --set ckpt_every=200 --set keep=2 --set sample_every=100000 --compile --out runs/s16/Bclose --resume)
if [ "${NPROC:-1}" -gt 1 ]; then
  exec .venv/bin/torchrun --standalone --nproc_per_node=$NPROC -m mofo.cli "${ARGS[@]}"
fi
exec .venv/bin/mofo "${ARGS[@]}"
