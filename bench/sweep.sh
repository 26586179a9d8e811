#!/bin/bash
# Hyper-parameter sweep for the shipped configs, every run at once on one GPU (or CPU).
# Each run's step schedule (epochs, batch) matches the token count its CPU budget buys, so
# the ranking carries over to the CPU-time-boxed run that trains the shipped model.
# Usage: bash bench/sweep.sh OUTDIR SECONDS GROUP [extra trainer flags for every run]
#   GROUP: first (the 19 runs of docs/TRAINING.md's first table) | fables (the second table)
#   CORPORA (env): corpora root, default ../shared/corpora; PYTHON (env): default python3
# Prints, per run, the best held-out loss, its step and epoch. docs/TRAINING.md has the figures.
set -u
out=$1 secs=$2 group=$3
shift 3
py=${PYTHON:-python3}
mkdir -p "$out"
common=(--corpora-root "${CORPORA:-../shared/corpora}" --tail-fraction 0.05 --max-minutes 0
  --progress false --out-dir "$out" "$@")
run() {
  local name=$1 config=$2
  shift 2
  timeout "$secs" "$py" -m training.train "training/configs/$config.toml" --name "$name" \
    "${common[@]}" "$@" >"$out/$name.log" 2>&1 &
}
if [ "$group" = first ]; then
  L=(--batch-size 16 --eval-every 500 --epochs 5.95)
  run L1 lovecraft "${L[@]}" --dropout 0.2 --io-dropout 0
  run L2 lovecraft "${L[@]}" --dropout 0.2 --io-dropout 0.1
  run L3 lovecraft "${L[@]}" --dropout 0.3 --io-dropout 0.1
  run L4 lovecraft "${L[@]}" --dropout 0.3 --io-dropout 0
  run L5 lovecraft "${L[@]}" --dropout 0.2 --io-dropout 0.2
  run L6 lovecraft "${L[@]}" --dropout 0.25 --io-dropout 0.1 --weight-decay 0.1
  P=(--batch-size 16 --eval-every 500 --epochs 20)
  run P1 poems "${P[@]}" --dropout 0.25 --io-dropout 0
  run P2 poems "${P[@]}" --dropout 0.25 --io-dropout 0.25
  run P3 poems "${P[@]}" --dropout 0.35 --io-dropout 0.1
  run P4 poems "${P[@]}" --dropout 0.35 --io-dropout 0.1 --hidden-size 512 --epochs 12
  N=(--eval-every 200 --epochs 25 --batch-size 32)
  run N1 names "${N[@]}" --dropout 0.2 --io-dropout 0.2
  run N2 names "${N[@]}" --dropout 0.3 --io-dropout 0.1
  run N3 names "${N[@]}" --dropout 0.2 --io-dropout 0 --batch-size 16
  run N4 names "${N[@]}" --dropout 0.3 --io-dropout 0.3 --batch-size 16
  F=(--eval-every 100 --epochs 20 --embedding-size 128 --weight-decay 0.1)
  run F1 fables "${F[@]}" --dropout 0.4 --io-dropout 0.4
  run F2 fables "${F[@]}" --dropout 0.5 --io-dropout 0.5
  run F3 fables "${F[@]}" --dropout 0.4 --io-dropout 0.4 --weight-decay 0.3
  run F4 fables "${F[@]}" --dropout 0.3 --io-dropout 0.5
  run F5 fables "${F[@]}" --dropout 0.4 --io-dropout 0.4 --amp fp16
elif [ "$group" = fables ]; then
  F=(--eval-every 100 --epochs 20 --dropout 0.3 --io-dropout 0.5 --weight-decay 0.1)
  run Fa fables "${F[@]}" --embedding-size 128 --weight-decay 0.3
  run Fb fables "${F[@]}" --embedding-size 128 --io-dropout 0.4 --hidden-size 192
  run Fc fables "${F[@]}" --embedding-size 256
  run Fd fables "${F[@]}" --embedding-size 128 --seq-len 64
  run Fe fables "${F[@]}" --embedding-size 128 --lr 2e-3 --epochs 30
  run Ff fables "${F[@]}" --embedding-size 128 --io-dropout 0.6
  run Fg fables "${F[@]}" --embedding-size 128 --dropout 0 --layers 1 --hidden-size 384
  run G1 fables "${F[@]}" --embedding-size 256 --weight-decay 0.3
  run G2 fables "${F[@]}" --embedding-size 256 --weight-decay 0.3 --lr 2e-3 --epochs 30
  run G3 fables "${F[@]}" --embedding-size 256 --weight-decay 0.2
else
  echo "unknown group $group (first | fables)" >&2
  exit 2
fi
wait
for metrics in "$out"/*/metrics.csv; do
  "$py" - "$metrics" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
best = min(rows, key=lambda r: float(r["validation_loss"]))
print(f"{sys.argv[1].split('/')[-2]:4} best {float(best['validation_loss']):.4f} at step "
      f"{best['step']} (epoch {float(best['epoch']):.1f}); last step {rows[-1]['step']}")
PY
done
