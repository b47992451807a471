#!/usr/bin/env bash
# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
# `make results` split over N processes (one seed range each, default 2 = this machine's cores):
# every process stores its (tracker, sequence, seed) runs in the same folder, then one pass
# without tracking writes the page. Same figures as `make results`, in about 1/N of the time.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-2}
seeds=${SEEDS:-5}
common=(--split dev --out docs/results --threads 1 --no-progress)
pids=()
for ((j = 0; j < jobs; j++)); do
  list=()
  for ((s = j; s < seeds; s += jobs)); do list+=("$s"); done
  [ ${#list[@]} -gt 0 ] || continue
  (for s in "${list[@]}"; do
     # Deterministic peers run once (seed 0); the seeded trackers once per seed.
     trackers=all
     [ "$s" -eq 0 ] || trackers=rtmdnet,reference,mil
     .venv/bin/python -m rtmdnet_ros.evaluation "${common[@]}" --trackers "$trackers" \
       --seeds 1 --seed-base "$s" "$@" > "${TMPDIR:-/tmp}/results_seed$s.log" 2>&1
   done) &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
# The long-term table (its own runs: docs/evaluation.md, "Long-term evaluation") goes in too.
appendix=()
[ -f docs/results/longterm/summary.md ] && appendix+=(--append docs/results/longterm/summary.md)
# How the default got there: measured by hand over many runs, kept in a file of its own so that
# regenerating the page keeps it.
appendix+=(--append docs/results-longterm-history.md)
appendix+=(--append docs/ablations.md)
.venv/bin/python -m rtmdnet_ros.evaluation "${common[@]}" --trackers all --seeds "$seeds" \
  --report docs/results.md "${appendix[@]}" \
  --title "Results: RT-MDNet vs peers, development split" --report-only "$@"
