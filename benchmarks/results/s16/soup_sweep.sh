#!/usr/bin/env bash
# Weight interpolation between the bundled model (alpha 0) and the continued run's final EMA (alpha 1), scored with
# quick.py (validation split data/mixval64: all pixels, object pixels; realdata), two one-thread jobs at a time.
#   bash benchmarks/results/s16/soup_sweep.sh [FINAL]
set -e
cd "$(dirname "$0")/../../.."
FINAL=${1:-runs/s16/Bcont/final}
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
PY=.venv/bin/python; S=benchmarks/results/s16
for a in 0.25 0.5 0.75; do $PY $S/soup.py mofo/assets/default $FINAL $a runs/s16/soup_$a > /dev/null; done
( $PY $S/quick.py $FINAL; $PY $S/quick.py runs/s16/soup_0.25 ) 2>/dev/null | grep synth &
( $PY $S/quick.py runs/s16/soup_0.5; $PY $S/quick.py runs/s16/soup_0.75 ) 2>/dev/null | grep synth
wait
