#!/usr/bin/env bash
# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
#
# Reproduce the shipped default model (rtmdnet_ros/models/default.pt), its ablation variants and
# their evaluation. Run from the repository root with the project's Python (PYTHON=...).
# Training data: the six training-split sequences of docs/design.md under $RTMDNET_DATA or
# ../shared/data; rtmdnet-train refuses evaluation-split sequences by name.
# Time on the 2-core development machine (shared with other jobs): feature cache ~20 min
# (once, reused by every frozen-backbone run), each 4000-step run ~20-25 min, each 3-seed
# evaluation ~12 min.
#   bench/train_default.sh            # the shipped model only
#   ABLATIONS=1 bench/train_default.sh  # + L_cls-only and VGG-M-from-scratch runs
#   EVAL=1 ...                          # + rtmdnet-eval of every model on the evaluation split
#   SHIP=1 ...                          # + write rtmdnet_ros/models/default.pt
set -euo pipefail
PYTHON=${PYTHON:-python}
OUT=${OUT:-runs}
COMMON=(--steps 4000 --cache-stride 3 --cache-scales=-1,0,1 --cache-dir "$OUT/cache"
        --checkpoint-every 250 --log-every 50 --seed 0 --threads 1 --set n_pos=32 --set n_neg=96)

# Shipped recipe: ImageNet EfficientNet-Lite0 frozen (features cached once per frame and jitter
# scale), fc4/fc5 + six fc6 branches trained with binary loss + 0.1 x instance loss.
$PYTHON -m rtmdnet_ros.training.cli --out "$OUT/main" "${COMMON[@]}"

if [ "${ABLATIONS:-0}" = 1 ]; then
  # Table 3: binary loss only (same cache, seed and sample stream).
  $PYTHON -m rtmdnet_ros.training.cli --out "$OUT/cls_only" --alpha 0 "${COMMON[@]}"
  # Backbone: VGG-M-shaped dense conv1-3 from scratch, everything trainable (no cache). The
  # shipped comparison stopped this run at step 130 (~25 min) and wrote the model with
  # `--resume --steps 130`.
  $PYTHON -m rtmdnet_ros.training.cli --out "$OUT/vggm" --backbone vggm --steps 130 \
    --checkpoint-every 10 --log-every 10 --seed 0 --threads 1 --set n_pos=32 --set n_neg=96
fi

if [ "${EVAL:-0}" = 1 ]; then
  ev() {  # name, extra rtmdnet-eval arguments...
    local name=$1; shift
    $PYTHON -m rtmdnet_ros.evaluation --split dev --trackers rtmdnet,csrt,nanotrack --seeds 3 \
      --threads 1 --no-progress --out "$OUT/eval_$name" "$@"
  }
  ev main --model "$OUT/main/model.pt"
  ev main_nobb --model "$OUT/main/model.pt" --set bbox_regression=false
  ev main_lr1e-3 --model "$OUT/main/model.pt" --set lr_init=0.001
  if [ "${ABLATIONS:-0}" = 1 ]; then
    ev cls_only_nobb --model "$OUT/cls_only/model.pt" --set bbox_regression=false
    ev vggm --model "$OUT/vggm/model.pt"
  fi
  $PYTHON bench/compare_models.py "pretrained=$OUT/eval_main/results.json" \
    "pretrained, no bbreg=$OUT/eval_main_nobb/results.json"
fi

# Shipping (docs/model-card.md says why): the main model, with the first-frame learning rate
# it was measured best with stored as its tracker option (lr_init 1e-3, reference 1e-4).
if [ "${SHIP:-0}" = 1 ]; then
  $PYTHON - "$OUT/main/model.pt" <<'PY'
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
