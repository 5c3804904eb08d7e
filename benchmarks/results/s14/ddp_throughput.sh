#!/usr/bin/env bash
# throughput: w288 post-training, 1 process x 1 thread vs 2 processes x 1 thread (DDP, gloo)
cd /work/main
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 HF_HUB_OFFLINE=1
ARGS="--stage post --preset small --init runs/study/scaling/t2i-w288/checkpoints/step_0001000 --data synth:mix --sensor lidar
 --steps 24 --batch-size 32 --set model.image_target=\"x\" --set model.hidden_size=288 --set model.num_heads=9 --set model.axes_dim=[8,8,8,8]
 --set flow.p_joint=0.3 --set flow.p_i2d=0.6 --set flow.p_d2i=0.1 --set photometric=0.5 --set log_every=4 --set ckpt_every=1000 --set sample_every=1000"
rm -rf /tmp/s14/one /tmp/s14/two
/usr/bin/time -f "one: %e s" .venv/bin/mofo train $ARGS --out /tmp/s14/one 2>&1 | grep -E "step|one:|Error" | tail -4
/usr/bin/time -f "two: %e s" .venv/bin/torchrun --standalone --nproc_per_node=2 -m mofo.cli train $ARGS --out /tmp/s14/two 2>&1 | grep -E "step|two:|Error" | tail -4
