# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The executables' shared command-line rules (rtmdnet_ros/ros_io/cli.py), without ROS.

``parse_box`` is the one ``--box`` rule of rtmdnet-bag, init_client and rtmdnet-demo: the same
text is accepted or refused by all three, with the same line.
"""

from __future__ import annotations

import pytest

from rtmdnet_ros.bag import cli as bag_cli
from rtmdnet_ros.node import demo, init_client
from rtmdnet_ros.ros_io.cli import parse_box


@pytest.mark.parametrize("text,box", [
    ("120,80,60,90", (120.0, 80.0, 60.0, 90.0)),
    (" 1.5, -2 ,3e1,4 ", (1.5, -2.0, 30.0, 4.0)),  # spaces, a negative corner, exponents
])
def test_a_good_box_is_four_floats(text, box):
    got = parse_box(text)
    assert got == box and all(isinstance(v, float) for v in got)


@pytest.mark.parametrize("text,why", [
    ("1,2,3", "four numbers"),
    ("1,2,3,4,5", "four numbers"),
    ("", "four numbers"),
    ("a,b,c,d", "four numbers"),
    ("1;2;3;4", "four numbers"),
    ("1,2,nan,4", "finite numbers"),
    ("1,2,3,inf", "finite numbers"),
    ("1,2,0,4", "a positive width and height"),
    ("1,2,3,-4", "a positive width and height"),
])
def test_a_bad_box_names_the_option_the_fault_and_the_text(text, why):
    with pytest.raises(ValueError) as refused:
        parse_box(text, option="--init-box")
    assert str(refused.value) == f"--init-box needs x,y,w,h in pixels ({why}), got {text!r}"


def test_the_three_executables_refuse_a_bad_box_with_the_same_line(capsys):
    expected = "--box needs x,y,w,h in pixels (a positive width and height), got '1,2,0,5'"
    # rtmdnet-bag: exit 2 (a bad command line), before the bag is even looked at.
    assert bag_cli.main(["missing.mcap", "--topic", "/x", "--box", "1,2,0,5"]) == 2
    assert capsys.readouterr().err.strip() == f"[rtmdnet-bag] error: {expected}"
    # init_client: exit 2 before ROS is initialised.
    assert init_client.main(["--box", "1,2,0,5"]) == 2
    assert capsys.readouterr().err.strip() == f"[init_client] error: {expected}"
    # rtmdnet-demo: argparse's exit 2 with its usual suffix.
    with pytest.raises(SystemExit) as stopped:
        demo.parse_args(["--box", "1,2,0,5"])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.strip() == f"rtmdnet-demo: error: {expected} (see --help)"
    assert demo.parse_args(["--box", "1,2,3,4"]).box == (1.0, 2.0, 3.0, 4.0)
