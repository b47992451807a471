# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""rtmdnet-bag on real rosbag2 files written with rosbags from a shared sequence.

Short on purpose (a handful of frames, a cheap tracker configuration): what is checked is the
bag path (every frame, stamps, read-back, exact equality with the Tracker run directly, bad
input), not tracking quality.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from data_paths import REPO_ROOT, sequence_dir

pytest.importorskip("rosbags")

from rosbags.rosbag2 import Reader  # noqa: E402

from rtmdnet_ros.bag import cli  # noqa: E402
from rtmdnet_ros.bag import types as bagtypes  # noqa: E402
from rtmdnet_ros.bag.reading import decode  # noqa: E402
from rtmdnet_ros.bag.sequence_bag import (  # noqa: E402
    compressed_message,
    image_message,
    read_sequence_frames,
    write_frames_bag,
)
from rtmdnet_ros.sequences import parse_groundtruth  # noqa: E402

N_FRAMES = 6
TOPIC = "/camera/image_raw"
START_NS = 1_700_000_000_000_000_000
PERIOD_NS = 33_333_333
# Cheap and deterministic: the bag path is under test, not the tracker's accuracy.
FAST = {
    "init_iterations": 4, "n_pos_init": 100, "n_neg_init": 300, "n_bbreg": 100,
    "n_candidates": 64, "box_refiner": "none", "update_iterations": 1, "mode": "reference",
}
SET_ARGS = [arg for key, value in FAST.items() for arg in ("--set", f"{key}={value}")]


@pytest.fixture(scope="module")
def sequence() -> tuple[list[np.ndarray], tuple[float, float, float, float]]:
    folder = sequence_dir("bag")
    frames = read_sequence_frames(folder, N_FRAMES)
    first = parse_groundtruth((folder / "groundtruth_rect.txt").read_text())[0]
    box = tuple(round(float(v)) for v in first)
    return frames, box


@pytest.fixture(scope="module")
def bags(tmp_path_factory, sequence) -> dict[str, Path]:
    frames, _ = sequence
    root = tmp_path_factory.mktemp("bags")
    out = {}
    for name, storage, compressed in (("raw_mcap", "mcap", False),
                                      ("raw_sqlite3", "sqlite3", False),
                                      ("jpeg_mcap", "mcap", True),
                                      ("jpeg_sqlite3", "sqlite3", True)):
        topic = TOPIC + "/compressed" if compressed else TOPIC
        write_frames_bag(root / name, frames, topic=topic, storage=storage, compressed=compressed,
                         start_ns=START_NS, period_ns=PERIOD_NS)
        out[name] = root / name
    return out


def reference_boxes(frames_rgb: list[np.ndarray], box) -> list[np.ndarray]:
    """The tracker run directly: init on frame 0, update on the rest (same seed, options)."""
    from rtmdnet_ros.tracker import Tracker

    tracker = Tracker(device="cpu", seed=0, overrides={"update_mode": "sync", **FAST})
    try:
        tracker.init(frames_rgb[0], box)
        out = [np.asarray(box, dtype=np.float64)]
        out += [np.asarray(tracker.update(f).box_xywh, dtype=np.float64) for f in frames_rgb[1:]]
    finally:
        tracker.close()
    return out


def read_topic(path: Path, topic: str, msgtype: str) -> list[tuple[int, object]]:
    store = bagtypes.output_typestore()
    with Reader(path) as reader:
        conns = [c for c in reader.connections if c.topic == topic]
        assert conns and conns[0].msgtype == msgtype
        return [(t, store.deserialize_cdr(raw, msgtype))
                for _, t, raw in reader.messages(connections=conns)]


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    code = cli.main([*args, "--no-progress", "--device", "cpu", *SET_ARGS])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def stamp_of(header) -> int:
    return header.stamp.sec * 1_000_000_000 + header.stamp.nanosec


