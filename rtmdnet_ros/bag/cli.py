# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``rtmdnet-bag``: the command line of the offline bag tracker (docs/bag.md).

Exit codes follow the package's executables (docs/node.md): 0 done, 1 with one line on stderr
for bad input (missing or corrupt bag, unknown topic, existing output, ...), 2 with one line for
a bad command line. Never a traceback for bad input; a traceback means a bug of ours.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from rtmdnet_ros.bag.outputs import BAG_VERSIONS, DEFAULT_BAG_VERSION
from rtmdnet_ros.bag.reading import BagInputError
from rtmdnet_ros.bag.tool import BagRunOptions, Summary, run_bag
from rtmdnet_ros.options import UPDATE_MODES
from rtmdnet_ros.ros_io.cli import EXIT_FAILURE, EXIT_USAGE, OneLineParser, fail, parse_box

PROG = "rtmdnet-bag"


def build_parser() -> argparse.ArgumentParser:
    """Build the command line; every output is optional."""
    p = OneLineParser(
        prog=PROG,
        description="Track a target through a recorded rosbag2 (MCAP or SQLite3), every frame "
                    "in order, without a ROS runtime.",
    )
    p.add_argument("bag", type=Path, help="rosbag2 folder, or a .mcap / .db3 file")
    p.add_argument("--topic", required=True,
                   help="image topic (sensor_msgs/Image or sensor_msgs/CompressedImage)")
    start = p.add_argument_group("the target (one of)")
    start.add_argument("--box", help="x,y,w,h in pixels (top-left corner) on the first frame "
                                     "(or the first frame at --start)")
    start.add_argument("--start", metavar="TIME",
                       help="with --box: seconds after the topic's first frame, or "
                            "stamp:SEC.NSEC (a header stamp)")
    start.add_argument("--detections-topic", metavar="TOPIC",
                       help="start on the first detection of this vision_msgs/Detection2DArray "
                            "topic in the same bag")
    start.add_argument("--class-id", help="only detections of this class id")
    start.add_argument("--reinit", action="store_true",
                       help="re-initialise on a later detection while the tracker is LOST")
    out = p.add_argument_group("outputs (all optional)")
    out.add_argument("--out-bag", type=Path, help="new bag: input topics + detections + status")
    out.add_argument("--out-storage", choices=("mcap", "sqlite3"), default="mcap",
                     help="mcap (default; Humble needs ros-humble-rosbag2-storage-mcap to read "
                          "it) or sqlite3 (read by every distro as installed)")
    out.add_argument("--bag-version", type=int, choices=BAG_VERSIONS,
                     default=DEFAULT_BAG_VERSION,
                     help="rosbag2 metadata version of --out-bag: 8 (default) is read by "
                          "Humble, Jazzy and Kilted; 9 (Kilted's own) not by Humble")
    out.add_argument("--no-copy", action="store_true",
                     help="write only our topics to --out-bag, not the input topics")
    out.add_argument("--namespace", default="/rtmdnet_tracker",
                     help="prefix of the output topics (default %(default)s: "
                          "%(default)s/detections, %(default)s/status, as the node)")
    out.add_argument("--csv", type=Path, help="per-frame boxes, scores and states")
    out.add_argument("--json", type=Path, help="the same rows plus the summary")
    out.add_argument("--video", type=Path, help="annotated MP4")
    out.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    trk = p.add_argument_group("tracker")
    trk.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    trk.add_argument("--seed", type=int, default=0, help="same seed + same frames = same boxes")
    trk.add_argument("--model", type=Path, help="model file (default: the packaged model)")
    trk.add_argument("--update-mode", choices=UPDATE_MODES, default="sync",
                     help="sync (default offline: complete and reproducible) or async (as live)")
    trk.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="tracker option override (rtmdnet_ros/options.py), repeatable")
    trk.add_argument("--label", default="object", help="class_id of our detections")
    trk.add_argument("--lost-score-threshold", type=float, default=0.5,
                     help="TRACKING while sigmoid(score) is above this (the node's parameter)")
    p.add_argument("--max-frames", type=int, help="stop after this many image frames")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary, warnings only")
    return p


def _progress(disabled: bool) -> Any:
    def make(total: int) -> Any:
        from tqdm import tqdm

        return tqdm(total=total, unit="frame", desc="tracking", disable=disabled, file=sys.stderr,
                    dynamic_ncols=True)

    return make


def format_summary(summary: Summary) -> str:
    """Return the lines printed at the end of a run."""
    lines = [
        f"frames: {summary.frames} read, {summary.processed} tracked through, "
        f"{summary.skipped} skipped (undecodable or resized)",
        f"states: {summary.tracked} TRACKING, {summary.lost} LOST, {summary.idle} IDLE; "
        f"{summary.inits} initialisation(s)",
        f"speed: {summary.fps:.2f} frames/s ({summary.wall_s:.1f} s in all, "
        f"{summary.tracker_s:.1f} s in the tracker)",
    ]
    if summary.outputs:
        lines.append("wrote: " + ", ".join(summary.outputs))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``rtmdnet-bag``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format=f"[{PROG}] %(levelname)s: %(message)s")
    if not 0.0 <= args.lost_score_threshold <= 1.0:
        return fail(PROG, "--lost-score-threshold must lie in 0..1", EXIT_USAGE)
    if args.max_frames is not None and args.max_frames < 1:
        return fail(PROG, "--max-frames must be at least 1", EXIT_USAGE)
    if args.start is not None and args.box is None:
        return fail(PROG, "--start needs --box", EXIT_USAGE)
    if (args.class_id is not None or args.reinit) and args.detections_topic is None:
        return fail(PROG, "--class-id and --reinit need --detections-topic", EXIT_USAGE)
    try:
        from rtmdnet_ros.options import parse_overrides

        overrides = parse_overrides(args.set)
        box = parse_box(args.box) if args.box is not None else None
        options = BagRunOptions(
            bag=args.bag, topic=args.topic, box=box, start=args.start,
            detections_topic=args.detections_topic, class_id=args.class_id, reinit=args.reinit,
            out_bag=args.out_bag, out_storage=args.out_storage, bag_version=args.bag_version,
            csv=args.csv, json=args.json,
            video=args.video, overwrite=args.overwrite, namespace=args.namespace,
            label=args.label, lost_score_threshold=args.lost_score_threshold,
            copy_topics=not args.no_copy, max_frames=args.max_frames,
        )
    except ValueError as exc:
        return fail(PROG, str(exc), EXIT_USAGE)
    if not args.bag.exists():
        return fail(PROG, f"bag {args.bag}: no such file or folder")
    if args.model is not None and not args.model.is_file():
        return fail(PROG, f"--model {args.model}: no such file")

    def make_tracker() -> Any:
        from rtmdnet_ros.score_scale import logit
        from rtmdnet_ros.tracker import Tracker

        try:
            return Tracker(
                model=str(args.model) if args.model is not None else None, device=args.device,
                seed=args.seed,
                overrides={"update_mode": args.update_mode,
                           "success_threshold": logit(args.lost_score_threshold),
                           **overrides},
            )
        except ValueError as exc:  # bad --set key/value, bad device, bad model file
            raise BagInputError(f"tracker: {exc}") from None

    try:
        summary = run_bag(options, make_tracker, progress=_progress(args.no_progress))
    except BagInputError as exc:
        return fail(PROG, str(exc))
    except KeyboardInterrupt:
        return fail(PROG, "interrupted; no output written", EXIT_FAILURE)
    if not args.quiet:
        print(format_summary(summary))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
