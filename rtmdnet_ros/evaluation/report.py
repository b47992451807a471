# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Turn run results into numbers people compare: JSON, a Markdown page and two plots.

Aggregation (the OTB toolkit's): a tracker's curve is the mean over sequences of its
per-sequence curves, so its AUC / P@20 is the mean of the per-sequence values; several seeds are
averaged per sequence first. FPS pools frames and seconds over all sequences and seeds.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rtmdnet_ros.evaluation import metrics
from rtmdnet_ros.evaluation.datasets import SPLITS, Sequence
from rtmdnet_ros.evaluation.runner import PairResult, RunStats


@dataclass
class SequenceSummary:
    """One tracker on one sequence, seeds averaged."""

    success: np.ndarray
    precision: np.ndarray
    auc: float
    p20: float
    fps: float
    fps_no_first: float
    not_ok: float  # fraction of frames the tracker flagged as failed
    per_seed: dict[int, metrics.Score]
    scale_error: float  # seeds' mean of the median |log area ratio| (metrics.score)
    scale_bias: float


@dataclass
class TrackerSummary:
    """One tracker over all evaluated sequences."""

    name: str
    sequences: dict[str, SequenceSummary]
    success: np.ndarray
    precision: np.ndarray
    auc: float
    p20: float
    auc_seed_sd: float  # spread of the sequence-mean AUC between seeds (NaN for one seed)
    fps: float
    fps_no_first: float
    not_ok: float
    seeds: list[int]
    scale_error: float  # mean over sequences
    scale_bias: float


def summarise(
    results: list[PairResult], sequences: list[Sequence], trackers: list[str]
) -> list[TrackerSummary]:
    """Score every result and aggregate per tracker (only trackers done on every sequence)."""
    by_key: dict[tuple[str, str], list[PairResult]] = {}
    for r in results:
        by_key.setdefault((r.tracker, r.sequence), []).append(r)
    summaries = []
    for name in trackers:
        if not all((name, s.name) in by_key for s in sequences):
            continue
        per_seq: dict[str, SequenceSummary] = {}
        frames = init = updates = n_updates = lost = 0.0
        for seq in sequences:
            runs = sorted(by_key[(name, seq.name)], key=lambda r: r.seed)
            scores = {r.seed: metrics.score(r.boxes, seq.groundtruth) for r in runs}
            s_init = sum(float(r.frame_seconds[0]) for r in runs)
            s_upd = sum(float(r.frame_seconds[1:].sum()) for r in runs)
            n = len(seq) * len(runs)
            per_seq[seq.name] = SequenceSummary(
                success=np.mean([s.success for s in scores.values()], axis=0),
                precision=np.mean([s.precision for s in scores.values()], axis=0),
                auc=float(np.mean([s.auc for s in scores.values()])),
                p20=float(np.mean([s.p20 for s in scores.values()])),
                fps=n / (s_init + s_upd),
                fps_no_first=(n - len(runs)) / s_upd if s_upd > 0 else float("nan"),
                not_ok=float(np.mean([1.0 - r.ok.mean() for r in runs])),
                per_seed=scores,
                scale_error=_nanmean([s.scale_error for s in scores.values()]),
                scale_bias=_nanmean([s.scale_bias for s in scores.values()]),
            )
            frames += n
            init += s_init
            updates += s_upd
            n_updates += n - len(runs)
            lost += sum(float((~r.ok).sum()) for r in runs)
        seeds = sorted({r.seed for r in results if r.tracker == name})
        seed_means = [
            np.mean([p.per_seed[s].auc for p in per_seq.values() if s in p.per_seed])
            for s in seeds
        ]
        summaries.append(
            TrackerSummary(
                name=name,
                sequences=per_seq,
                success=np.mean([p.success for p in per_seq.values()], axis=0),
                precision=np.mean([p.precision for p in per_seq.values()], axis=0),
                auc=float(np.mean([p.auc for p in per_seq.values()])),
                p20=float(np.mean([p.p20 for p in per_seq.values()])),
                auc_seed_sd=float(np.std(seed_means, ddof=1)) if len(seeds) > 1 else float("nan"),
                fps=frames / (init + updates),
                fps_no_first=n_updates / updates if updates > 0 else float("nan"),
                not_ok=lost / frames,
                seeds=seeds,
                scale_error=_nanmean([p.scale_error for p in per_seq.values()]),
                scale_bias=_nanmean([p.scale_bias for p in per_seq.values()]),
            )
        )
    return summaries


def _json_float(value: float) -> float | None:
    """JSON has no NaN: None where a figure is undefined."""
    return float(value) if np.isfinite(value) else None


def _nanmean(values: list[float]) -> float:
    """Mean of the finite values (a sequence lost from frame 1 has no scale figure)."""
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def environment(threads: int) -> dict[str, str]:
    """Machine and library versions, for the report."""
    import cv2

    info = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": _cpu_name(),
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "threads": str(threads),
    }
    try:  # other jobs on a shared machine slow every tracker alike; say how busy it was
        info["load average (1/5/15 min) at report time"] = " / ".join(
            f"{v:.2f}" for v in os.getloadavg()
        )
    except OSError:
        pass
    for module in ("torch", "dlib"):
        mod = sys.modules.get(module)
        if mod is not None:
            info[module] = getattr(mod, "__version__", "?")
    return info


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                count = Path("/proc/cpuinfo").read_text().count("model name")
                return f"{line.split(':', 1)[1].strip()} ({count} logical CPUs)"
    except OSError:
        pass
    return platform.processor() or "unknown"


