#!/usr/bin/env bash
# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
#
# Reproduce the shipped default model (rtmdnet_ros/models/default.pt), its ablation variants and
# their evaluation. Run from the repository root with the project's Python (PYTHON=...).
# Training data: the ten training-split videos of rtmdnet_ros/split.py (docs/design.md) under
# $RTMDNET_DATA or ../shared/data; rtmdnet-train refuses development-split sequences by name.
# How long each part takes: docs/model-card.md, "Recipe". The feature cache is built
# once per cut and reused by every frozen-backbone run with the same domains.
#   bench/train_default.sh              # the shipped model only
#   ABLATIONS=1 bench/train_default.sh  # + Table 3 / backbone / data ablation runs
#   EVAL=1 ...                          # + rtmdnet-eval of every model on the evaluation split
#   SHIP=1 ...                          # + write rtmdnet_ros/models/default.pt
set -euo pipefail
PYTHON=${PYTHON:-python}
OUT=${OUT:-runs}
COMMON=(--cache-stride 3 --cache-scales=-1,0,1 --cache-dir "$OUT/cache" --checkpoint-every 250
        --log-every 50 --seed 0 --threads 1 --set n_pos=32 --set n_neg=96)
# Shipped recipe: ImageNet EfficientNet-Lite0 frozen, stage 3 and stage 4 maps stacked (features
# cached once per frame and jitter scale), the ten training videos plus their left-right mirror
# images as 20 domains; fc4/fc5 + 20 fc6 branches trained with binary loss + 0.1 x instance loss.
# 13000 domain-steps = 650 updates of 20 accumulated domain-steps (earlier recipes:
# docs/model-card.md).
SHIPPED=(--cut stage3+4 --mirror --steps 13000)
$PYTHON -m rtmdnet_ros.training.cli --out "$OUT/main34m" "${SHIPPED[@]}" "${COMMON[@]}"

if [ "${ABLATIONS:-0}" = 1 ]; then
  # Table 3: binary loss only (same cache, seed and sample stream as the shipped run).
  $PYTHON -m rtmdnet_ros.training.cli --out "$OUT/cls34m" --alpha 0 "${SHIPPED[@]}" "${COMMON[@]}"
  # Data: the ten videos without their mirror images (same number of updates: 6500 steps of 10).
  $PYTHON -m rtmdnet_ros.training.cli --out "$OUT/main34" --cut stage3+4 --steps 6500 "${COMMON[@]}"
  # Backbone cut: the previous default, stage 4 only.
  $PYTHON -m rtmdnet_ros.training.cli --out "$OUT/main" --cut stage4 --steps 6500 "${COMMON[@]}"
  # Map stride: stage 4 at stride 16 (Table 2's untrained leader), same data as the shipped run.
  $PYTHON -m rtmdnet_ros.training.cli --out "$OUT/main4sm" --cut stage4 --sparse --mirror \
    --steps 13000 "${COMMON[@]}"
  # Backbone: VGG-M-shaped dense conv1-3 from scratch, everything trainable (no cache), so
  # slow on CPU that the comparison stops it early (docs/model-card.md, "Recipe").
  $PYTHON -m rtmdnet_ros.training.cli --out "$OUT/vggm" --backbone vggm --steps 130 \
    --checkpoint-every 10 --log-every 10 --seed 0 --threads 1 --set n_pos=32 --set n_neg=96
fi

if [ "${EVAL:-0}" = 1 ]; then
  ev() {  # name, extra rtmdnet-eval arguments...
    local name=$1; shift
    $PYTHON -m rtmdnet_ros.evaluation --split dev --trackers rtmdnet,csrt,nanotrack --seeds 5 \
      --threads 1 --no-progress --out "$OUT/eval_$name" "$@"
  }
  ev main34m --model "$OUT/main34m/model.pt" --set lr_init=0.001
  ev main34m_nobb --model "$OUT/main34m/model.pt" --set lr_init=0.001 --set bbox_regression=false
  if [ "${ABLATIONS:-0}" = 1 ]; then
    ev cls34m_nobb --model "$OUT/cls34m/model.pt" --set lr_init=0.001 --set bbox_regression=false
    ev main34 --model "$OUT/main34/model.pt" --set lr_init=0.001
    ev main --model "$OUT/main/model.pt" --set lr_init=0.001
    ev main4sm --model "$OUT/main4sm/model.pt" --set lr_init=0.001
    ev untrained34 --model untrained --set backbone_cut=stage3+4
    ev vggm --model "$OUT/vggm/model.pt"
  fi
fi

# Shipping (docs/model-card.md says why): the shipped run's model, with the first-frame learning
# rate it was selected with stored as its tracker option (lr_init 1e-3, reference 1e-4; chosen by
# the two-fold cross-validation inside the training split, bench/cv_heads.sh).
if [ "${SHIP:-0}" = 1 ]; then
  $PYTHON - "$OUT/main34m/model.pt" <<'PY'
import sys

import torch

from rtmdnet_ros.model_file import build_network, load_model, save_model

m = load_model(sys.argv[1])
net = build_network(m, "cpu", torch.Generator().manual_seed(0))
recipe = dict(m.recipe, shipping={"tracker_options": {"lr_init": 0.001},
                                  "source_model": sys.argv[1]})
save_model("rtmdnet_ros/models/default.pt", net, recipe=recipe,
           tracker_options={"lr_init": 0.001})
PY
fi
