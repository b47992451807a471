#!/usr/bin/env bash
# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
#
# Reproduce the shipped default model (rtmdnet_ros/models/default.pt) and its ablation variants.
# Run from the repository root with the project's Python on PATH (or PYTHON=...).
# Training data: the six training-split sequences of docs/design.md under $RTMDNET_DATA or
# ../shared/data; the evaluation split is refused by rtmdnet-train itself.
# Time on the 2-core development machine (shared): ~10 min feature cache + ~35 min training.
set -euo pipefail
PYTHON=${PYTHON:-python}
OUT=${OUT:-runs}
STEPS=${STEPS:-9000}

# Main recipe: ImageNet EfficientNet-Lite0 frozen (features cached once per frame and jitter
# scale), fc4/fc5 + six fc6 branches trained with binary loss + 0.1 x instance loss.
$PYTHON -m rtmdnet_ros.training.cli --out "$OUT/main" --steps "$STEPS" \
  --cache-stride 3 --cache-scales=-1,0,1 --cache-dir "$OUT/cache" \
  --checkpoint-every 500 --log-every 50 --seed 0 --threads 2

# Table 3 ablation: binary loss only (same cache, same seed, same steps).
if [ "${ABLATIONS:-0}" = 1 ]; then
  $PYTHON -m rtmdnet_ros.training.cli --out "$OUT/cls_only" --alpha 0 --steps "$STEPS" \
    --cache-stride 3 --cache-scales=-1,0,1 --cache-dir "$OUT/cache" \
    --checkpoint-every 500 --log-every 50 --seed 0 --threads 2
fi

# Shipping: copy the chosen model into the package (see docs/model-card.md for the choice).
# cp "$OUT/main/model.pt" rtmdnet_ros/models/default.pt
