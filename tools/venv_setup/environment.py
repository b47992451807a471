# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The venv being built, and the input hashes that decide which stages rerun."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from .layout import REPO, REQUIRED_PYTHON, STATE_NAME
from .process import clean_env


def file_digest(paths: list[Path], extra: str = "") -> str:
    """Hash file names and contents so a stage reruns exactly when one of its inputs changed."""
    digest = hashlib.sha256(extra.encode())
    for path in sorted(paths):
        digest.update(str(path.relative_to(REPO)).encode() + b"\0")
        digest.update(path.read_bytes() if path.is_file() else b"<missing>")
        digest.update(b"\0")
    return digest.hexdigest()


def tree_files(root: Path) -> list[Path]:
    """List the regular files under root (none if it does not exist), skipping caches."""
    if not root.is_dir():
        return []
    return [
        p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    ]


class Environment:
    """The venv being built and the paths derived from it."""

    def __init__(self, venv: Path, base_python: str | None) -> None:
        self.venv = venv
        self.python = venv / "bin" / "python"
        self.build_dir = venv / "build"
        self.state_file = venv / STATE_NAME
        self.base_python = base_python

    def load_state(self) -> dict[str, str]:
        """Read the stage hashes of the last successful run ({} when there is none)."""
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}

    def save_state(self, state: dict[str, str]) -> None:
        """Record the stage hashes atomically so an interrupted run never looks complete."""
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1, sort_keys=True) + "\n")
        tmp.replace(self.state_file)

    def venv_query(self, code: str) -> subprocess.CompletedProcess[str]:
        """Run Python code in the venv from a neutral directory.

        The repository must not reach sys.path through the current directory, or a check could
        pass here and fail for a user elsewhere.
        """
        return subprocess.run(
            [str(self.python), "-c", code],
            capture_output=True,
            text=True,
            cwd="/",
            env=clean_env(),
        )

    def site_packages(self) -> Path:
        """Return the venv's site-packages directory."""
        version = f"python{REQUIRED_PYTHON[0]}.{REQUIRED_PYTHON[1]}"
        return self.venv / "lib" / version / "site-packages"
