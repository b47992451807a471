# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The long-term report: who says LOST while the target is gone and who finds it again.

Each tracker is scored on its own presence flag (ours: TrackResult.success; OpenCV: "ok").
Peers whose flag never says the target is gone but whose score is a probability (``TrackerSpec.
presence_threshold``) get two more rows: their score against that threshold, and against the
threshold that maximises F on this very data, labelled as an oracle (no tracker could know it
in advance). Scores per run are ``metrics.long_term_score``; over sequences and seeds, precision
and recall are the means over runs (precision over the runs that report anything) and F their
harmonic mean, as VOT-LT aggregates; frame and stretch counts are pooled.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rtmdnet_ros.evaluation import metrics
from rtmdnet_ros.evaluation.longterm import SplicedSequence
from rtmdnet_ros.evaluation.peers import TrackerSpec
from rtmdnet_ros.evaluation.report import machine_and_overhead
from rtmdnet_ros.evaluation.runner import PairResult, RunStats
from rtmdnet_ros.sequences import Sequence

QUICK_REACQUIRE = 10  # frames: "re-acquired within 10 frames", the bar a robot's user sets


@dataclass(frozen=True)
class Presence:
    """How a row decides that the tracker reports the target present on a frame."""

    label: str
    threshold: float | None = None  # None: the tracker's own flag
    oracle: bool = False

    def reported(self, result: PairResult) -> np.ndarray:
        """Return, per frame, whether this rule reads the tracker as claiming the target."""
        if self.threshold is None:
            return np.asarray(result.ok, dtype=bool)
        return metrics.presence_from_scores(result.scores, self.threshold)


@dataclass
class Row:
    """One tracker under one presence rule, over every sequence and seed."""

    tracker: str
    presence: Presence
    precision: float
    recall: float
    f: float
    absent: int
    lost_on_absent: int
    stretches: int
    relocked: int
    frames_to_lost: list[int]  # per stretch where it said LOST
    returns: int
    reacquire: list[int]  # frames to re-acquire, per re-acquired return
    seeds: list[int]
    per_sequence: dict[str, list[metrics.LongTermScore]] = field(default_factory=dict)

    @property
    def lost_share(self) -> float:
        """Pooled share of absent frames reported absent."""
        return self.lost_on_absent / self.absent if self.absent else float("nan")

    @property
    def quick(self) -> int:
        """Returns re-acquired within ``QUICK_REACQUIRE`` frames."""
        return sum(1 for k in self.reacquire if k <= QUICK_REACQUIRE)


def _row(tracker: str, presence: Presence, runs: dict[str, list[PairResult]],
         sequences: list[Sequence]) -> Row:
    per_seq: dict[str, list[metrics.LongTermScore]] = {}
    for seq in sequences:
        per_seq[seq.name] = [
            metrics.long_term_score(r.boxes, seq.groundtruth, presence.reported(r))
            for r in sorted(runs[seq.name], key=lambda r: r.seed)
        ]
    scores = [s for scored in per_seq.values() for s in scored]
    stretches = [st for s in scores for st in s.stretches]
    precision = float(metrics.nanmean_rows(np.array([s.precision for s in scores]))[0])
    recall = float(np.mean([s.recall for s in scores]))
    return Row(
        tracker=tracker,
        presence=presence,
        precision=precision,
        recall=recall,
        f=metrics.f_measure(precision, recall),
        absent=sum(s.absent for s in scores),
        lost_on_absent=sum(s.lost_on_absent for s in scores),
        stretches=len(stretches),
        relocked=sum(st.relocked for st in stretches),
        frames_to_lost=[st.frames_to_lost for st in stretches if st.frames_to_lost is not None],
        returns=sum(st.returns for st in stretches),
        reacquire=[st.frames_to_reacquire for st in stretches
                   if st.returns and st.frames_to_reacquire is not None],
        seeds=sorted({r.seed for rs in runs.values() for r in rs}),
        per_sequence=per_seq,
    )


