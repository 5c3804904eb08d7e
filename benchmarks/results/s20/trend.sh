#!/usr/bin/env bash
# session 20: follow a run's realdata score checkpoint by checkpoint (the run keeps only its last two).
# Each new RUN/checkpoints/step_N is packaged (float16, depth_mu 6) under RUN_ck/N and probed on realdata with the
# photo as is and grey-world balanced (benchmarks/results/s19/probe.py); one line per checkpoint in RUN_trend.txt.
#   RUN=runs/s20/L128 bash benchmarks/results/s20/trend.sh   (loops until RUN/final exists)
set -e
cd "$(dirname "$0")/../../.."
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
PY=.venv/bin/python
while :; do
  for ck in $RUN/checkpoints/step_*; do
    n=${ck##*_}; out=${RUN}_ck/$n
    [ -d "$ck" ] && [ ! -d "$out" ] || continue
    sleep 20  # let the trainer finish writing it
    $PY benchmarks/results/s16/pack.py $ck $out ${RUN##*/}-$n 10 6 --stage "$RUN step $n" > /dev/null
    $PY benchmarks/results/s19/probe.py $out none gw --real-only 2>/dev/null | sed "s|^|$n |" >> ${RUN}_trend.txt
  done
  [ -d $RUN/final ] && break
  sleep 60
done
