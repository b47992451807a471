# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Run trackers over sequences one-pass: decode once, time only the tracker, resume.

Each sequence is decoded once into one array shared by every tracker of the run (the RGB copy is
made once too, only if a tracker wants RGB), frame by frame in a background thread that also
decodes the next sequence while the current one is tracked. Each finished (tracker, sequence,
seed) is written at once to ``OUT/runs/TRACKER/SEQUENCE/seedK.json``; a later run reuses it
unless ``force`` is set or the tracker's configuration (model file, options, code and library
version) changed.
"""

from __future__ import annotations

import json
import logging
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from rtmdnet_ros.evaluation.datasets import FrameStream, Sequence
from rtmdnet_ros.evaluation.peers import TrackerSpec

LOG = logging.getLogger(__name__)
RESULT_FORMAT = "rtmdnet_ros-eval-run"


@dataclass
class PairResult:
    """One tracker on one sequence with one seed: every per-frame box, score and timing."""

    tracker: str
    sequence: str
    seed: int
    boxes: np.ndarray  # (N, 4) x, y, w, h; frame 0 = the initial ground-truth box
    scores: np.ndarray  # (N,) NaN where the tracker gives no score (and on frame 0)
    ok: np.ndarray  # (N,) bool, the tracker's own success flag
    frame_seconds: np.ndarray  # (N,) frame 0 = init, then each update
    create_seconds: float
    config: dict[str, Any]
    # Per frame, the decision branch the tracker reports (ours: TrackResult.branch); None when
    # the tracker has none. Frame 0 is "init".
    branches: list[str] | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (boxes to 1/1000 px), the on-disk form used for resuming."""
        return {
            "format": RESULT_FORMAT,
            "tracker": self.tracker,
            "sequence": self.sequence,
            "seed": self.seed,
            "config": self.config,
            "create_seconds": self.create_seconds,
            "frame_seconds": [round(float(t), 7) for t in self.frame_seconds],
            "boxes": np.round(self.boxes, 3).tolist(),
            "scores": [None if np.isnan(s) else round(float(s), 5) for s in self.scores],
            "ok": [bool(k) for k in self.ok],
            **({"branches": self.branches} if self.branches is not None else {}),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PairResult:
        """Read back what ``to_json`` wrote; ValueError for anything else."""
        if data.get("format") != RESULT_FORMAT:
            raise ValueError("not an evaluation run file")
        return cls(
            tracker=data["tracker"],
            sequence=data["sequence"],
            seed=int(data["seed"]),
            boxes=np.asarray(data["boxes"], dtype=np.float64).reshape(-1, 4),
            scores=np.array([np.nan if s is None else s for s in data["scores"]], dtype=float),
            ok=np.asarray(data["ok"], dtype=bool),
            frame_seconds=np.asarray(data["frame_seconds"], dtype=np.float64),
            create_seconds=float(data["create_seconds"]),
            config=data["config"],
            branches=data.get("branches"),
        )


@dataclass
class RunStats:
    """Where the time went, to check the evaluation's own cost against the trackers'."""

    computed: int = 0
    reused: int = 0
    frames: int = 0  # frames tracked in computed pairs
    wall_seconds: float = 0.0  # whole run() call
    tracker_seconds: float = 0.0  # init + update calls of computed pairs
    create_seconds: float = 0.0  # tracker construction (model loading), counted as overhead
    decode_wait_seconds: float = 0.0  # time the run waited for frames to be decoded
    decode_seconds: float = 0.0  # decode + colour conversion work (partly in the background)
    per_tracker: dict[str, float] = field(default_factory=dict)  # own seconds by tracker
    label: str = "this run"

    @property
    def overhead(self) -> float:
        """Evaluation time on top of the trackers' own time, as a fraction of the latter."""
        if self.tracker_seconds <= 0:
            return float("nan")
        return (self.wall_seconds - self.tracker_seconds) / self.tracker_seconds


def result_path(out_dir: Path, tracker: str, sequence: str, seed: int) -> Path:
    """Where one finished (tracker, sequence, seed) is stored."""
    return Path(out_dir) / "runs" / tracker / sequence / f"seed{seed}.json"


def load_result(path: Path, config: dict[str, Any] | None = None) -> PairResult | None:
    """Return a stored result, or None if absent, damaged or made with another configuration."""
    if not path.is_file():
        return None
    try:
        result = PairResult.from_json(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError) as exc:
        LOG.warning("ignoring unreadable result %s: %s", path, exc)
        return None
    if config is not None and _canonical(result.config) != _canonical(config):
        LOG.info("configuration changed, recomputing %s", path)
        return None
    return result


def _canonical(config: dict[str, Any]) -> str:
    return json.dumps(config, sort_keys=True, default=str)


def save_result(path: Path, result: PairResult) -> None:
    """Write atomically so an interrupted run never leaves a half file that looks finished."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result.to_json()))
    os.replace(tmp, path)


def seeds_for(spec: TrackerSpec, seeds: list[int]) -> list[int]:
    """Deterministic trackers run once (first seed); seeded ones once per seed."""
    return list(seeds) if spec.seeded else list(seeds[:1])


def track(
    tracker_spec: TrackerSpec,
    seed: int,
    sequence: Sequence,
    frames: FrameStream,
    progress: tqdm | None = None,
) -> PairResult:
    """One-pass run: init on frame 0 from ground truth, then update on every later frame."""
    n = len(sequence)
    boxes = np.empty((n, 4), dtype=np.float64)
    scores = np.full(n, np.nan)
    ok = np.ones(n, dtype=bool)
    seconds = np.empty(n, dtype=np.float64)
    rgb = tracker_spec.wants_rgb
    clock = time.perf_counter

    start = clock()
    tracker = tracker_spec.make(seed)
    create_seconds = clock() - start
    first = sequence.groundtruth[0].copy()
    frame = frames.frame(0, rgb)
    start = clock()
    tracker.init(frame, first)
    seconds[0] = clock() - start
    boxes[0] = first
    branches: list[str] | None = ["init"] if hasattr(tracker, "last_branch") else None
    for i in range(1, n):
        frame = frames.frame(i, rgb)
        start = clock()
        box, score, success = tracker.update(frame)
        seconds[i] = clock() - start
        boxes[i] = box
        if score is not None:
            scores[i] = score
        ok[i] = success
        if branches is not None:
            branches.append(str(tracker.last_branch))
        if progress is not None:
            progress.update(1)
    if progress is not None:
        progress.update(1)
    return PairResult(
        tracker=tracker_spec.name,
        sequence=sequence.name,
        seed=seed,
        boxes=boxes,
        scores=scores,
        ok=ok,
        frame_seconds=seconds,
        create_seconds=create_seconds,
        config=tracker_spec.config,
        branches=branches,
    )


def run(
    sequences: list[Sequence],
    specs: list[TrackerSpec],
    seeds: list[int],
    out_dir: Path,
    force: bool = False,
    progress: bool = True,
    report_only: bool = False,
) -> tuple[list[PairResult], RunStats]:
    """Run every (tracker, sequence, seed) not already finished; return all results + stats.

    ``report_only``: run nothing and take whatever is stored, even from another configuration
    (to re-render a report after the code moved on); missing pairs are simply absent.
    """
    wall_start = time.perf_counter()
    stats = RunStats()
    results: list[PairResult] = []
    todo: list[tuple[Sequence, list[tuple[TrackerSpec, int]]]] = []
    for seq in sequences:
        pending = []
        for spec in specs:
            for seed in seeds_for(spec, seeds):
                stored = None
                if not force:
                    stored = load_result(
                        result_path(out_dir, spec.name, seq.name, seed),
                        None if report_only else spec.config,
                    )
                if stored is not None and len(stored.boxes) == len(seq):
                    results.append(stored)
                    stats.reused += 1
                elif not report_only:
                    pending.append((spec, seed))
        if pending:
            todo.append((seq, pending))

    total = sum(len(seq) * len(pending) for seq, pending in todo)
    bar = tqdm(total=total, unit="frame", disable=not progress or total == 0, dynamic_ncols=True)
    # One decoder thread: the next sequence is decoded while the current one is tracked, and
    # each sequence streams frame by frame; at most two sequences are in memory.
    with ThreadPoolExecutor(max_workers=1) as pool:

        def start(k: int) -> tuple[FrameStream, Future]:
            seq, pending = todo[k]
            stream = FrameStream(seq, want_rgb=any(s.wants_rgb for s, _ in pending))
            return stream, pool.submit(stream.fill)

        upcoming = start(0) if todo else None
        for k, (seq, pending) in enumerate(todo):
            assert upcoming is not None
            stream, decoding = upcoming
            upcoming = start(k + 1) if k + 1 < len(todo) else None
            for spec, seed in pending:
                bar.set_description(f"{spec.name} {seq.name} s{seed}")
                result = track(spec, seed, seq, stream, bar)
                save_result(result_path(out_dir, spec.name, seq.name, seed), result)
                results.append(result)
                own = float(result.frame_seconds.sum())
                stats.computed += 1
                stats.frames += len(seq)
                stats.tracker_seconds += own
                stats.create_seconds += result.create_seconds
                stats.per_tracker[spec.name] = stats.per_tracker.get(spec.name, 0.0) + own
            decoding.result()
            stats.decode_seconds += stream.decode_seconds
            stats.decode_wait_seconds += stream.wait_seconds
            del stream
    bar.close()
    stats.wall_seconds = time.perf_counter() - wall_start
    return results, stats
