#!/usr/bin/env python3
# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Run the ROS-free core's tests under the Python stacks of Humble and Jazzy (short form).

Why: a distro user's ``colcon build`` runs the package on the distro's own Python, NumPy and
OpenCV (Humble: CPython 3.10, NumPy 1.21, OpenCV 4.5.4; Jazzy: 3.12, 1.26, 4.6), not on the
project venv's 3.11 / NumPy 2 / OpenCV 5. Each stack gets its own virtualenv (``.venv-humble``,
``.venv-jazzy``) from ``requirements/distro-<name>.txt``, made once and remade only when that
file changes; the tests below then run there with the source tree on ``PYTHONPATH``.

What this short form covers and what it does not (docs/setup.md, "Distro Python stacks"):
no torch and no ROS in these venvs, so the image conversion, geometry, sampling, sequence and
evaluation-metric code runs under the old NumPy/OpenCV, but not the tracker itself (the only
torch for CPython 3.10/3.12 reachable here is PyPI's CUDA build, gigabytes with its libraries).

Usage: ``python3 tools/distro_stacks.py [--stack humble|jazzy ...] [--setup-only] [pytest args]``;
exit 0 when every requested stack passed, 1 when one failed, 2 when none could be made (e.g. no
Python 3.10 on the machine).
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STACKS = {"humble": "3.10", "jazzy": "3.12"}
# Test modules that need neither torch nor ROS (checked by test/test_distro_stacks.py).
CORE_TESTS = (
    "test/test_image_conversion.py",
    "test/test_geometry.py",
    "test/test_sampling.py",
    "test/test_sequences.py",
    "test/test_evaluation_metrics.py",
    "test/test_evaluation_datasets.py",
    "test/test_package_manifest.py",
)
STATE = ".distro-stack-state"


def log(message: str) -> None:
    """One line, flushed, with the script's prefix (as tools/setup_env.py does)."""
    print(f"[distro-stacks] {message}", flush=True)


def find_python(version: str) -> str | None:
    """Find a working ``pythonX.Y``: on PATH, else a pyenv install (a pyenv shim may not run)."""
    root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates = [shutil.which(f"python{version}"),
                  *sorted(glob.glob(f"{root}/versions/{version}.*/bin/python{version}"),
                          reverse=True)]
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-c", "import venv, sys; print(sys.version_info[:2])"],
                               capture_output=True, text=True, timeout=60)
        wanted = str(tuple(int(part) for part in version.split(".")))
        if probe.returncode == 0 and probe.stdout.strip() == wanted:
            return candidate
    return None


def venv_path(name: str) -> Path:
    """Where a stack's virtualenv lives (ignored by git: .venv*/)."""
    return REPO / f".venv-{name}"


def ensure_venv(name: str) -> Path | None:
    """Create or refresh the stack's venv; None when its Python is not on this machine."""
    version = STACKS[name]
    requirements = REPO / "requirements" / f"distro-{name}.txt"
    digest = hashlib.sha256(requirements.read_bytes() + version.encode()).hexdigest()
    venv = venv_path(name)
    python = venv / "bin" / "python"
    state = venv / STATE
    if python.exists() and state.is_file() and state.read_text().strip() == digest:
        return python
    base = find_python(version)
    if base is None:
        log(f"{name}: no Python {version} (python{version} on PATH or pyenv): skipped")
        return None
    if venv.exists():
        shutil.rmtree(venv)
    log(f"{name}: creating {venv.name} with {base}")
    install = ["install", "-q", "--disable-pip-version-check", "-r", str(requirements)]
    outer = outer_pip()
    if outer is None:
        subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=300)
        subprocess.run([str(python), "-m", "pip", *install], check=True, timeout=1800)
    else:
        # ensurepip (installing and compiling pip in the new venv) is most of a venv's making:
        # this interpreter's pip installs into it instead, pip itself included, uncompiled.
        subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True,
                       timeout=300)
        subprocess.run([*outer, "--python", str(python), *install, "--no-compile", "pip"],
                       check=True, timeout=1800)
    state.write_text(digest + "\n")
    return python


def outer_pip() -> list[str] | None:
    """Return the running interpreter's pip command when it can install elsewhere.

    pip >= 22.3 takes ``--python`` (the environment to install into); None for an older pip.
    """
    probe = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True,
                           text=True, timeout=120)
    parts = probe.stdout.split()
    if probe.returncode != 0 or len(parts) < 2:
        return None
    try:
        version = tuple(int(p) for p in parts[1].split(".")[:2])
    except ValueError:
        return None
    return [sys.executable, "-m", "pip"] if version >= (22, 3) else None