def _fmt(value: float, digits: int = 3) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:.{digits}f}"


def branch_shares(results: list[PairResult]) -> dict[str, dict[str, float]]:
    """Per tracker, the share of tracked frames (frame 0 excluded) each decision branch made."""
    counts: dict[str, dict[str, int]] = {}
    for r in results:
        if r.branches is None:
            continue
        mine = counts.setdefault(r.tracker, {})
        for b in r.branches[1:]:
            mine[b] = mine.get(b, 0) + 1
    return {name: {b: n / max(sum(c.values()), 1) for b, n in sorted(c.items())}
            for name, c in counts.items()}


def _branch_table(shares: dict[str, dict[str, float]]) -> list[str]:
    """How often each branch of the decision rule fired (composite/rule.py), per tracker."""
    if not shares:
        return []
    branches = sorted({b for c in shares.values() for b in c})
    lines = ["## Decision branches (share of frames)", "",
             "| tracker | " + " | ".join(branches) + " |", "|---|" + "---:|" * len(branches)]
    for name, c in sorted(shares.items()):
        lines.append(f"| {name} | " + " | ".join(f"{100 * c.get(b, 0.0):.1f}%"
                                                 for b in branches) + " |")
    return lines + [""]


def markdown(
    summaries: list[TrackerSummary],
    sequences: list[Sequence],
    skipped: dict[str, str],
    stats: RunStats | None,
    meta: dict[str, Any],
    image_prefix: str = "",
) -> str:
    """Render the page: summary table, plots, per-sequence tables, skipped, machine, overhead."""
    ranked = sorted(summaries, key=lambda s: -s.auc)
    lines = [f"# {meta.get('title', 'Tracking evaluation (OTB one-pass)')}", ""]
    if meta.get("intro"):
        lines += [meta["intro"], ""]
    lines += [
        f"Regenerate with: `{meta.get('command', 'rtmdnet-eval')}` (report written "
        f"{meta.get('date', '?')}; stored runs are reused, `--force` re-measures everything)",
        "",
        f"Sequences ({len(sequences)}, {sum(len(s) for s in sequences)} frames): "
        + ", ".join(f"{s.name} ({len(s)})" for s in sequences)
        + (f" — split `{meta['split']}`" if meta.get("split") else ""),
        "",
        "## Summary (mean over sequences)",
        "",
        "| tracker | AUC | P@20 | scale error | scale bias | FPS | FPS w/o first frame "
        "| not-ok frames | seeds |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in ranked:
        auc = _fmt(s.auc) + (f" ± {s.auc_seed_sd:.3f}" if np.isfinite(s.auc_seed_sd) else "")
        lines.append(
            f"| {s.name} | {auc} | {_fmt(s.p20)} | {_fmt(s.scale_error)} | {_fmt(s.scale_bias)} "
            f"| {_fmt(s.fps, 1)} | {_fmt(s.fps_no_first, 1)} "
            f"| {100 * s.not_ok:.1f}% | {len(s.seeds)} |"
        )
    lines += [
        "",
        "AUC: mean success rate over IoU thresholds 0, 0.05, ..., 1 (a perfect track scores "
        "20/21 = 0.952). P@20: fraction of frames with centre error <= 20 px. FPS: frames over "
        "the tracker's own init + update time (decoding excluded); single-seed runs unless "
        "stated; ± = standard deviation of the mean AUC between seeds. Scale error: median "
        "|log(area ours / area true)| over the frames where the box overlaps the target, "
        "averaged over sequences; scale bias: the signed median (< 0: boxes too small).",
        "",
        f"![Success plot]({image_prefix}success.png) "
        f"![Precision plot]({image_prefix}precision.png)",
        "",
    ]
    lines += _branch_table(meta.get("branches") or {})
    names = [s.name for s in ranked]
    for title, attr, digits in (
        ("Success AUC per sequence", "auc", 3),
        ("Precision at 20 px per sequence", "p20", 3),
        ("Scale bias per sequence (median log area ratio, < 0: too small)", "scale_bias", 2),
        ("FPS per sequence (with the first frame)", "fps", 1),
    ):
        lines += [
            f"## {title}",
            "",
            "| sequence | frames | " + " | ".join(names) + " |",
            "|---|---:|" + "---:|" * len(names),
        ]
        for seq in sequences:
            cells = [_fmt(getattr(s.sequences[seq.name], attr), digits) for s in ranked]
            lines.append(f"| {seq.name} | {len(seq)} | " + " | ".join(cells) + " |")
        means = [_fmt(getattr(s, attr), digits) for s in ranked]
        lines += [
            f"| **mean** | {sum(len(s) for s in sequences)} | " + " | ".join(means) + " |",
            "",
        ]
    if skipped:
        lines += ["## Skipped trackers", ""]
        lines += [f"- `{name}`: {reason}" for name, reason in skipped.items()]
        lines.append("")
    if meta.get("notes") or meta.get("split") or meta.get("rtmdnet"):
        lines += ["## Set-up", ""]
        if meta.get("split") in SPLITS:
            lines.append(
                f"- Split `{meta['split']}` (docs/design.md, decided once): training domains "
                f"{', '.join(SPLITS['train'])}; development evaluation "
                f"{', '.join(SPLITS['dev'])} (truck4_1/truck4_2 are one video, both kept on the "
                "evaluation side)."
            )
        ours = meta.get("rtmdnet")
        if ours:
            lines.append(
                f"- Our tracker (`rtmdnet`): model {ours.get('model_description')}; option "
                f"overrides {ours.get('overrides') or 'none (reference values)'}; device "
                f"{ours.get('device')}; core sources fingerprint `{ours.get('code')}` (SHA-1 of "
                "rtmdnet_ros/*.py; stored runs are reused only while it matches); seeds averaged "
                "per sequence."
            )
        if meta.get("notes"):
            lines.append(f"- {meta['notes']}")
        lines.append("")
    lines += machine_and_overhead(meta, stats)
    if meta.get("appendix"):
        lines += [meta["appendix"].rstrip(), ""]
    return "\n".join(lines)


def plot(summaries: list[TrackerSummary], out_dir: Path, title: str = "") -> list[Path]:
    """Success and precision plots, one curve per tracker, its AUC / P@20 in the legend.

    Each tracker keeps its colour in both plots; ours is drawn thicker; the legend sits outside
    the axes so it never hides a curve.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ours_colour = "tab:red"
    palette = [c for c in plt.get_cmap("tab10").colors if c != plt.get_cmap("tab10")(3)[:3]]
    peers = sorted(s.name for s in summaries if not s.name.startswith("rtmdnet"))
    colour = {name: palette[i % len(palette)] for i, name in enumerate(peers)}
    colour.update({s.name: ours_colour for s in summaries if s.name.startswith("rtmdnet")})
    paths = []
    for kind in ("success", "precision"):
        fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=100)
        key = (lambda s: -s.auc) if kind == "success" else (lambda s: -s.p20)
        for s in sorted(summaries, key=key):
            if kind == "success":
                x, y, label = metrics.SUCCESS_THRESHOLDS, s.success, f"{s.name} [{s.auc:.3f}]"
            else:
                x, y, label = metrics.PRECISION_THRESHOLDS, s.precision, f"{s.name} [{s.p20:.3f}]"
            width = 2.6 if s.name.startswith("rtmdnet") else 1.5
            ax.plot(x, y, label=label, color=colour[s.name], linewidth=width)
        if kind == "success":
            ax.set(
                xlabel="Overlap threshold (IoU)",
                ylabel="Success rate",
                xlim=(0, 1),
                title=f"Success plots of OPE {title}".strip(),
            )
        else:
            ax.set(
                xlabel="Location error threshold (px)",
                ylabel="Precision",
                xlim=(0, 50),
                title=f"Precision plots of OPE {title}".strip(),
            )
        ax.set_ylim(0, 1)
        ax.grid(True, alpha=0.3)
        ax.legend(
            loc="center left",
            bbox_to_anchor=(1.02, 0.5),
            fontsize=9,
            title="AUC" if kind == "success" else "P@20",
            title_fontsize=9,
        )
        fig.tight_layout()
        path = Path(out_dir) / f"{kind}.png"
        fig.savefig(path)
        plt.close(fig)
        paths.append(path)
    return paths


def to_json(
    summaries: list[TrackerSummary],
    results: list[PairResult],
    sequences: list[Sequence],
    skipped: dict[str, str],
    stats: RunStats | None,
    meta: dict[str, Any],
) -> dict[str, Any]:
    """Everything in one document: metrics, curves, and every per-frame box and score."""
    runs: dict[str, dict[str, dict[str, Any]]] = {}
    for r in results:
        runs.setdefault(r.tracker, {}).setdefault(r.sequence, {})[str(r.seed)] = {
            k: v for k, v in r.to_json().items() if k not in ("format", "tracker", "sequence")
        }
    out: dict[str, Any] = {
        "meta": meta,
        "thresholds": {
            "success": metrics.SUCCESS_THRESHOLDS.tolist(),
            "precision": metrics.PRECISION_THRESHOLDS.tolist(),
        },
        "sequences": {s.name: {"frames": len(s), "path": str(s.path)} for s in sequences},
        "skipped": skipped,
        "trackers": {},
    }
    for s in summaries:
        out["trackers"][s.name] = {
            "auc": s.auc,
            "p20": s.p20,
            "auc_seed_sd": None if not np.isfinite(s.auc_seed_sd) else s.auc_seed_sd,
            "fps": s.fps,
            "fps_no_first": s.fps_no_first,
            "not_ok": s.not_ok,
            "scale_error": _json_float(s.scale_error),
            "scale_bias": _json_float(s.scale_bias),
            "seeds": s.seeds,
            "success": s.success.tolist(),
            "precision": s.precision.tolist(),
            "sequences": {
                name: {
                    "auc": p.auc,
                    "p20": p.p20,
                    "fps": p.fps,
                    "fps_no_first": p.fps_no_first,
                    "not_ok": p.not_ok,
                    "scale_error": _json_float(p.scale_error),
                    "scale_bias": _json_float(p.scale_bias),
                    "success": p.success.tolist(),
                    "precision": p.precision.tolist(),
                    "runs": runs.get(s.name, {}).get(name, {}),
                }
                for name, p in s.sequences.items()
            },
        }
    if stats is not None:
        out["overhead"] = {
            "computed": stats.computed,
            "reused": stats.reused,
            "frames": stats.frames,
            "tracker_seconds": stats.tracker_seconds,
            "wall_seconds": stats.wall_seconds,
            "decode_seconds": stats.decode_seconds,
            "decode_wait_seconds": stats.decode_wait_seconds,
            "create_seconds": stats.create_seconds,
            "overhead_fraction": stats.overhead if stats.computed else None,
            "per_tracker_seconds": stats.per_tracker,
        }
    return out


def write(
    out_dir: Path,
    results: list[PairResult],
    sequences: list[Sequence],
    trackers: list[str],
    skipped: dict[str, str],
    stats: RunStats | None,
    meta: dict[str, Any],
    report_path: Path | None = None,
) -> dict[str, Path]:
    """Write results.json, results.md, success.png and precision.png (+ the page elsewhere)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summaries = summarise(results, sequences, trackers)
    wanted = {seq.name for seq in sequences}
    meta = {**meta, "branches": branch_shares(
        [r for r in results if r.tracker in trackers and r.sequence in wanted])}
    last_run = out_dir / "last_run.json"
    shown = stats  # the overhead shown on the page
    if stats is not None and stats.computed:
        last_run.write_text(json.dumps(dataclasses.asdict(stats)))
    elif last_run.is_file():  # nothing computed now: show the cost of the run that did
        shown = RunStats(**json.loads(last_run.read_text()))
        shown.label = "the last run that computed something in this folder"
    written = {"json": out_dir / "results.json", "markdown": out_dir / "results.md"}
    written["json"].write_text(
        json.dumps(to_json(summaries, results, sequences, skipped, stats, meta))
    )
    written["markdown"].write_text(markdown(summaries, sequences, skipped, shown, meta) + "\n")
    if summaries:
        success, precision = plot(summaries, out_dir)
        written.update(success=success, precision=precision)
    if report_path is not None:
        report_path = Path(report_path)
        report_path.parent.mkdir(parents=True, exist_ok=True)
        prefix = Path(_relative(out_dir, report_path.parent)).as_posix()
        report_path.write_text(
            markdown(summaries, sequences, skipped, shown, meta, image_prefix=prefix + "/") + "\n"
        )
        written["report"] = report_path
    return written


def _relative(target: Path, start: Path) -> str:
    return os.path.relpath(target.resolve(), start.resolve())


def machine_and_overhead(meta: dict[str, Any], stats: RunStats | None) -> list[str]:
    """Return the pages' closing sections: the machine and versions, and the evaluation's cost."""
    lines: list[str] = []
    env = meta.get("environment", {})
    if env:
        lines += ["## Machine and versions", ""]
        lines += [f"- {k}: {v}" for k, v in env.items()]
        lines.append("")
    if stats is not None and stats.computed:
        lines += [
            f"## Evaluation overhead ({stats.label})",
            "",
            f"{stats.computed} runs computed ({stats.frames} frames), {stats.reused} reused. "
            f"Trackers' own time {stats.tracker_seconds:.2f} s; whole run "
            f"{stats.wall_seconds:.2f} s; evaluation overhead "
            f"{100 * stats.overhead:.1f}% (decoding {stats.decode_seconds:.2f} s of which "
            f"{stats.decode_wait_seconds:.2f} s not hidden behind tracking; tracker "
            f"construction {stats.create_seconds:.2f} s).",
            "",
        ]
    return lines
