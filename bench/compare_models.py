# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Print one Markdown table from several rtmdnet-eval results.json files (one per model variant).

Usage: python bench/compare_models.py LABEL=runs/eval_main/results.json [LABEL=...]
Each row is our tracker in that run; CSRT and NanoTrack rows are taken from the first file that
has them, so the peers and every variant come from the same tool on the same split.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    rows, peers = [], {}
    sequences: list[str] = []
    for item in argv:
        label, _, path = item.partition("=")
        data = json.loads(Path(path).read_text())
        sequences = sequences or list(data["sequences"])
        trackers = data["trackers"]
        if "rtmdnet" in trackers:
            rows.append((label, trackers["rtmdnet"]))
        for peer in ("csrt", "nanotrack"):
            if peer in trackers and peer not in peers:
                peers[peer] = trackers[peer]
    head = "| model | AUC | ± seeds | P@20 | FPS | " + " | ".join(sequences) + " |"
    print(head)
    print("|---|" + "---:|" * (4 + len(sequences)))
    for label, t in rows + [(k, v) for k, v in peers.items()]:
        per_seq = " | ".join(f"{t['sequences'][s]['auc']:.3f}" for s in sequences)
        sd = t.get("auc_seed_sd")
        sd_text = f"{sd:.3f}" if sd is not None else "-"
        print(f"| {label} | {t['auc']:.3f} | {sd_text} | {t['p20']:.3f} | {t['fps']:.1f} | "
              f"{per_seq} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
