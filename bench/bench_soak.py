# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""A soak of the tracker node at 30 Hz: minutes of re-inits and resets, checked for faults.

A short benchmark shows speed; only a long run shows a leak, a thread that dies after the
hundredth init, an error that comes once a minute or frames that vanish without being counted.
Three processes, as on a robot (the pieces of ``bench_graph.py``):

- camera: a real sequence from the shared data, resized and padded to 640x480 ``bgr8``, LOOPED at
  ``--rate`` Hz for the whole run (the package's ``frame_publisher`` node, RELIABLE depth 5, the
  shipped Fast DDS profile). It starts publishing once the node's input has settled on RELIABLE,
  so every frame it sends is one the node can be held to account for, and it reports the stamp
  and frame index of every frame on its stdout;
- the ``rtmdnet_tracker`` node, started like the launch file starts it, its log captured;
- this process, the consumer: it calls ``~/init`` with the ground-truth box of a frame the node
  has just answered (by that frame's stamp) every ``--init-every`` seconds, ``~/reset`` halfway
  between two inits, records every detection and status, and samples the node's RSS and CPU
  from /proc every ``--sample-every`` seconds.

Checked (exit 1 when one is missed): no error, exception or crash line in the node's log; the
node still alive at the end and exiting 0 on SIGINT; RSS growth after the first minute (peak
after minute 1 minus RSS at minute 1) <= ``--max-rss-growth-mb``; every frame accounted for:
frames published = frames answered + frames the node counts in ``TrackerStatus.frames_dropped``.
Also printed per minute: answered share (all frames, and frames while a track was on),
stamp-to-detection latency p50/p95/max, the node's ``processing_ms`` p95, node CPU, RSS and the
load average; init and reset answer times. ``--json FILE`` writes every figure and record.

Run: ``nice .venv/bin/python bench/bench_soak.py [--minutes 10] [--init-every 60]
[--sequence boat1] [--rate 30] [--json soak.json] [--node-log soak.log]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from bench_graph import Consumer, cpu_seconds, fit_transform, prepare, wait_for

NAMESPACE = "bench_soak"
SIZE = (640, 480)
# A log line that means something went wrong in the node (ROS ERROR/FATAL, Python logging's
# ERROR/CRITICAL, a traceback, a native crash).
ERROR_LINE = re.compile(
    r"\[(ERROR|FATAL)\]|\b(ERROR|CRITICAL):|Traceback \(most recent call last\)|"
    r"^\s*\w+(Error|Exception)\b|Segmentation fault|terminate called|core dumped")
WARNING_LINE = re.compile(r"\[WARN(ING)?\]|\bWARNING:")


# ---------------------------------------------------------------------- camera process
def run_camera(args: argparse.Namespace) -> int:
    """The camera process: wait for the node's RELIABLE input, then loop the sequence.

    Protocol on stdout, one line each: ``READY`` when publishing starts, ``F <stamp_ns>
    <index>`` per published frame, ``END <count>`` after the last. It stops when its stdin
    closes (or says ``stop``), after letting the frames in flight arrive.
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from rclpy.qos import ReliabilityPolicy

    from rtmdnet_ros.node.frame_publisher import FramePublisher, FrameSource
    from rtmdnet_ros.ros_io.cli import init_ros, stop_ros
    from rtmdnet_ros.ros_io.stamps import stamp_to_ns

    frames, gt = prepare(Path(args.sequence_dir), args.frames)
    if init_ros("bench_soak camera", []) is not None:
        return 1
    node = FramePublisher(FrameSource.from_arrays(frames, gt, Path(args.sequence_dir).name),
                          node_name="camera", namespace=NAMESPACE, autostart=False,
                          parameter_overrides=[Parameter("rate", value=args.rate),
                                               Parameter("loop", value=True)])
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    stop = threading.Event()

    def watch_stdin() -> None:
        for line in sys.stdin:
            if line.strip() == "stop":
                break
        stop.set()

    threading.Thread(target=watch_stdin, name="stdin", daemon=True).start()
    topic = f"/{NAMESPACE}/image"
    reported = 0

    def report_new() -> None:
        nonlocal reported
        headers = node.headers[reported:]
        reported += len(headers)
        if headers:
            sys.stdout.write("".join(
                f"F {stamp_to_ns(h.stamp)} {node.index_of(stamp_to_ns(h.stamp))}\n"
                for h in headers))
            sys.stdout.flush()

    code = 0
    try:
        # The node's input starts BEST_EFFORT and adds a RELIABLE subscription once it has seen
        # this publisher (the best-effort one goes once the reliable one has received a frame);
        # frames sent before that could be lost uncounted (nothing to see a gap in).
        deadline = time.monotonic() + args.timeout
        while not stop.is_set():
            executor.spin_once(timeout_sec=0.05)
            subs = node.get_subscriptions_info_by_topic(topic)
            if any(s.qos_profile.reliability == ReliabilityPolicy.RELIABLE for s in subs):
                break
            if time.monotonic() > deadline:
                print(f"[camera] the node's input on {topic} did not add a RELIABLE "
                      f"subscription within {args.timeout:g} s", file=sys.stderr, flush=True)
                return 1
        print("READY", flush=True)
        node.start()
        while rclpy.ok() and not stop.is_set():
            executor.spin_once(timeout_sec=0.05)
            report_new()
        node.wind_down(executor, 0.5)  # the frames in flight reach the node
    except (KeyboardInterrupt, ExternalShutdownException):
        code = 0
    finally:
        report_new()
        print(f"END {node.published}", flush=True)
        stop_ros(executor, [node])
    return code


class CameraProcess:
    """The camera child: its stamp lines parsed as they come, everything else kept as its log."""

    def __init__(self, cmd: list[str], env: dict[str, str]) -> None:
        from rtmdnet_ros.node import process

        self.proc = subprocess.Popen(cmd, cwd=process.REPO_ROOT, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     bufsize=1)
        self.lock = threading.Lock()
        self.published: list[tuple[int, int]] = []  # (stamp ns, frame index), in order
        self.index: dict[int, int] = {}
        self.log: list[str] = []
        self.ready = threading.Event()
        self.end_count = -1
        self._reader = threading.Thread(target=self._read, name="camera_reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            parts = line.split()
            with self.lock:
                if len(parts) == 3 and parts[0] == "F":
                    stamp, index = int(parts[1]), int(parts[2])
                    self.published.append((stamp, index))
                    self.index[stamp] = index
                elif parts == ["READY"]:
                    self.ready.set()
                elif len(parts) == 2 and parts[0] == "END":
                    self.end_count = int(parts[1])
                else:
                    self.log.append(line.rstrip("\n"))

    def stop(self, timeout: float = 30.0) -> int:
        """Ask it to stop (stdin), wait; SIGINT then SIGKILL if it hangs; return the code."""
        if self.proc.poll() is None and self.proc.stdin is not None:
            try:
                self.proc.stdin.write("stop\n")
                self.proc.stdin.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._reader.join(timeout=5)
        return int(self.proc.returncode)


class NodeLog:
    """The node's stdout and stderr, line by line, with the time each line arrived."""

    def __init__(self, proc: subprocess.Popen, path: str = "") -> None:
        self.lines: list[tuple[float, str]] = []
        self.lock = threading.Lock()
        self._file = open(path, "w") if path else None  # closed by the reader
        self._proc = proc
        self._reader = threading.Thread(target=self._read, name="node_log", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for raw in self._proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self.lock:
                self.lines.append((time.time(), line))
            if self._file is not None:
                self._file.write(line + "\n")
                self._file.flush()
        if self._file is not None:
            self._file.close()

    def join(self, timeout: float = 10.0) -> None:
        """Wait until the node's output is read to its end (after the node exited)."""
        self._reader.join(timeout=timeout)

    def tail(self, count: int = 20) -> list[str]:
        """The last lines, for an error message."""
        with self.lock:
            return [line for _, line in self.lines[-count:]]


class SoakConsumer(Consumer):
    """bench_graph's consumer plus ``~/reset`` and every status (frames_dropped, timing)."""

    def __init__(self) -> None:
        from std_srvs.srv import Trigger

        super().__init__(debug_image=False, namespace=NAMESPACE)
        self.statuses: list[tuple[int, int, int, int, float]] = []
        self.Trigger = Trigger
        self.reset_client = self.node.create_client(Trigger, "rtmdnet_tracker/reset")

    def _on_status(self, msg: Any) -> None:
        from rtmdnet_ros.ros_io.stamps import stamp_to_ns

        super()._on_status(msg)
        with self.lock:
            self.statuses.append((stamp_to_ns(msg.header.stamp), time.time_ns(), int(msg.state),
                                  int(msg.frames_dropped), float(msg.processing_ms)))


# ---------------------------------------------------------------------- report
@dataclass
class Minute:
    """The figures of one minute of the soak (frames by their stamp)."""

    minute: int
    published: int = 0
    answered: int = 0
    answered_pct: float = math.nan
    tracking_published: int = 0
    tracking_answered_pct: float = math.nan
    latency_ms_p50: float = math.nan
    latency_ms_p95: float = math.nan
    latency_ms_max: float = math.nan
    processing_ms_p95: float = math.nan
    node_cpu_pct: float = math.nan
    rss_mb_end: float = math.nan
    load_1min_end: float = math.nan
    inits: int = 0
    resets: int = 0


@dataclass
class Report:
    """Every figure the soak prints (and writes with --json)."""

    command: str
    sequence: str
    rate_hz: float
    minutes_requested: float
    init_every_s: float
    duration_s: float = 0.0
    interrupted: bool = False
    load_before: str = ""
    load_after: str = ""
    profile: str = ""
    # accounting
    frames_published: int = 0
    camera_rate_hz: float = math.nan
    frames_answered: int = 0
    frames_answered_twice: int = 0
    frames_unanswered: int = 0
    frames_dropped_reported: int = -1
    frames_unaccounted: int = 0
    answered_pct: float = math.nan
    latency_ms_p50: float = math.nan
    latency_ms_p95: float = math.nan
    latency_ms_max: float = math.nan
    tracking_answered_pct: float = math.nan
    tracking_latency_ms_p50: float = math.nan
    tracking_latency_ms_p95: float = math.nan
    # memory
    rss_mb_first: float = math.nan
    rss_mb_at_1min: float = math.nan
    rss_mb_end: float = math.nan
    rss_mb_peak_after_1min: float = math.nan
    rss_growth_mb: float = math.nan
    rss_growth_limit_mb: float = 50.0
    rss_slope_mb_per_min: float = math.nan
    node_cpu_pct: float = math.nan
    # process health
    node_alive_at_end: bool = False
    node_died_at_s: float | None = None
    node_exit_code: int | None = None
    camera_exit_code: int | None = None
    error_lines: list[str] = field(default_factory=list)
    warning_lines: int = 0
    warning_examples: list[str] = field(default_factory=list)
    camera_error_lines: list[str] = field(default_factory=list)
    # services
    inits: list[dict[str, Any]] = field(default_factory=list)
    resets: list[dict[str, Any]] = field(default_factory=list)
    init_answer_s_p50: float = math.nan
    init_answer_s_max: float = math.nan
    reset_answer_s_max: float = math.nan
    # verdict
    targets: dict[str, bool] = field(default_factory=dict)
    minutes: list[dict[str, Any]] = field(default_factory=list)
    rss_samples: list[list[float]] = field(default_factory=list)  # t s, RSS MB, node CPU s, load
    frames: list[list[int]] = field(default_factory=list)  # stamp ns, index, first answer ns|-1
    # every TrackerStatus: stamp ns, arrival ns, state, frames_dropped, processing_ms
    statuses: list[list[float]] = field(default_factory=list)


def load_gt(sequence: Path, max_frames: int) -> np.ndarray:
    """The ground truth in the camera's 640x480 frame (what ``prepare`` does, without pixels)."""
    from rtmdnet_ros.sequences import load_sequence

    seq = load_sequence(sequence)
    count = min(len(seq.frame_paths), max_frames) if max_frames > 0 else len(seq.frame_paths)
    first = cv2.imread(str(seq.frame_paths[0]), cv2.IMREAD_COLOR)
    if first is None:
        raise RuntimeError(f"unreadable frame {seq.frame_paths[0]}")
    scale, pad_x, pad_y = fit_transform(first.shape[1], first.shape[0], SIZE)
    gt = seq.groundtruth[:count].astype(np.float64) * scale
    gt[:, 0] += pad_x
    gt[:, 1] += pad_y
    return gt


def usable_box(box: np.ndarray) -> bool:
    """A ground-truth box ``~/init`` accepts: finite, positive size, inside the image."""
    x, y, w, h = (float(v) for v in box)
    return (all(math.isfinite(v) for v in (x, y, w, h)) and w > 1 and h > 1
            and x < SIZE[0] and y < SIZE[1] and x + w > 0 and y + h > 0)


def rss_mb(pid: int) -> float:
    """Resident set size of a process from /proc, MB (NaN once it is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return math.nan
    match = re.search(r"VmRSS:\s+(\d+) kB", text)
    return int(match.group(1)) / 1024.0 if match else math.nan


def load_1min() -> float:
    """The 1-minute load average."""
    return float(Path("/proc/loadavg").read_text().split()[0])


class Sampler:
    """RSS and CPU seconds of the node (and the load average) every few seconds, in a thread."""

    def __init__(self, pid: int, every: float, t0: float) -> None:
        self.pid, self.every, self.t0 = pid, every, t0
        self.samples: list[list[float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)
        self._thread.start()

    def sample(self) -> None:
        """Take one sample now."""
        self.samples.append([round(time.time() - self.t0, 2), round(rss_mb(self.pid), 2),
                             cpu_seconds(self.pid), load_1min()])

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.every)

    def close(self) -> None:
        """Stop sampling, with one last sample (once)."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout=5)
        self.sample()


# ---------------------------------------------------------------------- the soak
def call(client: Any, request: Any, timeout: float, node_proc: subprocess.Popen
         ) -> tuple[Any, float]:
    """Call a service, waiting at most ``timeout`` s; return (answer, seconds it took)."""
    started = time.monotonic()
    future = client.call_async(request)
    wait_for(future.done, timeout, f"{client.srv_name} did not answer within {timeout:g} s",
             {"node": node_proc})
    return future.result(), time.monotonic() - started


def do_init(consumer: SoakConsumer, camera: CameraProcess, gt: np.ndarray, t0: float,
            node_proc: subprocess.Popen) -> dict[str, Any]:
    """``~/init`` with the ground truth of the newest frame the node has answered."""
    from rtmdnet_ros.ros_io.messages import set_bbox

    record: dict[str, Any] = {"t_s": round(time.time() - t0, 2), "tries": 0}
    for _ in range(3):  # the chosen frame may just have left the node's cache
        with consumer.lock:
            answered = [d.stamp_ns for d in consumer.detections[-60:]]
        with camera.lock:
            choices = [(s, camera.index[s]) for s in reversed(answered) if s in camera.index]
        choices = [(s, i) for s, i in choices if i < len(gt) and usable_box(gt[i])]
        if not choices:
            record.update(success=False, message="no answered frame with a usable box")
            return record
        stamp, index = choices[0]
        request = consumer.InitTarget.Request()
        set_bbox(request.box, tuple(float(v) for v in gt[index]))
        request.stamp.sec, request.stamp.nanosec = divmod(stamp, 1_000_000_000)
        record["tries"] += 1
        record["call_wall"] = time.time()
        response, took = call(consumer.init_client, request, 120.0, node_proc)
        record.update(stamp_ns=stamp, frame=index, box=[round(float(v), 1) for v in gt[index]],
                      answer_s=round(took, 3), success=bool(response.success),
                      message=str(response.message), track_id=str(response.track_id))
        if response.success or "not in the frame cache" not in response.message:
            break
    return record


def do_reset(consumer: SoakConsumer, t0: float, node_proc: subprocess.Popen) -> dict[str, Any]:
    """``~/reset``, timed."""
    call_wall = time.time()
    response, took = call(consumer.reset_client, consumer.Trigger.Request(), 30.0, node_proc)
    return {"t_s": round(call_wall - t0, 2), "call_wall": call_wall, "answer_s": round(took, 3),
            "success": bool(response.success), "message": str(response.message)}


def run_soak(args: argparse.Namespace, command: str) -> Report:
    """Start the processes, soak, stop everything, compute the figures."""
    from rtmdnet_ros.node import process
    from rtmdnet_ros.node.transport import active_profile, profile_environment
    from rtmdnet_ros.ros_io.cli import init_ros

    sequence_dir = Path(args.sequence_dir)
    gt = load_gt(sequence_dir, args.frames)
    report = Report(command=command, sequence=sequence_dir.name, rate_hz=args.rate,
                    minutes_requested=args.minutes, init_every_s=args.init_every,
                    rss_growth_limit_mb=args.max_rss_growth_mb,
                    load_before=" ".join(Path("/proc/loadavg").read_text().split()[:3]))
    env = dict(os.environ)
    # A domain of its own: other graphs on this machine (tests, other benches) stay apart.
    env.setdefault("ROS_DOMAIN_ID", str(random.randint(1, 100)))
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    env.update(RCUTILS_COLORIZED_OUTPUT="0", PYTHONUNBUFFERED="1",
               RCUTILS_LOGGING_BUFFERED_STREAM="0")
    if not args.no_profile:
        env = profile_environment(env)
    os.environ.update(env)
    report.profile = active_profile(env) or "none"
    if init_ros("bench_soak", []) is not None:
        raise RuntimeError("rclpy.init failed")
    params: dict[str, Any] = {"seed": args.seed, "device": args.device}
    for item in args.node_param or []:
        key, _, value = item.partition(":=")
        params[key] = value
    node_proc = process.start(process.tracker_command(NAMESPACE, params), env=env,
                              with_profile=False, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
    node_log = NodeLog(node_proc, args.node_log)
    consumer: SoakConsumer | None = None
    camera: CameraProcess | None = None
    sampler: Sampler | None = None
    t0 = time.time()
    end_wall = t0
    try:
        consumer = SoakConsumer()
        wait_for(lambda: consumer.init_client.service_is_ready()
                 and consumer.reset_client.service_is_ready(), 120.0,
                 "the tracker node's services did not come up within 120 s", {"node": node_proc})
        camera = CameraProcess(
            [sys.executable, str(Path(__file__).resolve()), "--role", "camera",
             "--sequence-dir", str(sequence_dir), "--frames", str(args.frames),
             "--rate", str(args.rate), "--timeout", str(args.timeout)], env)
        procs = {"node": node_proc, "camera": camera.proc}
        try:
            wait_for(camera.ready.is_set, args.timeout + 60.0,
                     "the camera did not start publishing", procs)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; camera log: {camera.log[-8:]}") from None
        t0 = time.time()
        sampler = Sampler(node_proc.pid, args.sample_every, t0)

        def answered_any() -> bool:
            with consumer.lock:
                return bool(consumer.detections)

        wait_for(answered_any, 60.0, "no frame was answered within 60 s", procs)
        end_wall = t0 + args.minutes * 60.0
        next_init = time.time() - t0
        next_reset = math.inf
        try:
            while time.time() < end_wall:
                if node_proc.poll() is not None:
                    report.node_died_at_s = round(time.time() - t0, 1)
                    break
                if camera.proc.poll() is not None:
                    raise RuntimeError(f"the camera exited early (code {camera.proc.returncode})"
                                       f": {camera.log[-5:]}")
                now = time.time() - t0
                if now >= next_init:
                    report.inits.append(do_init(consumer, camera, gt, t0, node_proc))
                    next_reset = next_init + args.init_every / 2.0
                    next_init += args.init_every
                elif now >= next_reset:
                    report.resets.append(do_reset(consumer, t0, node_proc))
                    next_reset = math.inf
                else:
                    time.sleep(0.05)
        except KeyboardInterrupt:
            report.interrupted = True
        except RuntimeError:
            if node_proc.poll() is None:
                raise
            report.node_died_at_s = round(time.time() - t0, 1)
        end_wall = time.time()
        report.camera_exit_code = camera.stop()
        # The last frame published is never replaced, so the node answers it: wait for that.
        last_stamp = camera.published[-1][0] if camera.published else 0

        def last_answered() -> bool:
            with consumer.lock:
                return any(d.stamp_ns == last_stamp for d in consumer.detections[-10:])

        deadline = time.monotonic() + 15.0
        while (node_proc.poll() is None and not last_answered()
               and time.monotonic() < deadline):
            time.sleep(0.05)
        time.sleep(0.5)  # the status of that frame
        sampler.close()
        report.node_alive_at_end = node_proc.poll() is None
        if not report.node_alive_at_end and report.node_died_at_s is None:
            report.node_died_at_s = round(time.time() - t0, 1)
    except RuntimeError as exc:
        raise RuntimeError(f"{exc}\nlast lines of the node's log:\n"
                           + "\n".join(node_log.tail())) from None
    finally:
        if sampler is not None:
            sampler.close()
        if consumer is not None:
            consumer.close()
        if camera is not None and camera.proc.poll() is None:
            camera.stop()
        report.node_exit_code = process.stop(node_proc)
        node_log.join()
        if args.node_log:
            print(f"node log: {args.node_log}")
    report.duration_s = round(end_wall - t0, 1)
    report.load_after = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    fill_figures(report, consumer, camera, sampler, node_log, t0)
    return report


def pct(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else math.nan


def percentiles(values: list[float]) -> tuple[float, float, float]:
    """p50, p95, max (NaN for none)."""
    if not values:
        return math.nan, math.nan, math.nan
    arr = np.asarray(values)
    return (round(float(np.percentile(arr, 50)), 1), round(float(np.percentile(arr, 95)), 1),
            round(float(arr.max()), 1))


def fill_figures(report: Report, consumer: SoakConsumer, camera: CameraProcess,
                 sampler: Sampler, node_log: NodeLog, t0: float) -> None:
    """Accounting, latency, memory, log health and the per-minute rows."""
    with consumer.lock:
        detections = list(consumer.detections)
        statuses = list(consumer.statuses)
    with camera.lock:
        published = list(camera.published)
        camera_log = list(camera.log)
    first_answer: dict[int, int] = {}
    answers_per_stamp: dict[int, int] = {}
    for d in detections:
        answers_per_stamp[d.stamp_ns] = answers_per_stamp.get(d.stamp_ns, 0) + 1
        first_answer.setdefault(d.stamp_ns, d.arrival_ns)
    stamps = [s for s, _ in published]
    report.frames_published = len(stamps)
    if len(stamps) > 1:
        report.camera_rate_hz = round((len(stamps) - 1) / ((stamps[-1] - stamps[0]) / 1e9), 2)
    answered = [s for s in stamps if s in first_answer]
    report.frames_answered = len(answered)
    report.frames_answered_twice = sum(answers_per_stamp[s] > 1 for s in answered)
    report.frames_unanswered = len(stamps) - len(answered)
    report.frames_dropped_reported = max((st[3] for st in statuses), default=-1)
    report.frames_unaccounted = report.frames_unanswered - max(report.frames_dropped_reported, 0)
    report.answered_pct = pct(len(answered), len(stamps))
    latency = {s: (first_answer[s] - s) / 1e6 for s in answered}
    report.latency_ms_p50, report.latency_ms_p95, report.latency_ms_max = percentiles(
        list(latency.values()))

    # A frame belongs to a track from the init call to the next reset call.
    resets = [r["call_wall"] for r in report.resets]
    spans = []
    for init in report.inits:
        if "call_wall" not in init:
            continue
        start = init["call_wall"]
        stop = min([r for r in resets if r > start], default=math.inf)
        spans.append((start, stop))

    def tracking(stamp: int) -> bool:
        t = stamp / 1e9
        return any(a <= t < b for a, b in spans)

    # Frames that arrived while an init trained: the node answers a few of them afterwards
    # (its catch-up) and counts the others as dropped; shown because they test the accounting.
    for init in report.inits:
        if "call_wall" in init and "answer_s" in init:
            lo, hi = init["call_wall"] * 1e9, (init["call_wall"] + init["answer_s"]) * 1e9
            during = [s for s in stamps if lo <= s <= hi]
            init["frames_during"] = len(during)
            init["answered_during"] = sum(s in first_answer for s in during)

    tracked = [s for s in stamps if tracking(s)]
    tracked_answered = [s for s in tracked if s in first_answer]
    report.tracking_answered_pct = pct(len(tracked_answered), len(tracked))
    report.tracking_latency_ms_p50, report.tracking_latency_ms_p95, _ = percentiles(
        [latency[s] for s in tracked_answered])

    samples = sampler.samples
    report.rss_samples = samples
    if samples:
        report.rss_mb_first = samples[0][1]
        report.rss_mb_end = samples[-1][1]
        after = [s for s in samples if s[0] >= 60.0 and math.isfinite(s[1])]
        if after and report.duration_s > 60.0:
            report.rss_mb_at_1min = after[0][1]
            report.rss_mb_peak_after_1min = max(s[1] for s in after)
            report.rss_growth_mb = round(report.rss_mb_peak_after_1min - report.rss_mb_at_1min,
                                         1)
            if len(after) >= 3:
                slope = np.polyfit([s[0] / 60.0 for s in after], [s[1] for s in after], 1)[0]
                report.rss_slope_mb_per_min = round(float(slope), 2)
        cpu = [(s[0], s[2]) for s in samples if math.isfinite(s[2])]
        if len(cpu) >= 2 and cpu[-1][0] > cpu[0][0]:
            report.node_cpu_pct = round(100.0 * (cpu[-1][1] - cpu[0][1])
                                        / (cpu[-1][0] - cpu[0][0]), 1)

    with node_log.lock:
        lines = [line for _, line in node_log.lines]
    report.error_lines = [line for line in lines if ERROR_LINE.search(line)]
    warnings = [line for line in lines if WARNING_LINE.search(line)]
    report.warning_lines = len(warnings)
    report.warning_examples = warnings[:5]
    report.camera_error_lines = [line for line in camera_log if ERROR_LINE.search(line)]

    init_times = [i["answer_s"] for i in report.inits if "answer_s" in i]
    if init_times:
        report.init_answer_s_p50 = round(float(np.median(init_times)), 3)
        report.init_answer_s_max = round(max(init_times), 3)
    if report.resets:
        report.reset_answer_s_max = round(max(r["answer_s"] for r in report.resets), 3)

    status_ms: dict[int, float] = {}
    for stamp, _, _, _, ms in statuses:
        status_ms.setdefault(stamp, ms)
    count = max(1, math.ceil(report.duration_s / 60.0 - 1e-9))
    for m in range(count):
        lo, hi = t0 + 60.0 * m, t0 + 60.0 * (m + 1)
        row = Minute(minute=m + 1)
        window = [s for s in stamps if lo <= s / 1e9 < hi]
        got = [s for s in window if s in first_answer]
        row.published, row.answered = len(window), len(got)
        row.answered_pct = pct(len(got), len(window))
        tr = [s for s in window if tracking(s)]
        row.tracking_published = len(tr)
        row.tracking_answered_pct = pct(sum(s in first_answer for s in tr), len(tr))
        row.latency_ms_p50, row.latency_ms_p95, row.latency_ms_max = percentiles(
            [latency[s] for s in got])
        _, row.processing_ms_p95, _ = percentiles([status_ms[s] for s in window
                                                   if s in status_ms])
        inside = [s for s in samples if 60.0 * m <= s[0] <= 60.0 * (m + 1)]
        if len(inside) >= 2 and inside[-1][0] > inside[0][0]:
            row.node_cpu_pct = round(100.0 * (inside[-1][2] - inside[0][2])
                                     / (inside[-1][0] - inside[0][0]), 1)
        if inside:
            row.rss_mb_end, row.load_1min_end = inside[-1][1], inside[-1][3]
        row.inits = sum(lo - t0 <= i["t_s"] < hi - t0 for i in report.inits)
        row.resets = sum(lo - t0 <= r["t_s"] < hi - t0 for r in report.resets)
        report.minutes.append(asdict(row))
    report.frames = [[s, i, first_answer.get(s, -1)] for s, i in published]
    report.statuses = [list(st) for st in statuses]

    report.targets = {
        "node alive at the end": report.node_alive_at_end,
        "node exit 0 on SIGINT": report.node_exit_code == 0,
        "no error line in the node's log": not report.error_lines,
        "every frame accounted for": report.frames_unaccounted == 0,
        f"RSS growth after minute 1 <= {report.rss_growth_limit_mb:g} MB": (
            math.isfinite(report.rss_growth_mb)
            and report.rss_growth_mb <= report.rss_growth_limit_mb),
        "every init and reset answered success": (
            bool(report.inits) and all(i.get("success") for i in report.inits)
            and all(r["success"] for r in report.resets)),
    }


def fmt(value: float, digits: int = 1) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def print_report(report: Report) -> None:
    """A Markdown table per minute, then the totals and the verdict (the docs quote these)."""
    out = [f"command: `{report.command}`",
           f"sequence {report.sequence} looped at 640x480, camera {report.rate_hz:g} Hz "
           f"(measured {fmt(report.camera_rate_hz, 2)} Hz); DDS profile {report.profile}; "
           f"load before {report.load_before}, after {report.load_after}; "
           f"{report.duration_s:g} s{' (interrupted)' if report.interrupted else ''}",
           "",
           "| min | published | answered | tracking: answered | latency p50 / p95 / max ms "
           "| processing p95 ms | node CPU % | RSS MB | load | inits / resets |",
           "|---:|---:|---:|---:|---|---:|---:|---:|---:|---|"]
    for row in report.minutes:
        out.append(
            f"| {row['minute']} | {row['published']} | {row['answered']} "
            f"({fmt(row['answered_pct'])} %) | {fmt(row['tracking_answered_pct'])} % of "
            f"{row['tracking_published']} | {fmt(row['latency_ms_p50'])} / "
            f"{fmt(row['latency_ms_p95'])} / {fmt(row['latency_ms_max'])} | "
            f"{fmt(row['processing_ms_p95'])} | {fmt(row['node_cpu_pct'], 0)} | "
            f"{fmt(row['rss_mb_end'])} | {fmt(row['load_1min_end'], 2)} | "
            f"{row['inits']} / {row['resets']} |")
    inits_ok = sum(bool(i.get("success")) for i in report.inits)
    out += [
        "",
        f"frames published     : {report.frames_published}; answered {report.frames_answered} "
        f"({fmt(report.answered_pct)} %; {report.frames_answered_twice} of them twice: init "
        f"frames and catch-up); while tracking {fmt(report.tracking_answered_pct)} %",
        f"frame accounting     : {report.frames_unanswered} unanswered, node reports "
        f"{report.frames_dropped_reported} dropped (TrackerStatus.frames_dropped) -> "
        f"{report.frames_unaccounted:+d} unaccounted"
        + ("" if report.frames_unaccounted == 0 else
           " (positive: frames neither answered nor counted; negative: counted as dropped "
           "and answered)"),
        f"latency stamp->det.  : p50 {fmt(report.latency_ms_p50)} / p95 "
        f"{fmt(report.latency_ms_p95)} / max {fmt(report.latency_ms_max)} ms; while tracking "
        f"p50 {fmt(report.tracking_latency_ms_p50)} / p95 {fmt(report.tracking_latency_ms_p95)}",
        f"node RSS             : {fmt(report.rss_mb_first)} MB at start, "
        f"{fmt(report.rss_mb_at_1min)} at 1 min, peak after {fmt(report.rss_mb_peak_after_1min)}"
        f", {fmt(report.rss_mb_end)} at the end: growth {fmt(report.rss_growth_mb)} MB "
        f"(slope {fmt(report.rss_slope_mb_per_min, 2)} MB/min); node CPU "
        f"{fmt(report.node_cpu_pct, 0)} % of one core",
        f"services             : {inits_ok} of {len(report.inits)} inits succeeded (answer "
        f"p50 {fmt(report.init_answer_s_p50, 3)} s, max {fmt(report.init_answer_s_max, 3)} s), "
        f"{len(report.resets)} resets (max {fmt(report.reset_answer_s_max, 3)} s); frames "
        f"arriving during the inits: {sum(i.get('frames_during', 0) for i in report.inits)}, "
        f"{sum(i.get('answered_during', 0) for i in report.inits)} of them answered afterwards",
        f"node                 : alive at the end: {'yes' if report.node_alive_at_end else 'NO'}"
        + (f" (died at {report.node_died_at_s} s)" if report.node_died_at_s is not None else "")
        + f"; exit code on SIGINT {report.node_exit_code}; camera exit {report.camera_exit_code}",
        f"node log             : {len(report.error_lines)} error line(s), "
        f"{report.warning_lines} warning(s)",
    ]
    out += [f"  error: {line}" for line in report.error_lines[:10]]
    out += [f"  warning: {line}" for line in report.warning_examples[:3]]
    out += [f"  camera error: {line}" for line in report.camera_error_lines[:5]]
    out += [f"  init refused: {i.get('message')}" for i in report.inits if not i.get("success")]
    out.append("")
    out += [f"target {'met   ' if ok else 'MISSED'}: {name}"
            for name, ok in report.targets.items()]
    print("\n".join(out), flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command line (``--role camera`` is the internal camera process)."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Exit 0 when every target is met, 1 when one is missed or the soak could not "
               "run, 2 for a bad command line.")
    parser.add_argument("--minutes", type=float, default=10.0, help="soak length (default 10)")
    parser.add_argument("--init-every", type=float, default=60.0,
                        help="seconds between two ~/init calls; ~/reset halfway (default 60)")
    parser.add_argument("--sequence", default="boat1",
                        help="sequence name in the shared data (default boat1)")
    parser.add_argument("--sequence-dir", default="", help="a sequence folder (overrides)")
    parser.add_argument("--frames", type=int, default=0,
                        help="loop only the first N frames (0 = all)")
    parser.add_argument("--rate", type=float, default=30.0, help="camera rate, Hz (default 30)")
    parser.add_argument("--sample-every", type=float, default=5.0,
                        help="seconds between RSS/CPU samples of the node (default 5)")
    parser.add_argument("--max-rss-growth-mb", type=float, default=50.0,
                        help="RSS growth after the first minute that fails the soak (default 50)")
    parser.add_argument("--no-profile", action="store_true",
                        help="do not set the shipped Fast DDS profile (Fast DDS defaults)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--node-param", action="append", metavar="NAME:=VALUE",
                        help="another node parameter (repeatable)")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds to wait for the graph to come up")
    parser.add_argument("--json", default="", help="write every figure and record here")
    parser.add_argument("--node-log", default="", help="write the node's log here as well")
    parser.add_argument("--role", default="bench", choices=("bench", "camera"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.sequence_dir:
        from rtmdnet_ros.sequences import default_data_root

        args.sequence_dir = str(default_data_root() / "sequences" / args.sequence)
    for name in ("minutes", "init_every", "rate", "sample_every"):
        if not getattr(args, name) > 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the soak (or, with ``--role camera``, be the camera process)."""
    args = parse_args(argv)
    if args.role == "camera":
        return run_camera(args)
    if not Path(args.sequence_dir).is_dir():
        print(f"bench_soak: sequence folder not found: {args.sequence_dir} (set RTMDNET_DATA "
              "or --sequence-dir)", file=sys.stderr)
        return 1
    command = shlex.join([Path(sys.executable).name, *sys.argv]) if argv is None else \
        shlex.join(["bench_soak.py", *argv])
    try:
        report = run_soak(args, command)
    except RuntimeError as exc:
        print(f"bench_soak: {exc}", file=sys.stderr)
        return 1
    if args.json:  # first: a long run's records survive a failing print
        Path(args.json).write_text(json.dumps(asdict(report), indent=1))
    print_report(report)
    if args.json:
        print(f"figures: {args.json}")
    return 0 if all(report.targets.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