def summarise(
    results: list[PairResult], sequences: list[Sequence], specs: list[TrackerSpec]
) -> tuple[list[Row], dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """Rows for every tracker done on every sequence, and the score sweeps of thresholded ones.

    Returns (rows, sweeps); a sweep is (thresholds, precision, recall) for the plot.
    """
    rows: list[Row] = []
    sweeps: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    gt = {s.name: s.groundtruth for s in sequences}
    for spec in specs:
        runs: dict[str, list[PairResult]] = {}
        for r in results:
            if r.tracker == spec.name and r.sequence in gt:
                runs.setdefault(r.sequence, []).append(r)
        if not all(s.name in runs for s in sequences):
            continue
        rows.append(_row(spec.name, Presence("own flag"), runs, sequences))
        if spec.presence_threshold is None:
            continue
        t = spec.presence_threshold
        rows.append(_row(spec.name, Presence(f"score >= {t:g}", t), runs, sequences))
        scored = [(r.boxes, gt[name], r.scores) for name, rs in runs.items() for r in rs]
        best, *_ = metrics.best_threshold(scored)
        if np.isfinite(best):
            oracle = Presence(f"score >= {best:.3f} (oracle: best on this data)", best, True)
            rows.append(_row(spec.name, oracle, runs, sequences))
        sweeps[spec.name] = metrics.threshold_sweep(scored)
    return rows, sweeps


def _fmt(value: float, digits: int = 3) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _pct(part: int, whole: int) -> str:
    return "n/a" if not whole else f"{100 * part / whole:.0f}%"


def _reacquire_cell(scores: list[metrics.LongTermScore]) -> str:
    """Frames to re-acquire for each return of one sequence, seeds separated by '/'."""
    cells = []
    for s in scores:
        values = [("never" if st.frames_to_reacquire is None else str(st.frames_to_reacquire))
                  for st in s.stretches if st.returns]
        cells.append(", ".join(values) or "-")
    return " / ".join(cells)


def _label(row: Row) -> str:
    """Short column / legend name: the tracker, with its threshold where a score decides."""
    t = row.presence.threshold
    if t is None:
        return row.tracker
    return f"{row.tracker} oracle >= {t:.3f}" if row.presence.oracle else f"{row.tracker} >= {t:g}"


DEFINITIONS = (
    "Presence: a frame counts as reported when the tracker claims the target there (its own "
    'flag: ours TRACKING, OpenCV "ok"), or when its score reaches the threshold shown. '
    "Frame 1 (the initialisation) is not scored. Precision: mean IoU over reported frames "
    "(a claim on an absent frame scores 0); recall: mean IoU over frames where the target is "
    "present (0 where nothing is reported); both averaged over sequences (and seeds), F = "
    "their harmonic mean (VOT-LT). LOST on absent frames: share of absent frames not "
    "reported, pooled. A stretch is a run of absent frames; frames to LOST: from its first "
    "frame to the first frame not reported (stretches where that happened). Re-locked: the "
    "tracker claimed the target in a stretch after saying LOST there, or never said LOST "
    "there. A return is re-acquired on the first reported frame with IoU >= "
    f"{metrics.REACQUIRE_IOU} (0 = on the return frame itself), before the next stretch or "
    "the end. Counts are pooled over sequences and seeds. An oracle row's threshold was "
    "chosen for the best F on these very runs: an upper bound for that tracker, not a "
    "setting anyone could ship."
)


def _ranked(rows: list[Row]) -> list[Row]:
    """Trackers by their best F without an oracle, each tracker's rows together."""
    order = {name: -max(r.f for r in rows if r.tracker == name and not r.presence.oracle)
             for name in {r.tracker for r in rows}}
    return sorted(rows, key=lambda r: (order[r.tracker], r.tracker))


def _summary_table(rows: list[Row]) -> list[str]:
    lines = [
        "| tracker | presence from | F | precision | recall | LOST on absent frames "
        "| frames to LOST (mean) | re-locked stretches | returns re-acquired "
        f"| within {QUICK_REACQUIRE} frames | frames to re-acquire (mean) | seeds |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    best = max((r.f for r in rows if not r.presence.oracle and np.isfinite(r.f)), default=None)
    for r in _ranked(rows):
        mean_lost = float(np.mean(r.frames_to_lost)) if r.frames_to_lost else float("nan")
        mean_back = float(np.mean(r.reacquire)) if r.reacquire else float("nan")
        f = f"**{_fmt(r.f)}**" if r.f == best and not r.presence.oracle else _fmt(r.f)
        lines.append(
            f"| {r.tracker} | {r.presence.label} | {f} | {_fmt(r.precision)} "
            f"| {_fmt(r.recall)} | {_pct(r.lost_on_absent, r.absent)} "
            f"({r.lost_on_absent}/{r.absent}) | {_fmt(mean_lost, 1)} "
            f"| {r.relocked} of {r.stretches} | {len(r.reacquire)} of {r.returns} "
            f"| {r.quick} of {r.returns} | {_fmt(mean_back, 1)} | {len(r.seeds)} |"
        )
    return lines + [""]


def fragment(rows: list[Row], meta: dict[str, Any], page_link: str) -> str:
    """Render the summary as a section of another page (``--append``, docs/results.md)."""
    env = meta.get("environment", {})
    machine = ", ".join(f"{k} {v}" for k, v in env.items()
                        if k in ("cpu", "threads") or k.startswith("load average"))
    return "\n".join([
        f"## {meta.get('title') or 'Long-term evaluation (target leaves the view)'}",
        "",
        f"{meta.get('recipe', '')} Measured with `{meta.get('command', '')}` (written "
        f"{meta.get('date', '?')}; {machine}). Per-sequence tables and the precision-recall "
        f"plot: [{page_link}]({page_link}).",
        "",
        *_summary_table(rows),
        DEFINITIONS,
        "",
    ])


def markdown(
    rows: list[Row],
    sequences: list[Sequence],
    skipped: dict[str, str],
    stats: RunStats | None,
    meta: dict[str, Any],
    image_prefix: str = "",
) -> str:
    """Render the page: summary, plot, per-sequence tables, recipe, machine, overhead."""
    ranked = _ranked(rows)
    lines = [f"# {meta.get('title') or 'Long-term evaluation (target leaves the view)'}", ""]
    lines += [
        f"Regenerate with: `{meta.get('command', 'rtmdnet-eval --long-term')}` (report written "
        f"{meta.get('date', '?')}; stored runs are reused, `--force` re-measures everything)",
        "",
        f"Sequences ({len(sequences)}, {sum(len(s) for s in sequences)} frames, "
        f"{sum(int((~metrics.valid_groundtruth(s.groundtruth)).sum()) for s in sequences)} "
        "with the target absent): " + ", ".join(f"{s.name} ({len(s)})" for s in sequences)
        + (f" — split `{meta['split']}`" if meta.get("split") else ""),
        "",
    ]
    if meta.get("recipe"):
        lines += [meta["recipe"], ""]
    lines += ["## Summary", "", *_summary_table(rows), DEFINITIONS, ""]
    if meta.get("plot"):
        lines += [f"![Precision-recall plot]({image_prefix}longterm.png)", ""]
    names = [(_label(r), r) for r in ranked]
    for title, cell in (
        ("F per sequence", lambda s: _fmt(float(np.mean([x.f for x in s])))),
        ("LOST on absent frames per sequence",
         lambda s: _pct(sum(x.lost_on_absent for x in s), sum(x.absent for x in s))),
        ("Frames to re-acquire after each return (never = not re-acquired; seeds split by /)",
         _reacquire_cell),
    ):
        lines += [
            f"## {title}",
            "",
            "| sequence | frames | absent | " + " | ".join(n for n, _ in names) + " |",
            "|---|---:|---:|" + "---:|" * len(names),
        ]
        for seq in sequences:
            absent = int((~metrics.valid_groundtruth(seq.groundtruth)).sum())
            cells = [cell(r.per_sequence[seq.name]) for _, r in names]
            lines.append(f"| {seq.name} | {len(seq)} | {absent} | " + " | ".join(cells) + " |")
        lines.append("")
    if skipped:
        lines += ["## Skipped trackers", ""]
        lines += [f"- `{name}`: {reason}" for name, reason in skipped.items()]
        lines.append("")
    setup = [f"- {meta['notes']}"] if meta.get("notes") else []
    ours = meta.get("rtmdnet")
    if ours:
        setup.insert(0, f"- Our tracker (`rtmdnet`): model {ours.get('model_description')}; "
                        f"option overrides {ours.get('overrides') or 'none'}; device "
                        f"{ours.get('device')}; core sources fingerprint `{ours.get('code')}`.")
    if setup:
        lines += ["## Set-up", "", *setup, ""]
    lines += machine_and_overhead(meta, stats)
    return "\n".join(lines)


def plot(rows: list[Row], sweeps: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
         path: Path) -> Path:
    """Tracking precision against recall (VOT-LT's plot), F contours in the background.

    A thresholded tracker's curve is its score swept over every value it took; each row is a
    marker on it (the oracle is the curve's best-F point). Ours is drawn in red.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5.0), dpi=100)
    grid = np.linspace(0.01, 1, 100)
    pr, re = np.meshgrid(grid, grid)
    contours = ax.contour(re, pr, 2 * pr * re / (pr + re), levels=np.arange(0.1, 1.0, 0.1),
                          colors="0.85", linewidths=0.8)
    ax.clabel(contours, fmt="F=%.1f", fontsize=7)
    tab10 = plt.get_cmap("tab10")
    palette = [c for c in tab10.colors if c != tab10(3)[:3]]  # red is ours alone
    trackers = sorted({r.tracker for r in rows})
    colour = {name: palette[i % len(palette)] for i, name in enumerate(
        [t for t in trackers if not t.startswith("rtmdnet")])}
    colour.update({t: "tab:red" for t in trackers if t.startswith("rtmdnet")})
    for name, (_, precision, recall) in sweeps.items():
        keep = np.isfinite(precision) & np.isfinite(recall)
        ax.plot(recall[keep], precision[keep], color=colour[name], linewidth=1.2, alpha=0.7)
    markers = {"own flag": "o"}
    for r in rows:
        marker = "*" if r.presence.oracle else markers.get(r.presence.label, "s")
        if not (np.isfinite(r.precision) and np.isfinite(r.recall)):
            continue
        ax.scatter([r.recall], [r.precision], color=colour[r.tracker], marker=marker,
                   s=90 if r.tracker.startswith("rtmdnet") else 50, zorder=3,
                   label=f"{_label(r)} [F {r.f:.3f}]")
    ax.set(xlabel="Tracking recall", ylabel="Tracking precision", xlim=(0, 1), ylim=(0, 1),
           title="Long-term: precision / recall (target leaves the view)")
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def to_json(rows: list[Row], sequences: list[Sequence], skipped: dict[str, str],
            meta: dict[str, Any]) -> dict[str, Any]:
    """Every figure of the page, per sequence and per stretch, in one document."""
    def number(v: float) -> float | None:
        return float(v) if v is not None and np.isfinite(v) else None

    out: dict[str, Any] = {
        "meta": meta,
        "sequences": {
            s.name: {
                "frames": len(s),
                "absent": int((~metrics.valid_groundtruth(s.groundtruth)).sum()),
                **({"host": s.host, "donor": s.donor,
                    "spliced_frames": [s.donor_frames.start + 1, s.donor_frames.stop]}
                   if isinstance(s, SplicedSequence) else {}),
            }
            for s in sequences
        },
        "skipped": skipped,
        "rows": [],
    }
    for r in rows:
        out["rows"].append({
            "tracker": r.tracker,
            "presence": r.presence.label,
            "threshold": r.presence.threshold,
            "oracle": r.presence.oracle,
            "f": number(r.f),
            "precision": number(r.precision),
            "recall": number(r.recall),
            "lost_on_absent": r.lost_on_absent,
            "absent": r.absent,
            "stretches": r.stretches,
            "relocked": r.relocked,
            "returns": r.returns,
            "reacquired": len(r.reacquire),
            "frames_to_reacquire": r.reacquire,
            "frames_to_lost": r.frames_to_lost,
            "seeds": r.seeds,
            "sequences": {
                name: [{
                    "f": number(s.f),
                    "precision": number(s.precision),
                    "recall": number(s.recall),
                    "lost_on_absent": s.lost_on_absent,
                    "absent": s.absent,
                    "stretches": [vars(st) for st in s.stretches],
                } for s in scores]
                for name, scores in r.per_sequence.items()
            },
        })
    return out


def write(
    out_dir: Path,
    results: list[PairResult],
    sequences: list[Sequence],
    specs: list[TrackerSpec],
    skipped: dict[str, str],
    stats: RunStats | None,
    meta: dict[str, Any],
    report_path: Path | None = None,
) -> dict[str, Path]:
    """Write longterm.json, longterm.md, longterm.png and summary.md (+ the page elsewhere).

    summary.md is the summary table as a section for another page in ``report_path``'s folder
    (it links to the page there), e.g. ``--append`` to docs/results.md.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, sweeps = summarise(results, sequences, specs)
    written = {"json": out_dir / "longterm.json", "markdown": out_dir / "longterm.md"}
    if rows:
        written["plot"] = plot(rows, sweeps, out_dir / "longterm.png")
    meta = {**meta, "plot": bool(rows)}
    written["json"].write_text(json.dumps(to_json(rows, sequences, skipped, meta)))
    written["markdown"].write_text(markdown(rows, sequences, skipped, stats, meta) + "\n")
    if report_path is not None:
        report_path = Path(report_path)
        report_path.parent.mkdir(parents=True, exist_ok=True)
        prefix = Path(os.path.relpath(out_dir.resolve(), report_path.parent.resolve())).as_posix()
        report_path.write_text(
            markdown(rows, sequences, skipped, stats, meta, image_prefix=prefix + "/") + "\n"
        )
        written["report"] = report_path
    link = report_path.name if report_path is not None else "longterm.md"
    written["summary"] = out_dir / "summary.md"
    written["summary"].write_text(fragment(rows, meta, link))
    return written