@pytest.mark.parametrize("variant", ["raw_mcap", "jpeg_sqlite3"])
def test_every_frame_tracked_and_equal_to_the_tracker(variant, bags, sequence, tmp_path, capsys):
    frames, box = sequence
    compressed = variant.startswith("jpeg")
    topic = TOPIC + "/compressed" if compressed else TOPIC
    out_bag, out_csv, out_json = tmp_path / "out", tmp_path / "t.csv", tmp_path / "t.json"
    code, out, err = run_cli([str(bags[variant]), "--topic", topic, "--box",
                              ",".join(map(str, box)), "--out-bag", str(out_bag), "--csv",
                              str(out_csv), "--json", str(out_json), "--video",
                              str(tmp_path / "t.mp4")], capsys)
    assert code == 0, err
    assert f"frames: {N_FRAMES} read, {N_FRAMES} tracked through, 0 skipped" in out

    if compressed:  # the same pixels the tool decodes: the JPEG written into the bag
        rgb = [cv2.cvtColor(cv2.imdecode(cv2.imencode(".jpg", f)[1], cv2.IMREAD_COLOR),
                            cv2.COLOR_BGR2RGB) for f in frames]
    else:
        rgb = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in frames]
    expected = reference_boxes(rgb, box)

    with out_csv.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == N_FRAMES
    for i, row in enumerate(rows):
        assert int(row["stamp_ns"]) == START_NS + i * PERIOD_NS
        got = np.array([float(row[k]) for k in "xywh"])
        assert np.array_equal(got, expected[i]), (i, got, expected[i])  # exactly
    doc = json.loads(out_json.read_text())
    assert len(doc["frames"]) == N_FRAMES and doc["summary"]["processed"] == N_FRAMES

    # The output bag reads back: input copied, one detection array and status per frame.
    images = read_topic(out_bag, topic, bagtypes.COMPRESSED if compressed else bagtypes.IMAGE)
    dets = read_topic(out_bag, "/rtmdnet_tracker/detections", bagtypes.DETECTIONS)
    status = read_topic(out_bag, "/rtmdnet_tracker/status", bagtypes.STATUS)
    assert len(images) == len(dets) == len(status) == N_FRAMES
    for i, ((t_img, _), (t_det, arr), (_, st)) in enumerate(zip(images, dets, status,
                                                                 strict=True)):
        assert t_det == t_img
        assert stamp_of(arr.header) == START_NS + i * PERIOD_NS == stamp_of(st.header)
        assert arr.header.frame_id == "camera"
        assert st.state in (1, 2) and st.track_id == "1"
        if st.state == 1:
            (det,) = arr.detections
            assert stamp_of(det.header) == stamp_of(arr.header)
            x, y, w, h = expected[i]
            assert det.bbox.center.position.x == x + 0.5 * w
            assert det.bbox.center.position.y == y + 0.5 * h
            assert (det.bbox.size_x, det.bbox.size_y) == (w, h)
        else:
            assert arr.detections == []
    assert (tmp_path / "t.mp4").stat().st_size > 0


@pytest.mark.parametrize("variant", ["raw_sqlite3", "jpeg_mcap"])
def test_other_storages_answer_every_frame(variant, bags, sequence, tmp_path, capsys):
    _, box = sequence
    topic = TOPIC + "/compressed" if variant.startswith("jpeg") else TOPIC
    out_bag = tmp_path / "out"
    code, _, err = run_cli([str(bags[variant]), "--topic", topic, "--box",
                            ",".join(map(str, box)), "--max-frames", "3", "--out-bag",
                            str(out_bag), "--out-storage", "sqlite3", "--no-copy"], capsys)
    assert code == 0, err
    assert (out_bag / "out.db3").is_file()
    dets = read_topic(out_bag, "/rtmdnet_tracker/detections", bagtypes.DETECTIONS)
    assert [stamp_of(a.header) for _, a in dets] == [START_NS + i * PERIOD_NS for i in range(3)]
    with Reader(out_bag) as reader:
        assert {c.topic for c in reader.connections} == {"/rtmdnet_tracker/detections",
                                                         "/rtmdnet_tracker/status"}
    assert_humble_readable(out_bag)


