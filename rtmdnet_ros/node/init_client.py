# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Call the tracker's ``~/init`` or ``~/reset`` from a shell, where no ``ros2`` CLI exists.

On a ROS 2 distro ``ros2 service call`` does the same; the pip-installed runtime of this project
has no ``ros2`` command, so this is how a multi-process graph gets started by hand:

    python -m rtmdnet_ros.node.init_client --box 120,80,60,90          # x,y,w,h, newest frame
    python -m rtmdnet_ros.node.init_client --box 120,80,60,90 --stamp 1764000000.123456789
    python -m rtmdnet_ros.node.init_client --reset
"""

from __future__ import annotations

import argparse
import sys
import time


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command line: the box (top-left x, y, width, height in pixels) or --reset."""
    from rtmdnet_ros.ros_io.cli import OneLineParser

    parser = OneLineParser(prog="init_client", description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--box", help="x,y,w,h in pixels (top-left corner)")
    action.add_argument("--reset", action="store_true", help="stop tracking")
    parser.add_argument("--stamp", default="0", help="image stamp sec.nanosec (0 = newest)")
    parser.add_argument("--label", default="", help="class label (default: node parameter)")
    parser.add_argument("--node", default="/rtmdnet_tracker", help="tracker node name")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Call the service once and print its answer; exit 0 only on success (and on Ctrl-C).

    ``--ros-args ...`` after the options go to rclpy (remappings, domain, logging).
    """
    from rclpy.utilities import remove_ros_args

    from rtmdnet_ros.ros_io.cli import EXIT_USAGE, fail, init_ros, parse_box, stop_ros

    full = list(sys.argv if argv is None else ["init_client", *argv])
    args = parse_args(remove_ros_args(full)[1:])
    import rclpy
    from builtin_interfaces.msg import Time
    from std_srvs.srv import Trigger

    from rtmdnet_ros.ros_io.messages import set_bbox
    from rtmdnet_ros.srv import InitTarget

    if args.box is not None:
        # Each option is checked on its own, so the message names only the one that is wrong.
        try:
            box = parse_box(args.box)
        except ValueError as exc:
            return fail("init_client", str(exc), EXIT_USAGE)
        try:
            sec_text, _, nsec_text = args.stamp.partition(".")
            stamp = Time(sec=int(sec_text), nanosec=int((nsec_text or "0").ljust(9, "0")[:9]))
        except ValueError:
            return fail("init_client", f"--stamp needs sec.nanosec (0 = the newest frame), got "
                                       f"{args.stamp!r}", EXIT_USAGE)
    if not args.timeout > 0:
        return fail("init_client", f"--timeout must be positive, got {args.timeout:g}",
                    EXIT_USAGE)
    code = init_ros("init_client", full)
    if code is not None:
        return code
    node = None
    try:
        node = rclpy.create_node("rtmdnet_init_client")
        if args.reset:
            client = node.create_client(Trigger, f"{args.node}/reset")
            request = Trigger.Request()
        else:
            client = node.create_client(InitTarget, f"{args.node}/init")
            request = InitTarget.Request()
            set_bbox(request.box, box)
            request.stamp = stamp
            request.label = args.label
        if not client.wait_for_service(timeout_sec=min(args.timeout, 15.0)):
            return fail("init_client", f"service {client.srv_name} not found (is the node "
                                       "running, same ROS_DOMAIN_ID?)")
        future = client.call_async(request)
        deadline = time.monotonic() + args.timeout
        while not future.done() and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.1)
        if not future.done():
            return fail("init_client", f"no answer from {client.srv_name} within "
                                       f"{args.timeout:g} s")
        response = future.result()
        track = f" (track {response.track_id})" if getattr(response, "track_id", "") else ""
        print(f"{'ok' if response.success else 'refused'}: {response.message}{track}")
        return 0 if response.success else 1
    except KeyboardInterrupt:
        return 0
    except Exception as exc:
        from rtmdnet_ros.ros_io.cli import one_line, user_errors

        if not rclpy.ok():  # Ctrl-C shut the context down under a wait or call in progress
            return 0
        if isinstance(exc, user_errors()):  # e.g. an invalid --node name
            return fail("init_client", one_line(exc))
        raise
    finally:
        stop_ros(None, [node] if node is not None else [])


if __name__ == "__main__":
    sys.exit(main())
