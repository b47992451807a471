# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The long-term recipe: sequences in which the target leaves the view, built in memory.

A robot's target goes behind a tree or out of frame and comes back. The shared footage has few
such frames (NaN ground truth in two sequences), so every host sequence gets a scene cut: after
its frame ``after`` (1-based: frames 1..after are the host's), ``length`` frames of another
sequence are spliced in, their ground truth NaN (the target is absent), and the host then
resumes where it left off, so the target returns where it was. The donor is the next sequence
of the selection (in its order, wrapping round) that is not from the host's video: frames of the
same video could show the target itself. Donor frames are its first ``length`` frames, resized to
the host's frame size (a camera's cut keeps its resolution). Nothing is written to disk: the
spliced sequence lists the frame files, and the decoder resizes the donor's.

The recipe is decided here and nowhere else; ``rtmdnet-eval --long-term`` takes it, with
``--cut-after`` / ``--cut-length`` to change the two numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from rtmdnet_ros.sequences import DatasetError, Sequence

CUT_AFTER = 60  # host frames before the cut: the tracker has settled on the target
CUT_LENGTH = 40  # absent frames: 4 s at UAV123@10fps, long enough that latency is not all


@dataclass(frozen=True)
class Recipe:
    """Where the cut goes and how long it lasts."""

    after: int = CUT_AFTER
    length: int = CUT_LENGTH

    def __post_init__(self) -> None:
        if self.after < 1:
            raise ValueError(f"the cut must come after at least frame 1 (got {self.after})")
        if self.length < 1:
            raise ValueError(f"the cut must last at least 1 frame (got {self.length})")


@dataclass(frozen=True)
class SplicedSequence(Sequence):
    """A host sequence with a donor's frames cut in; ``donor_frames`` are its spliced indices."""

    host: str = ""
    donor: str = ""
    donor_frames: range = range(0)


def family(name: str) -> str:
    """Return the video a sequence was cut from: ``truck4_1`` and ``truck4_2`` are ``truck4``.

    The shared data names sub-sequences of one video ``VIDEO_K`` (data README, split.py).
    """
    return re.sub(r"_\d+$", "", name)


def donor_for(host: Sequence, pool: list[Sequence]) -> Sequence:
    """Return the next sequence after ``host`` in ``pool`` (wrapping round) of another video."""
    names = [s.name for s in pool]
    start = names.index(host.name) if host.name in names else -1
    for k in range(1, len(pool) + 1):
        candidate = pool[(start + k) % len(pool)]
        if family(candidate.name) != family(host.name):
            return candidate
    raise DatasetError(
        f"long-term evaluation of {host.name}: no sequence from another video to splice in "
        f"(selection: {', '.join(names)}); select at least two videos"
    )


def splice(host: Sequence, donor: Sequence, recipe: Recipe) -> SplicedSequence:
    """Cut ``recipe.length`` frames of ``donor`` into ``host`` after its frame ``recipe.after``."""
    if len(host) <= recipe.after:
        raise DatasetError(
            f"long-term evaluation: {host.name} has {len(host)} frames, the cut comes after "
            f"frame {recipe.after} and the sequence must resume after it"
        )
    if len(donor) < recipe.length:
        raise DatasetError(
            f"long-term evaluation: {donor.name} has {len(donor)} frames, the cut needs "
            f"{recipe.length}"
        )
    a, n = recipe.after, recipe.length
    absent = np.full((n, 4), np.nan)
    return SplicedSequence(
        name=f"{host.name}~{donor.name}@{a}+{n}",
        path=host.path,
        frame_paths=host.frame_paths[:a] + donor.frame_paths[:n] + host.frame_paths[a:],
        groundtruth=np.concatenate([host.groundtruth[:a], absent, host.groundtruth[a:]]),
        host=host.name,
        donor=donor.name,
        donor_frames=range(a, a + n),
    )


def build(
    sequences: list[Sequence], recipe: Recipe, donors: list[Sequence] | None = None
) -> list[SplicedSequence]:
    """Every selected sequence with its cut, in the selection's order; deterministic.

    ``donors``: where the cut frames come from (default: ``sequences``), e.g. the full-length
    sequences when the hosts were shortened.
    """
    pool = donors if donors is not None else sequences
    return [splice(host, donor_for(host, pool), recipe) for host in sequences]


def describe(sequences: list[SplicedSequence], recipe: Recipe) -> str:
    """One sentence for reports: the recipe and which donor went into which host."""
    pairs = ", ".join(f"{s.host} <- {s.donor}" for s in sequences)
    return (
        f"Scene cuts: after frame {recipe.after} of each sequence, the first {recipe.length} "
        "frames of the next selected sequence from another video (resized to the host's frame "
        "size; ground truth NaN there), then the sequence resumes where it left off. "
        f"Host <- donor: {pairs}."
    )
