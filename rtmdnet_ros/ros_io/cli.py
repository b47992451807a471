# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""What every executable of the package does with bad input and with Ctrl-C.

The contract (issue 13): a wrong command line, a missing file or a refused parameter ends in
one clear line on stderr and a non-zero exit, never a traceback, because a user reads the last
line of a launch log; SIGINT at any moment ends with exit 0 after the executor, the threads and
the nodes are stopped in order, because a C++ thread still running when the interpreter
finalises aborts the process ("terminate called without an active exception").

Only errors that come from the user's input are turned into one line; anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import argparse
import gc
import math
import re
import sys
import threading
from typing import Any, NoReturn

from rtmdnet_ros.ros_io.dds_segments import release_own_segments_at_exit

EXIT_USAGE = 2  # argparse's code for a bad command line; also used for bad --ros-args
EXIT_FAILURE = 1  # a file, parameter or set-up problem


class UserInputError(Exception):
    """Raised where input is checked; the executable prints it as its one line and exits 1."""


class OneLineParser(argparse.ArgumentParser):
    """argparse whose error is one line (argparse prints the usage block first)."""

    def error(self, message: str) -> NoReturn:
        """Print ``prog: error: message (see --help)`` and exit 2, as argparse does."""
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def parse_box(text: str, option: str = "--box") -> tuple[float, float, float, float]:
    """Parse a command line's ``x,y,w,h`` box (pixels, top-left corner).

    One rule for every executable that takes a box, so a box typed for one is accepted by all;
    the ``ValueError`` names the option, what is wrong and the text as given.
    """
    parts = [part.strip() for part in text.split(",")]
    try:
        values = tuple(float(part) for part in parts)
    except ValueError:
        values = ()
    if len(values) != 4:
        why = "four numbers"
    elif not all(math.isfinite(v) for v in values):
        why = "finite numbers"
    elif values[2] <= 0 or values[3] <= 0:
        why = "a positive width and height"
    else:
        return values  # type: ignore[return-value]
    raise ValueError(f"{option} needs x,y,w,h in pixels ({why}), got {text!r}")


def one_line(exc: BaseException, with_type: bool = False) -> str:
    """Return an exception as one readable line, ``Type: text`` with ``with_type``.

    rcl's messages carry the C source locations (``, at /project/src/rcl/arguments.c:356``) and
    rclpy's parameter errors repeat the name at the end; both are noise to a user. The type is
    for lines about failures that are not the user's input (a frame that failed, an unreadable
    file), where the exception's own text may not say what kind of failure it was.
    """
    text = " ".join(str(exc).split())
    text = re.sub(r"(, at [^,]+:\d+)+$", "", text)
    text = re.sub(r"\s+\^+$", "", text)  # rcutils' caret under the offending character
    if not text:
        return type(exc).__name__
    return f"{type(exc).__name__}: {text}" if with_type else text


def user_errors() -> tuple[type[BaseException], ...]:
    """Exception types that mean "the input was wrong" for a ROS executable."""
    errors: list[type[BaseException]] = [UserInputError, ValueError, OSError]
    try:
        from rclpy.exceptions import NameValidationException, ParameterException

        errors += [ParameterException, NameValidationException]
    except ImportError:
        pass
    try:  # malformed --ros-args, unreadable params file, ... (raised by rclpy.init)
        from rclpy.impl.implementation_singleton import rclpy_implementation

        errors.append(rclpy_implementation.RCLError)
    except (ImportError, AttributeError):
        pass
    return tuple(errors)


def fail(prog: str, message: str, code: int = EXIT_FAILURE) -> int:
    """Print the one line and return the exit code, so callers can write one return."""
    print(f"[{prog}] error: {message}", file=sys.stderr)
    return code


def interrupt_once(signum: int, frame: Any) -> None:
    """SIGINT handler: ignore every later SIGINT, then stop the program like Ctrl-C does."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def init_ros(prog: str, args: list[str] | None) -> int | None:
    """Initialise ROS, turning a malformed ``--ros-args`` into one line; return an exit code.

    ``None`` means rclpy is initialised and the caller goes on.
    """
    import faulthandler
    import signal

    import rclpy

    # A crash inside a native library (DDS, onnxruntime, torch) would otherwise leave a launch
    # log with no line saying where: every thread's Python stack goes to stderr first.
    faulthandler.enable()

    # A process started in the background of a non-interactive shell (`cmd &`, nohup, some
    # service managers) inherits SIGINT *ignored*; Python then installs no KeyboardInterrupt
    # handler and rclpy's handler chains to "ignore": Ctrl-C or `ros2 launch`'s SIGINT would shut
    # the context down under a running call, or do nothing, instead of stopping cleanly.
    # Ctrl-C in a terminal reaches the whole process group, and `ros2 launch` forwards its own
    # SIGINT on top: a node gets two, the second while it is already stopping, where a
    # KeyboardInterrupt escapes every handler and the process dies by the signal (launch's
    # "process has died [exit code -2]"). The first SIGINT stops the executable; later ones
    # are ignored while it shuts down in order (a hung stop still yields to SIGTERM/SIGKILL).
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, interrupt_once)
    try:
        rclpy.init(args=args)
    except user_errors() as exc:
        return fail(prog, f"bad ROS arguments: {one_line(exc)}", EXIT_USAGE)
    return None


def stop_ros(executor: Any | None, nodes: list[Any], threads: list[Any] | None = None) -> None:
    """Stop in the order that leaves no thread inside rclpy when the interpreter finalises.

    Executor first (its worker threads are joined), then the caller's own spinning threads,
    then the nodes (each node's ``destroy_node`` joins its own workers), then the context.
    """
    import rclpy

    if executor is not None:
        executor.shutdown()
    for thread in threads or []:
        thread.join(timeout=30.0)
    for node in nodes:
        try:
            node.destroy_node()
        except Exception as exc:  # one node failing to close must not keep the others open
            print(f"[{getattr(node, 'get_name', lambda: '?')()}] destroy failed: {exc}",
                  file=sys.stderr)
    rclpy.try_shutdown()
    release_own_segments_at_exit()  # its segment file, which the freeze below would keep
    # Nothing is left to collect that matters: the interpreter's last full collection over a
    # loaded model's objects would only delay the exit a launch file is waiting for.
    gc.freeze()
