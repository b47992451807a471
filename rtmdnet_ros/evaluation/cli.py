# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``rtmdnet-eval``: one-pass evaluation of our tracker and its peers on a folder of sequences.

``--long-term`` splices a scene cut into every sequence (``longterm.py``) and writes the
long-term report (``longterm_report.py``) instead of the OTB one.

Exit status: 0 done, 1 nothing could run (every tracker skipped), 2 bad input (missing folder,
unreadable frame, ground-truth count mismatch, unknown tracker, bad option).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import shlex
import sys
import time
from pathlib import Path

import cv2

from rtmdnet_ros.evaluation import longterm, longterm_report, peers, report, runner
from rtmdnet_ros.evaluation.datasets import SPLITS, DatasetError, Sequence, select_sequences
from rtmdnet_ros.options import UNTRAINED, parse_overrides

LOG = logging.getLogger("rtmdnet_ros.evaluation")

CONVENTIONS = (
    "Boxes are compared in the benchmark's own convention (OTB 1-based, VOT/UAV 0-based, no "
    "shift); every tracker starts from the first ground-truth box as given. Frames where an "
    'OpenCV tracker reports "not ok" keep its previous box (OpenCV leaves its target there and '
    "returns no box); the tracker keeps running and the frame counts in the metrics. FPS times "
    "only the trackers' init/update calls on frames already decoded in memory."
)


def parse_trackers(text: str) -> list[str]:
    """Expand ``all`` / ``peers`` and reject unknown names before anything runs."""
    names: list[str] = []
    for item in (t.strip().lower() for t in text.split(",") if t.strip()):
        if item == "all":
            names += peers.ALL_NAMES
        elif item == "peers":
            names += peers.PEER_NAMES
        elif item in peers.ALL_NAMES:
            names.append(item)
        else:
            raise ValueError(
                f"unknown tracker {item!r}; choose from {', '.join(peers.ALL_NAMES)}, all, peers"
            )
    return list(dict.fromkeys(names))


