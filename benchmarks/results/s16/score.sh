#!/usr/bin/env bash
# Score a candidate as the bundled model was scored (session 15): the ablation columns (first 500 mix images at 1 and
# 10 steps, objects, the open split, realdata with photo and grey input, joint consistency on 16 samples), then all
# 1 000 mix images at 1 and 10 steps and the per-family table. Two one-thread jobs side by side.
#   bash benchmarks/results/s16/score.sh NAME MODEL
# RES=96 scores on the 96-px renders of the same scenes (data/mix96, data/synth96); R=FOLDER writes the results there.
set -e
cd "$(dirname "$0")/../../.."
NAME=$1; MODEL=$2; R=${R:-benchmarks/results/s16}; RES=${RES:-64}
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
PY=.venv/bin/python
$PY benchmarks/ablation.py --model $NAME=$MODEL --root data/mix$RES --extra open=data/synth$RES --limit 500 --seeds 4 \
  --json $R/ablation_$NAME.json > $R/ablation_$NAME.txt 2>&1 &
( .venv/bin/mofo eval --benchmark synth --root data/mix$RES --steps 1 --model $MODEL --json $R/eval_mix_${NAME}_steps1.json
  .venv/bin/mofo eval --benchmark synth --root data/mix$RES --steps 10 --model $MODEL --json $R/eval_mix_${NAME}_steps10.json
) > $R/eval_mix_$NAME.txt 2>&1
wait
$PY benchmarks/families.py --root data/mix$RES "$NAME@1=$R/eval_mix_${NAME}_steps1.csv" "$NAME@10=$R/eval_mix_${NAME}_steps10.csv" \
  --json $R/families_$NAME.json