def assert_humble_readable(bag: Path) -> None:
    """The shape Humble's rosbag2 (yaml-cpp) parses: metadata version 8, and every topic's
    offered_qos_profiles a *string* holding a non-empty YAML list of *numbered* policies, in
    metadata.yaml and (SQLite3) in the topics table. Version 9's list of named policies gives
    Humble's `ros2 bag info` "bad conversion"; an empty string breaks its `ros2 bag play`."""
    import sqlite3

    info = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert info["version"] == 8
    profiles = [t["topic_metadata"]["offered_qos_profiles"]
                for t in info["topics_with_message_count"]]
    for db in bag.glob("*.db3"):
        with sqlite3.connect(db) as con:
            profiles += [row[0] for row in con.execute("SELECT offered_qos_profiles FROM topics")]
    assert profiles
    for text in profiles:
        assert isinstance(text, str), text
        parsed = yaml.safe_load(text)
        assert isinstance(parsed, list) and parsed, text
        for policy in ("history", "reliability", "durability", "liveliness"):
            assert all(isinstance(p[policy], int) for p in parsed), text


def test_bag_version_9_on_request(bags, sequence, tmp_path, capsys):
    _, box = sequence
    out_bag = tmp_path / "v9"
    code, _, err = run_cli([str(bags["raw_mcap"]), "--topic", TOPIC, "--box",
                            ",".join(map(str, box)), "--max-frames", "2", "--out-bag",
                            str(out_bag), "--bag-version", "9"], capsys)
    assert code == 0, err
    info = yaml.safe_load((out_bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert info["version"] == 9
    assert len(read_topic(out_bag, "/rtmdnet_tracker/detections", bagtypes.DETECTIONS)) == 2
    with pytest.raises(SystemExit) as refused:
        cli.main([str(bags["raw_mcap"]), "--topic", TOPIC, "--bag-version", "10"])
    assert refused.value.code == 2


@pytest.mark.parametrize("encoding,big_endian,padding", [
    ("bgr8", False, 0), ("rgb8", False, 0), ("bgra8", False, 0), ("mono8", False, 0),
    ("mono16", False, 0), ("mono16", True, 0), ("rgb8", False, 5), ("png", False, 0),
])
def test_image_encodings_decode_through_the_node_conversion(encoding, big_endian, padding,
                                                            sequence):
    from rosbags.interfaces import Connection, ConnectionExtRosbag2, MessageDefinition
    from rosbags.interfaces import MessageDefinitionFormat as Fmt

    bgr = cv2.resize(sequence[0][0], (64, 48))
    store = bagtypes.output_typestore()
    if encoding == "png":
        msgtype, msg = bagtypes.COMPRESSED, compressed_message(store, bgr, 5, fmt="png")
    else:
        msgtype = bagtypes.IMAGE
        msg = image_message(store, bgr, 5, encoding, big_endian=big_endian, padding=padding)
    raw = store.serialize_cdr(msg, msgtype)
    conn = Connection(1, "/x", msgtype, MessageDefinition(Fmt.NONE, ""), "", 0,
                      ConnectionExtRosbag2("cdr", []), None)
    _, rgb = decode(store, conn, raw)
    if encoding.startswith("mono"):
        want = cv2.cvtColor(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2RGB)
    else:
        want = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    assert rgb.shape == want.shape and np.array_equal(rgb, want)


def detection_array(store, stamp_ns: int, boxes: list[tuple[str, tuple[float, ...]]]):
    from rtmdnet_ros.ros_io.messages import build_detections

    types = bagtypes.message_types(store)
    header = bagtypes.copy_header(store, image_message(store, np.zeros((2, 2, 3), np.uint8),
                                                      stamp_ns).header)
    array = build_detections(header, None, 0.0, "", "", types=types)
    for class_id, box in boxes:
        array.detections += build_detections(header, box, 0.9, class_id, "",
                                             types=types).detections
    return array


def test_init_from_detections_class_id_and_reinit_when_lost(sequence, tmp_path, capsys):
    frames, box = sequence
    store = bagtypes.output_typestore()
    det_topic = "/detector/detections"
    moved = (box[0] + 4, box[1] + 2, box[2], box[3])
    extra = [
        (det_topic, bagtypes.DETECTIONS, START_NS + PERIOD_NS,
         detection_array(store, START_NS + PERIOD_NS, [("car", (5.0, 5.0, 20.0, 20.0))])),
        (det_topic, bagtypes.DETECTIONS, START_NS + 2 * PERIOD_NS,
         detection_array(store, START_NS + 2 * PERIOD_NS, [("person", box),
                                                           ("car", (5.0, 5.0, 20.0, 20.0))])),
        (det_topic, bagtypes.DETECTIONS, START_NS + 4 * PERIOD_NS,
         detection_array(store, START_NS + 4 * PERIOD_NS, [("person", moved)])),
    ]
    path = tmp_path / "with_dets"
    write_frames_bag(path, frames[:5], topic=TOPIC, extra=extra, start_ns=START_NS,
                     period_ns=PERIOD_NS)
    out_csv = tmp_path / "t.csv"
    # Threshold 1.0: no frame after an init passes, so the track is LOST and --reinit acts.
    code, out, err = run_cli([str(path), "--topic", TOPIC, "--detections-topic", det_topic,
                              "--class-id", "person", "--reinit", "--lost-score-threshold",
                              "1.0", "--csv", str(out_csv)], capsys)
    assert code == 0, err
    rows = list(csv.DictReader(out_csv.open()))
    assert [r["state"] for r in rows] == ["IDLE", "IDLE", "TRACKING", "LOST", "TRACKING"]
    assert [r["track_id"] for r in rows] == ["", "", "1", "1", "2"]
    assert [float(rows[2][k]) for k in "xywh"] == list(map(float, box))
    assert [float(rows[4][k]) for k in "xywh"] == list(map(float, moved))
    assert "2 initialisation(s)" in out

    # Without --reinit the LOST track stays; another class id finds its own first box.
    code, out, err = run_cli([str(path), "--topic", TOPIC, "--detections-topic", det_topic,
                              "--class-id", "car", "--max-frames", "3", "--csv", str(out_csv),
                              "--overwrite"], capsys)
    assert code == 0, err
    rows = list(csv.DictReader(out_csv.open()))
    assert [r["state"] for r in rows][:2] == ["IDLE", "TRACKING"]
    assert [float(rows[1][k]) for k in "xywh"] == [5.0, 5.0, 20.0, 20.0]


def test_start_time_and_undecodable_frames(sequence, tmp_path, capsys, caplog):
    frames, box = sequence
    store = bagtypes.output_typestore()
    path = tmp_path / "mixed"
    from rosbags.rosbag2 import Writer

    from rtmdnet_ros.bag.outputs import STORAGES

    with Writer(path, version=9, storage_plugin=STORAGES["mcap"]) as writer:
        conn = writer.add_connection(TOPIC + "/compressed", bagtypes.COMPRESSED, typestore=store)
        for i in range(5):
            stamp = START_NS + i * PERIOD_NS
            msg = compressed_message(store, frames[i], stamp)
            if i == 3:  # a truncated JPEG: counted and skipped, never fatal
                msg.data = msg.data[: len(msg.data) // 8].copy()
            writer.write(conn, stamp, store.serialize_cdr(msg, bagtypes.COMPRESSED))
    out_csv = tmp_path / "t.csv"
    code, out, err = run_cli([str(path), "--topic", TOPIC + "/compressed", "--box",
                              ",".join(map(str, box)), "--start", "0.05", "--csv",
                              str(out_csv)], capsys)
    assert code == 0, err
    assert "frames: 5 read, 4 tracked through, 1 skipped" in out
    rows = list(csv.DictReader(out_csv.open()))
    assert [r["state"] for r in rows][:3] == ["IDLE", "IDLE", "TRACKING"]
    assert rows[3]["state"] == "SKIPPED" and "corrupt compressed image" in rows[3]["note"]
    assert "corrupt compressed image" in caplog.text  # logged as a warning, not raised


def test_bad_input_is_one_line_and_exit_1(bags, tmp_path, capsys):
    raw = str(bags["raw_mcap"])
    junk = tmp_path / "junk.mcap"
    junk.write_bytes(b"\x89MCAP0\r\n" + bytes(range(256)) * 4)
    junk_db = tmp_path / "junk.db3"
    junk_db.write_bytes(bytes(range(256)) * 8)
    trunc = tmp_path / "trunc"
    trunc.mkdir()
    src = bags["raw_mcap"]
    (trunc / "metadata.yaml").write_text((src / "metadata.yaml").read_text()
                                         .replace("raw_mcap.mcap", "trunc.mcap"))
    data = (src / "raw_mcap.mcap").read_bytes()
    (trunc / "trunc.mcap").write_bytes(data[: len(data) // 2])
    existing = tmp_path / "exists.csv"
    existing.write_text("keep me")
    a_folder = tmp_path / "folder"
    a_folder.mkdir()
    cases = [
        ([str(tmp_path / "missing"), "--topic", TOPIC, "--box", "1,1,5,5"],
         "no such file or folder"),
        ([str(junk), "--topic", TOPIC, "--box", "1,1,5,5"], "cannot be read"),
        ([str(junk_db), "--topic", TOPIC, "--box", "1,1,5,5"], "cannot be read"),
        ([str(trunc), "--topic", TOPIC, "--box", "1,1,5,5"], "cannot be read"),
        # A folder that is no bag is called a folder (rosbags calls it "the metadata file").
        ([str(a_folder), "--topic", TOPIC, "--box", "1,1,5,5"],
         "this folder is not a rosbag2 recording (no metadata.yaml in it)"),
        ([raw, "--topic", "/nope", "--box", "1,1,5,5"],
         f"its image topics: {TOPIC} (sensor_msgs/msg/Image)"),
        ([raw, "--topic", TOPIC, "--detections-topic", TOPIC],
         "has type sensor_msgs/msg/Image, not vision_msgs/msg/Detection2DArray"),
        ([raw, "--topic", TOPIC, "--box", "1,1,5,5", "--csv", str(existing)],
         "exists (pass --overwrite"),
        ([raw, "--topic", TOPIC, "--box", "1,1,5,5", "--out-bag", str(a_folder), "--overwrite"],
         "not a rosbag2 bag: refused"),
        ([raw, "--topic", TOPIC, "--box", "1,1,5,5", "--out-bag", raw], "is the input bag"),
        ([raw, "--topic", TOPIC, "--box", "1,1,5,5", "--start", "9"], "no frame of"),
        ([raw, "--topic", TOPIC, "--box", "9000,9000,5,5"], "--box"),
    ]
    for args, needle in cases:
        code, _, err = run_cli(args, capsys)
        assert code == 1, (args, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("[rtmdnet-bag] error: "), (args, err)
        assert needle in lines[0], (args, lines[0])
    assert existing.read_text() == "keep me" and a_folder.is_dir()


def test_console_script_never_prints_a_traceback(bags, tmp_path):
    exe = REPO_ROOT / ".venv" / "bin" / "rtmdnet-bag"
    cmd = [str(exe)] if exe.is_file() else [sys.executable, "-m", "rtmdnet_ros.bag.cli"]
    for args, code, needle in (
        ([str(bags["raw_mcap"]), "--topic", "/nope", "--box", "1,1,5,5"], 1, "image topics"),
        ([str(bags["raw_mcap"]), "--topic", TOPIC, "--box", "1,1,0,5"], 2, "--box needs x,y,w,h"),
        ([str(bags["raw_mcap"])], 2, "--topic"),
    ):
        result = subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=120)
        assert result.returncode == code, result.stderr
        assert "Traceback" not in result.stderr and needle in result.stderr


def test_state_constants_match_the_message_definition():
    msg = pytest.importorskip("rtmdnet_ros.msg", reason="generated interfaces not built")
    from rtmdnet_ros.ros_io import messages

    status = msg.TrackerStatus
    assert (messages.IDLE, messages.TRACKING, messages.LOST) == (
        status.IDLE, status.TRACKING, status.LOST)
    store = bagtypes.output_typestore()  # the .msg file rosbags registered says the same
    cls = store.types[bagtypes.STATUS]
    assert (cls.IDLE, cls.TRACKING, cls.LOST) == (0, 1, 2)


# ------------------------------------------------------ outputs only on success, no-output warning
def entries(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def test_a_failed_run_leaves_nothing_and_overwrite_keeps_the_old_output(bags, sequence,
                                                                       tmp_path, capsys, caplog):
    _, box = sequence
    out = tmp_path / "out"
    out.mkdir()
    names = {"csv": "t.csv", "json": "t.json", "out-bag": "tracked", "video": "t.mp4"}
    outputs = [arg for key, name in names.items() for arg in (f"--{key}", str(out / name))]
    good = [str(bags["raw_mcap"]), "--topic", TOPIC, "--box", ",".join(map(str, box)),
            *outputs]
    bad = [str(bags["raw_mcap"]), "--topic", TOPIC, "--box", "9000,9000,5,5", *outputs]

    # The box is refused on the first frame, after every output was opened: none is left.
    code, _, err = run_cli([*bad, "--max-frames", "2"], capsys)
    assert code == 1 and "--box" in err
    assert entries(out) == set()
    # The corrected retry needs no --overwrite.
    code, _, err = run_cli([*good, "--max-frames", "2"], capsys)
    assert code == 0, err
    assert entries(out) == set(names.values())  # no temporary folder left behind
    first = {name: (out / name).read_bytes() for name in ("t.csv", "t.json")}
    assert len(list(csv.DictReader((out / "t.csv").open()))) == 2
    assert "no output requested" not in caplog.text

    # --overwrite and a failing run: the previous outputs stay as they were.
    code, _, err = run_cli([*bad, "--max-frames", "3", "--overwrite"], capsys)
    assert code == 1 and "--box" in err
    assert entries(out) == set(names.values())
    assert {name: (out / name).read_bytes() for name in first} == first
    assert len(read_topic(out / "tracked", "/rtmdnet_tracker/status", bagtypes.STATUS)) == 2
    # --overwrite and a good run: every output replaced, the bag folder included.
    code, _, err = run_cli([*good, "--max-frames", "3", "--overwrite"], capsys)
    assert code == 0, err
    assert entries(out) == set(names.values())
    assert len(list(csv.DictReader((out / "t.csv").open()))) == 3
    assert json.loads((out / "t.json").read_text())["summary"]["processed"] == 3
    assert len(read_topic(out / "tracked", "/rtmdnet_tracker/status", bagtypes.STATUS)) == 3
    assert sorted(p.name for p in (out / "tracked").iterdir()) == ["metadata.yaml",
                                                                   "tracked.mcap"]


def test_ctrl_c_in_the_middle_leaves_nothing(bags, sequence, tmp_path):
    from rtmdnet_ros.bag.tool import BagRunOptions, run_bag
    from rtmdnet_ros.tracker import Tracker

    _, box = sequence

    class CtrlCOnTheSecondFrame:
        """A progress bar where Ctrl-C lands while the second frame is written."""

        def __init__(self, total: int) -> None:
            self.done = 0

        def update(self, n: int) -> None:
            self.done += n
            if self.done == 2:
                raise KeyboardInterrupt

        def close(self) -> None:
            pass

    options = BagRunOptions(bags["raw_mcap"], TOPIC, box=tuple(map(float, box)),
                            csv=tmp_path / "t.csv", out_bag=tmp_path / "tracked")
    with pytest.raises(KeyboardInterrupt):
        run_bag(options, lambda: Tracker(device="cpu", seed=0, overrides=FAST),
                progress=CtrlCOnTheSecondFrame)
    assert entries(tmp_path) == set()


def test_no_output_requested_is_a_warning(bags, sequence, capsys, caplog):
    _, box = sequence
    code, out, err = run_cli([str(bags["raw_mcap"]), "--topic", TOPIC, "--box",
                              ",".join(map(str, box)), "--max-frames", "1"], capsys)
    assert code == 0, err
    assert "frames: 1 read, 1 tracked through" in out and "wrote:" not in out
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert [r.getMessage() for r in warnings] == [
        "no output requested (--out-bag, --csv, --json or --video): the frames are tracked and "
        "only the summary is printed"]


# ------------------------------------------------------------------ a bag from a folder of images
def test_a_sequence_folder_becomes_a_bag_rtmdnet_bag_tracks(sequence, tmp_path, capsys):
    from rtmdnet_ros.bag import from_images

    folder = sequence_dir("bag")
    out = tmp_path / "from_seq"
    assert from_images.main([str(folder), str(out), "--max-frames", "4", "--rate", "10"]) == 0
    printed = capsys.readouterr().out.splitlines()
    first = parse_groundtruth((folder / "groundtruth_rect.txt").read_text())[0]
    box = ",".join(f"{v:g}" for v in first)
    assert printed == [
        f"wrote {out}: 4 frame(s) on {TOPIC} (Image bgr8, 10 Hz, mcap)",
        f"track it: rtmdnet-bag {out} --topic {TOPIC} --box {box} --csv track.csv",
    ]
    assert entries(tmp_path) == {"from_seq"}
    # Every frame, pixel for pixel, stamps 0.1 s apart from --start's default, version 8.
    info = yaml.safe_load((out / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert info["version"] == 8
    images = read_topic(out, TOPIC, bagtypes.IMAGE)
    files = sorted((folder / "img").glob("*.jpg"))[:4]
    assert len(images) == 4
    for i, ((bag_time, msg), path) in enumerate(zip(images, files, strict=True)):
        assert bag_time == stamp_of(msg.header) == 1_700_000_000_000_000_000 + i * 100_000_000
        pixels = np.asarray(msg.data).reshape(msg.height, msg.width, 3)
        assert msg.encoding == "bgr8" and np.array_equal(pixels, cv2.imread(str(path)))
    # The printed command works as printed (the documented way to try the tool).
    track_csv = tmp_path / "track.csv"
    code, out_text, err = run_cli([str(out), "--topic", TOPIC, "--box", box, "--csv",
                                   str(track_csv)], capsys)
    assert code == 0, err
    assert "frames: 4 read, 4 tracked through, 0 skipped" in out_text
    rows = list(csv.DictReader(track_csv.open()))
    assert rows[0]["state"] == "TRACKING" and [float(rows[0][k]) for k in "xywh"] == list(first)


def test_a_plain_image_folder_in_number_order_and_bad_folders(sequence, tmp_path, capsys):
    from rtmdnet_ros.bag import from_images

    frames, _ = sequence
    images = tmp_path / "shots"
    images.mkdir()
    for number, frame in zip((1, 2, 10), frames, strict=False):  # 10 sorts last, not second
        cv2.imwrite(str(images / f"shot_{number}.png"), frame)
    out = tmp_path / "shots_bag"
    assert from_images.main([str(images), str(out), "--compressed", "--storage", "sqlite3",
                             "--topic", "/cam/compressed"]) == 0
    assert "--box x,y,w,h" in capsys.readouterr().out  # no ground truth: no box to suggest
    got = read_topic(out, "/cam/compressed", bagtypes.COMPRESSED)
    assert len(got) == 3 and (out / "shots_bag.db3").is_file()
    for (_, msg), frame in zip(got, frames, strict=False):
        decoded = cv2.imdecode(np.asarray(msg.data), cv2.IMREAD_COLOR)
        assert np.abs(decoded.astype(int) - frame.astype(int)).mean() < 3  # JPEG of that frame

    empty = tmp_path / "empty"
    empty.mkdir()
    broken = tmp_path / "broken"
    broken.mkdir()
    cv2.imwrite(str(broken / "1.png"), frames[0])
    (broken / "2.png").write_bytes(b"not a png")
    for args, code, needle in (
        ([str(empty), str(tmp_path / "o1")], 1, "no .jpg, .jpeg or .png images in it"),
        ([str(tmp_path / "nope"), str(tmp_path / "o2")], 1, "no such folder"),
        ([str(broken), str(tmp_path / "o3")], 1, "2.png: not a readable image"),
        ([str(images), str(out)], 1, "exists (pass --overwrite"),
        ([str(images), str(tmp_path / "o4"), "--rate", "0"], 2, "--rate must lie in"),
    ):
        assert from_images.main(args) == code, args
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("[rtmdnet-bag-from-images] error: "), err
        assert needle in err[0], err
    assert entries(tmp_path) == {"shots", "shots_bag", "empty", "broken"}  # no partial bag


def test_from_images_console_script(sequence, tmp_path):
    exe = REPO_ROOT / ".venv" / "bin" / "rtmdnet-bag-from-images"
    cmd = [str(exe)] if exe.is_file() else [sys.executable, "-m", "rtmdnet_ros.bag.from_images"]
    result = subprocess.run([*cmd, str(sequence_dir("bag")), str(tmp_path / "b"),
                             "--max-frames", "2"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert len(read_topic(tmp_path / "b", TOPIC, bagtypes.IMAGE)) == 2
