#!/usr/bin/env bash
# session 20: score a 128-px candidate as the bundled model is scored: session 16's score.sh (the ablation columns on the
# first 500 mix images, all 1 000 at 1 and 10 steps, the family table), then completion and joint consistency on 64
# samples side by side, one thread each.
#   bash benchmarks/results/s20/finish.sh NAME MODEL
set -e
cd "$(dirname "$0")/../../.."
NAME=$1; MODEL=$2; R=benchmarks/results/s20
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
PY=.venv/bin/python
R=$R bash benchmarks/results/s16/score.sh $NAME $MODEL > $R/families_$NAME.txt 2>&1
$PY benchmarks/completion.py --model $MODEL --limit 100 --json $R/completion_$NAME.json > $R/completion_$NAME.txt 2>&1 &
R=$R $PY benchmarks/results/s17/consistency_probe.py 16 $NAME=$MODEL > $R/consistency_probe_$NAME.txt 2>&1 &
wait
echo done