def build_parser() -> argparse.ArgumentParser:
    """Build the command line (kept separate so docs and tests can inspect it)."""
    p = argparse.ArgumentParser(
        prog="rtmdnet-eval",
        description="OTB one-pass evaluation (success/precision plots) of RT-MDNet and peers.",
    )
    p.add_argument(
        "--data",
        help="folder of sequences (NAME/img + NAME/groundtruth_rect.txt), or "
        "the data root holding sequences/; default $RTMDNET_DATA or ../shared/data",
    )
    p.add_argument("--sequences", help="comma-separated sequence names (wins over --split)")
    p.add_argument("--split", choices=sorted(SPLITS), help="the data split of docs/design.md")
    p.add_argument(
        "--trackers",
        default="all",
        help=f"comma-separated from {', '.join(peers.ALL_NAMES)}, or all / peers",
    )
    p.add_argument("--out", required=True, help="output folder (runs/, results.json/.md, PNGs)")
    p.add_argument("--report", help="also write the Markdown page here (plot links relative)")
    p.add_argument("--title", help="title of the Markdown page")
    p.add_argument(
        "--append",
        action="append",
        default=[],
        help="Markdown file appended to the page (e.g. ablations measured in their own runs); "
        "repeatable, appended in the order given",
    )
    p.add_argument(
        "--model",
        help=f"our tracker's model file (default: packaged model; {UNTRAINED!r}: no offline "
        "pretraining, the online-trained head only)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="TrackerOptions override for our tracker (repeatable)",
    )
    p.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="seeds per seeded tracker (averaged); deterministic peers run once",
    )
    p.add_argument("--seed-base", type=int, default=0, help="first seed")
    p.add_argument("--device", default="cpu", help="our tracker's device: cpu, cuda or auto")
    p.add_argument(
        "--nanotrack-dir",
        help="folder with the NanoTrack ONNX files (default "
        "$RTMDNET_NANOTRACK_DIR or ../shared/models/nanotrack)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="OpenCV and torch threads (1 = comparable single-core FPS)",
    )
    p.add_argument("--max-frames", type=int, help="only the first N frames of each sequence")
    p.add_argument(
        "--long-term",
        action="store_true",
        help="long-term evaluation: a scene cut spliced into every sequence (the target "
        "absent there), scored on who says LOST and who finds the target again",
    )
    p.add_argument(
        "--cut-after",
        type=int,
        default=longterm.CUT_AFTER,
        help=f"--long-term: host frames before the cut (default {longterm.CUT_AFTER})",
    )
    p.add_argument(
        "--cut-length",
        type=int,
        default=longterm.CUT_LENGTH,
        help=f"--long-term: frames of the cut (default {longterm.CUT_LENGTH})",
    )
    p.add_argument("--force", action="store_true", help="recompute finished runs")
    p.add_argument(
        "--report-only",
        action="store_true",
        help="track nothing: rebuild the report from the stored runs, whatever their "
        "configuration (the page names the fingerprints they were made with)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def _truncate(sequences: list[Sequence], n: int | None) -> list[Sequence]:
    if not n:
        return sequences
    if n < 2:
        raise ValueError("--max-frames must be at least 2")
    return [
        dataclasses.replace(s, frame_paths=s.frame_paths[:n], groundtruth=s.groundtruth[:n])
        for s in sequences
    ]


def main(argv: list[str] | None = None) -> int:
    """Run the evaluation; return the exit status described in the module docstring."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    argv = sys.argv[1:] if argv is None else argv
    # the command that reproduces the numbers: without the flags that only change the display
    shown = [a for a in argv if a not in ("--report-only", "--no-progress", "-v", "--verbose")]
    command = "rtmdnet-eval " + shlex.join(shown)
    try:
        names = parse_trackers(args.trackers)
        if args.seeds < 1:
            raise ValueError("--seeds must be at least 1")
        settings = peers.Settings(
            model=args.model,
            overrides=parse_overrides(args.set),
            device=args.device,
            nanotrack_dir=args.nanotrack_dir,
            threads=args.threads,
        )
        if args.model and args.model != UNTRAINED and not Path(args.model).is_file():
            raise ValueError(f"model file not found: {args.model}")
        for extra in args.append:
            if not Path(extra).is_file():
                raise ValueError(f"--append file not found: {extra}")
        seq_names = [s.strip() for s in args.sequences.split(",")] if args.sequences else None
        selected = select_sequences(args.data, seq_names, args.split)
        sequences = _truncate(selected, args.max_frames)
        recipe = None
        if args.long_term:
            recipe = longterm.Recipe(args.cut_after, args.cut_length)
            sequences = longterm.build(sequences, recipe, donors=selected)
        elif any(a.startswith(("--cut-after", "--cut-length")) for a in argv):
            raise ValueError("--cut-after / --cut-length need --long-term")
    except (DatasetError, ValueError) as exc:
        print(f"rtmdnet-eval: error: {exc}", file=sys.stderr)
        return 2

    cv2.setNumThreads(args.threads)
    specs, skipped = [], {}
    for name in names:
        try:
            specs.append(peers.resolve(name, settings))
        except peers.PeerUnavailable as exc:
            skipped[name] = str(exc)
            print(f"rtmdnet-eval: skipping {name}: {exc}", file=sys.stderr)
    if any(s.name == "rtmdnet" for s in specs):
        import torch

        torch.set_num_threads(args.threads)
    seeds = list(range(args.seed_base, args.seed_base + args.seeds))
    out_dir = Path(args.out)
    stats = None
    results: list[runner.PairResult] = []
    if specs:
        try:
            results, stats = runner.run(
                sequences,
                specs,
                seeds,
                out_dir,
                force=args.force and not args.report_only,
                report_only=args.report_only,
                progress=not args.no_progress,
            )
        except DatasetError as exc:
            print(f"rtmdnet-eval: error: {exc}", file=sys.stderr)
            return 2
        except (ValueError, FileNotFoundError) as exc:
            print(f"rtmdnet-eval: error while tracking: {exc}", file=sys.stderr)
            return 2
    done = {(r.tracker, r.sequence) for r in results}
    for spec in specs:
        missing = [q.name for q in sequences if (spec.name, q.name) not in done]
        if missing:
            skipped[spec.name] = (
                f"no stored run for {', '.join(missing)} (run without --report-only)"
            )
    meta = {
        "title": args.title
        or (
            "Long-term evaluation (target leaves the view)"
            if recipe
            else "Tracking evaluation (OTB one-pass)"
        ),
        "command": command,
        "split": args.split if not args.sequences else None,
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "notes": CONVENTIONS,
        "appendix": "\n".join(Path(extra).read_text().rstrip() + "\n" for extra in args.append),
        "environment": report.environment(args.threads),
        "rtmdnet": {
            "model": args.model,
            "model_description": _describe_model(args.model),
            "overrides": settings.overrides,
            "device": args.device,
            "code": ", ".join(
                sorted({str(r.config.get("code")) for r in results if r.tracker == "rtmdnet"})
            )
            or None,
        }
        if any(s.name == "rtmdnet" for s in specs)
        else None,
    }
    if recipe is not None:
        meta["recipe"] = longterm.describe(sequences, recipe)
        written = longterm_report.write(
            out_dir,
            results,
            sequences,
            [s for s in specs if s.name not in skipped],
            skipped,
            stats,
            meta,
            Path(args.report) if args.report else None,
        )
        _print_summary(written, stats, skipped, end="Presence:")
        return 0 if specs else 1
    written = report.write(
        out_dir,
        results,
        sequences,
        [s.name for s in specs if s.name not in skipped],
        skipped,
        stats,
        meta,
        Path(args.report) if args.report else None,
    )
    _print_summary(written, stats, skipped)
    return 0 if specs else 1


def _describe_model(path: str | None) -> str:
    """Name the model our tracker used, so a table never hides an untrained network."""
    if path == UNTRAINED:
        return "untrained: ImageNet backbone + fc4-fc6 drawn from the seed, trained online only"
    if path:
        return f"`{path}`"
    try:
        from rtmdnet_ros.packaged_models import DEFAULT_MODEL
    except ImportError:
        return "packaged default"
    if Path(DEFAULT_MODEL).exists():
        return f"packaged default `{Path(DEFAULT_MODEL).name}`"
    return (
        "none shipped yet: the core's fallback (EfficientNet-Lite0 ImageNet backbone + fc4/fc5 "
        "drawn from the seed, no offline tracking pretraining)"
    )


def _print_summary(
    written: dict[str, Path],
    stats: runner.RunStats | None,
    skipped: dict[str, str],
    end: str = "AUC: mean",
) -> None:
    page = written["markdown"].read_text()
    start = page.find("## Summary")
    end = page.find(end, start)
    if start >= 0:
        print(page[start:end].strip())
    if stats is not None:
        print(
            f"runs: {stats.computed} computed, {stats.reused} reused; overhead "
            f"{100 * stats.overhead:.1f}% of the trackers' own "
            f"{stats.tracker_seconds:.2f} s"
            if stats.computed
            else f"runs: all {stats.reused} reused"
        )
    for name, reason in skipped.items():
        print(f"skipped {name}: {reason}")
    print("wrote " + ", ".join(str(p) for p in written.values()))