def run_tests(name: str, python: Path, extra: list[str]) -> int:
    """Run the core tests with the source tree on PYTHONPATH; return pytest's exit code."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "AMENT_PREFIX_PATH")}
    env["PYTHONPATH"] = str(REPO)
    probe = subprocess.run(
        [str(python), "-c", "import sys, numpy, cv2; print(sys.version.split()[0], "
                            "numpy.__version__, cv2.__version__)"],
        env=env, capture_output=True, text=True, timeout=120)
    log(f"{name}: Python, NumPy, OpenCV = {probe.stdout.strip() or probe.stderr.strip()}")
    result = subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             *CORE_TESTS, *extra], cwd=REPO, env=env, timeout=1800)
    return result.returncode


def digests() -> dict[str, str]:
    """Fingerprints of the ROS-free core's results on fixed inputs, to compare across stacks.

    The node's image conversion for every named encoding (row padding, big-endian included),
    the seeded candidate sampling (NumPy's Generator: the tracker's boxes depend on its stream),
    the OTB metrics and a lossless PNG decode. Floats are rounded to 1e-9 first: the last bits
    of a sum may follow the BLAS/SIMD build, which is not what is compared here.
    """
    from types import SimpleNamespace

    import cv2
    import numpy as np

    sys.path.insert(0, str(REPO))
    from rtmdnet_ros.evaluation import metrics
    from rtmdnet_ros.ros_io import image_conversion as conversion
    from rtmdnet_ros.sampling import SampleGenerator, gen_samples

    def fingerprint(array: np.ndarray) -> str:
        array = np.asarray(array)
        if array.dtype.kind == "f":
            array = np.round(array.astype(np.float64), 9)
        return hashlib.sha256(str(array.dtype).encode() + str(array.shape).encode()
                              + np.ascontiguousarray(array).tobytes()).hexdigest()[:16]

    out: dict[str, str] = {}
    h, w, pad = 6, 8, 3
    for encoding in sorted(conversion._NAMED):
        info = conversion.encoding_info(encoding)
        for big in ((False, True) if info.dtype.itemsize > 1 else (False,)):
            row = w * info.channels * info.dtype.itemsize
            data = (np.arange(h * (row + pad)) * 37 % 251).astype(np.uint8)
            msg = SimpleNamespace(height=h, width=w, encoding=encoding, is_bigendian=int(big),
                                  step=row + pad, data=data.tobytes())
            out[f"image {encoding}{' big-endian' if big else ''}"] = fingerprint(
                conversion.image_msg_to_rgb(msg))
    for kind in ("gaussian", "uniform"):
        generator = SampleGenerator(kind, (640.0, 480.0), 0.6, 1.05, aspect=1.1, valid=True)
        rng = np.random.default_rng(7)
        out[f"samples {kind}"] = fingerprint(
            gen_samples(generator, (200.0, 150.0, 60.0, 80.0), 256, rng, iou_range=(0.7, 1.0)))
    boxes = np.array([[10.0 + i, 20.0 + 0.5 * i, 30.0 + i % 7, 40.0 - i % 5] for i in range(50)])
    truth = boxes + np.array([1.5, -2.0, 3.0, 0.5])
    score = metrics.score(boxes, truth)
    out["metrics"] = fingerprint(np.array([score.auc, score.p20]))
    image = (np.arange(24 * 32 * 3).reshape(24, 32, 3) * 13 % 256).astype(np.uint8)
    ok, png = cv2.imencode(".png", image)
    out["png decode"] = fingerprint(cv2.imdecode(png, cv2.IMREAD_COLOR)) if ok else "encode failed"
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line: make the venvs, then run the tests in each (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stack", action="append", choices=list(STACKS),
                        help="only this stack (repeatable; default: all)")
    parser.add_argument("--setup-only", action="store_true", help="make the venvs, run nothing")
    parser.add_argument("--digest", action="store_true",
                        help="print this interpreter's result fingerprints as JSON and exit")
    args, extra = parser.parse_known_args(argv)  # the rest goes to pytest
    if args.digest:
        import json

        print(json.dumps(digests(), indent=1, sort_keys=True))
        return 0
    extra = [a for a in extra if a != "--"]
    made, failed = 0, []
    for name in args.stack or list(STACKS):
        python = ensure_venv(name)
        if python is None:
            continue
        made += 1
        if not args.setup_only and run_tests(name, python, extra) != 0:
            failed.append(name)
    if made == 0:
        log("no stack could be made")
        return 2
    if failed:
        log(f"failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
