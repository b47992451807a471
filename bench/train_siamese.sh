#!/usr/bin/env bash
# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
#
# Reproduce the shipped Siamese network (rtmdnet_ros/models/siamese/: NanoTrack v3 fine-tuned on
# the training split; docs/model-card.md). Run from the repository root with the project's Python
# (PYTHON=...). Needs the upstream weights ($RTMDNET_NANOTRACK_V3_DIR or
# ../shared/models/nanotrack_v3/nanotrackv3.pth) and the training videos ($RTMDNET_DATA or
# ../shared/data); development-split sequences are refused by name.
# The canvas cache is built once under $OUT and reused; what each part costs:
# docs/model-card.md, "Recipe".
#   bench/train_siamese.sh             # train (resumable: rerun with RESUME=1)
#   SHIP=1 bench/train_siamese.sh      # + export the best checkpoint into the package
#   EVAL=1 ...                         # + rtmdnet-eval of upstream and ours as the siamese peer
set -euo pipefail
PYTHON=${PYTHON:-python}
OUT=${OUT:-runs}
RESUME_FLAG=()
if [ "${RESUME:-0}" = 1 ]; then RESUME_FLAG=(--resume); fi
nice -n 10 $PYTHON -m rtmdnet_ros.training.siamese train --out "$OUT/siamese" --steps 600 \
  --seed 0 --threads 1 --checkpoint-every 100 --log-every 25 --cache-dir "$OUT/siamese_cache" \
  "${RESUME_FLAG[@]}"

if [ "${SHIP:-0}" = 1 ]; then
  $PYTHON -m rtmdnet_ros.training.siamese export --checkpoint "$OUT/siamese/best.pt" \
    --out rtmdnet_ros/models/siamese
fi

if [ "${EVAL:-0}" = 1 ]; then
  UPSTREAM=${RTMDNET_NANOTRACK_V3_DIR:-../shared/models/nanotrack_v3}
  for name in upstream ours; do
    dir=$UPSTREAM
    if [ $name = ours ]; then dir=rtmdnet_ros/models/siamese; fi
    $PYTHON -m rtmdnet_ros.evaluation --split dev --trackers siamese --set siamese_dir="$dir" \
      --threads 1 --no-progress --out "$OUT/eval_siamese_$name"
  done
fi
