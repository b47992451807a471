#!/usr/bin/env bash
# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
#
# Two-fold cross-validation inside the training split, for tuning the online stage of a
# *pretrained* head without touching the evaluation split: a head pretrained on three training
# videos is evaluated on the other three (which it never saw), and the other way round. Together
# the two folds give every training video a held-out score. Tracker options to compare go in
# SET (rtmdnet-eval --set arguments); NAME names the arm. CUT and TRAIN_ARGS (e.g. --sparse)
# choose the architecture of the fold heads, OUT where they go.
#   bench/cv_heads.sh train                   # the two fold heads (runs/cv/fold{a,b})
#   NAME=base bench/cv_heads.sh eval          # both folds held out, default options
#   NAME=lr3 SET="--set lr_init=0.003" bench/cv_heads.sh eval
set -euo pipefail
PYTHON=${PYTHON:-python}
OUT=${OUT:-runs/cv}
CUT=${CUT:-stage3+4}
SEEDS=${SEEDS:-2}
FOLD_A=Diving,car1,person11
FOLD_B=building4,wakeboard10,wakeboard7
case "${1:-}" in
  train)
    # shellcheck disable=SC2086
    for f in a b; do
      seqs=$FOLD_A; [ $f = b ] && seqs=$FOLD_B
      $PYTHON -m rtmdnet_ros.training.cli --out "$OUT/fold$f" --sequences "$seqs" --cut "$CUT" \
        --steps 2000 --cache-stride 3 --cache-scales=-1,0,1 --cache-dir runs/cache \
        --checkpoint-every 250 --log-every 100 --seed 0 --threads 1 --set n_pos=32 \
        --set n_neg=96 --no-progress ${TRAIN_ARGS:-}
    done ;;
  eval)
    # Head trained on fold a -> evaluated on fold b's videos, and the other way round.
    # shellcheck disable=SC2086
    $PYTHON -m rtmdnet_ros.evaluation --sequences "$FOLD_B" --trackers rtmdnet \
      --model "$OUT/folda/model.pt" --seeds "$SEEDS" --threads 1 --no-progress \
      --out "$OUT/eval_${NAME}_b" ${SET:-}
    # shellcheck disable=SC2086
    $PYTHON -m rtmdnet_ros.evaluation --sequences "$FOLD_A" --trackers rtmdnet \
      --model "$OUT/foldb/model.pt" --seeds "$SEEDS" --threads 1 --no-progress \
      --out "$OUT/eval_${NAME}_a" ${SET:-}
    ;;
  *) echo "usage: $0 train|eval" >&2; exit 2 ;;
esac
