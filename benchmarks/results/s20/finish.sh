#!/usr/bin/env bash
# session 20: score a 128-px candidate as the bundled model is scored, in two one-thread lanes.
#   bash benchmarks/results/s20/finish.sh NAME MODEL
# Lane 1: the ablation columns (first 500 mix images; realdata photo and grey; consistency on 16), then completion.
# Lane 2: all 1 000 mix images at 1 and 10 steps, the per-family table, then joint consistency on 64 samples.
set -e
cd "$(dirname "$0")/../../.."
NAME=$1; MODEL=$2; R=benchmarks/results/s20
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
PY=.venv/bin/python
( $PY benchmarks/ablation.py --model $NAME=$MODEL --root data/mix64 --extra open=data/synth64 --limit 500 --seeds 4 \
    --json $R/ablation_$NAME.json > $R/ablation_$NAME.txt 2>&1
  $PY benchmarks/completion.py --model $MODEL --limit 100 --json $R/completion_$NAME.json > $R/completion_$NAME.txt 2>&1 ) &
( for s in 1 10; do
    .venv/bin/mofo eval --benchmark synth --root data/mix64 --steps $s --model $MODEL --json $R/eval_mix_${NAME}_steps$s.json
  done > $R/eval_mix_$NAME.txt 2>&1
  $PY benchmarks/families.py --root data/mix64 "$NAME@1=$R/eval_mix_${NAME}_steps1.csv" "$NAME@10=$R/eval_mix_${NAME}_steps10.csv" \
    --json $R/families_$NAME.json > $R/families_$NAME.txt 2>&1
  R=$R $PY benchmarks/results/s17/consistency_probe.py 16 $NAME=$MODEL > $R/consistency_probe_$NAME.txt 2>&1 ) &
wait
echo done
