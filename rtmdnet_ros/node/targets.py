# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The node's targets: one :class:`TrackSession` per target, at most ``max_targets``.

Why one session per target: a session is one target's state machine with its own tracker, so
several targets are several sessions side by side, each with the rules it already has (its own
generation, catch-up, spare tracker). What they share lives here: the track ids (one counter,
so no two targets carry the same id), which session an ``~/init`` or ``~/reset_target`` with a
track id means, and the refusals in words. Sessions are built when first needed (each holds a
tracker: memory) and kept when their target stops, for the next one. No ROS here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from rtmdnet_ros.track_session import IDLE, SessionStatus, TrackSession


class Targets:
    """The sessions of one configured node, and the choice of a session for a request.

    ``make_session(new_id)`` builds a session whose tracks take their ids from ``new_id``;
    the first is built at once (the node's model load), the others when a target is added.
    """

    def __init__(self, max_targets: int,
                 make_session: Callable[[Callable[[], str]], TrackSession]) -> None:
        if max_targets < 1:
            raise ValueError(f"max_targets must be at least 1, got {max_targets}")
        self.max_targets = int(max_targets)
        self._make = make_session
        self._lock = threading.Lock()
        self._next_number = 1
        self._claimed: list[TrackSession] = []  # stopped sessions an add is training on
        self._building = 0  # sessions being built for an add
        self._sessions: list[TrackSession] = [make_session(self._new_id)]

    def _new_id(self) -> str:
        with self._lock:
            number, self._next_number = self._next_number, self._next_number + 1
        return str(number)

    @property
    def first(self) -> TrackSession:
        """The first target's session: the only one with ``max_targets`` 1, the hand-off's."""
        return self._sessions[0]

    def sessions(self) -> list[TrackSession]:
        """Every session built so far (slot order: the diagnostics' names follow it)."""
        with self._lock:
            return list(self._sessions)

    def running(self) -> list[TrackSession]:
        """Return the sessions whose target runs (TRACKING or LOST)."""
        return [s for s in self.sessions() if s.state != IDLE]

    def running_ids(self) -> str:
        """Return the running targets' ids, for refusals ("1, 3", or "none")."""
        return ", ".join(s.track_id for s in self.running()) or "none"

    def find(self, track_id: str) -> TrackSession | None:
        """Return the session running track ``track_id``, or None."""
        return next((s for s in self.sessions() if track_id and s.track_id == track_id), None)

    def unknown(self, track_id: str) -> str:
        """Return the refusal for an id no target has."""
        return (f"no target has track id {track_id!r} (running: {self.running_ids()}); give "
                "the id of a running target, or leave track_id empty")

    def statuses(self) -> list[SessionStatus]:
        """One status per running target; the first session's alone when none runs (IDLE)."""
        running = self.running()
        return [s.status() for s in running] if running else [self.first.status()]

    def claim(self, track_id: str) -> tuple[TrackSession, str] | str:
        """Return the session an ``~/init`` for ``track_id`` trains on and the id it keeps.

        Or why not, in words.

        A named target is re-initialised in its session, keeping its id. Empty: with one
        target, its session (a new track replaces it); with more, a stopped session, or a new
        one while fewer than ``max_targets`` exist, claimed until :meth:`release`. Building a
        session loads a tracker (seconds); it happens outside the lock.
        """
        if track_id:
            session = self.find(track_id)
            return (session, track_id) if session is not None else self.unknown(track_id)
        if self.max_targets == 1:
            return self.first, ""
        with self._lock:
            for session in self._sessions:
                if session.state == IDLE and not any(session is c for c in self._claimed):
                    self._claimed.append(session)
                    return session, ""
            if len(self._sessions) + self._building >= self.max_targets:
                ids = ", ".join(s.track_id for s in self._sessions if s.track_id)
                return (f"max_targets ({self.max_targets}) targets are running (track ids "
                        f"{ids or 'starting'}): stop one (~/reset_target with its id) or "
                        "start the node with a larger max_targets")
            self._building += 1
        try:
            session = self._make(self._new_id)
        except BaseException:
            with self._lock:
                self._building -= 1
            raise
        with self._lock:  # one step: a concurrent add never sees the place free meanwhile
            self._building -= 1
            self._sessions.append(session)
            self._claimed.append(session)
        return session, ""

    def release(self, session: TrackSession) -> None:
        """End an add's claim on ``session`` (its track started, or it failed)."""
        with self._lock:
            self._claimed = [c for c in self._claimed if c is not session]

    def reset_all(self) -> None:
        """Stop every target (deactivate)."""
        for session in self.sessions():
            session.reset()

    def close(self) -> None:
        """Close every session's trackers (cleanup)."""
        for session in self.sessions():
            session.close()


def session_builder(tracker: Any, factory: Any) -> Callable[[Callable[[], str]], TrackSession]:
    """Make the targets' sessions: the first on ``tracker``, each later one on its own.

    The first tracker is the one built at configure; each later one is built like it
    (``factory.build_target``); every session may build a spare for re-initialisations.
    """
    first = [tracker]

    def make(new_id: Callable[[], str]) -> TrackSession:
        own = first.pop() if first else factory.build_target(tracker)
        return TrackSession(own, build_spare=factory.build_spare, new_id=new_id)

    return make
