"""One step of the plan run in a forked process beside the others, on machines with a second core.

The plan's steps after the run only read the recording; the policy check (a third of them at 50 stores) needs
nothing the others make. `in_background(step, *args)` forks: the child inherits the recording as it is (nothing
is copied or pickled on the way in), runs the step and sends its result, pickled, through a pipe, while the
parent goes on with the writers and checks; calling what it returns waits for the result. With one core, or
without `fork`, the step simply runs at once in this process. A step that raises in the child raises the same
exception in the parent; a child that dies without a result is reported with its exit code.

The child runs pure Python (and protobuf) only: it never uses the mock engine's gRPC threads, which a fork does
not copy (`offline/__init__.py` turns gRPC's fork handlers off, so that it does not log about them).
"""

from __future__ import annotations

import multiprocessing
import os
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, TypeVar

T = TypeVar("T")


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _run_into(sender: Connection, step: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        result: Any = ("result", step(*args))
    except BaseException as error:  # every failure goes back to the parent, which raises it
        result = ("error", error, traceback.format_exc())
    try:
        sender.send(result)
    except Exception:  # an unpicklable result or exception: say what it was
        sender.send(("error", RuntimeError(f"{step.__name__}: its result could not be sent back"), traceback.format_exc()))
    sender.close()


def in_background(step: Callable[..., T], *args: Any) -> Callable[[], T]:
    """Start `step(*args)`; return a function that waits for, and returns, its result (or raises its error)."""
    if cores() < 2 or "fork" not in multiprocessing.get_all_start_methods():
        result = step(*args)
        return lambda: result
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_run_into, args=(sender, step, args), name=f"plan-{step.__name__}", daemon=True)
    process.start()
    sender.close()

    def wait() -> T:
        try:
            message = receiver.recv()
        except EOFError:
            process.join()
            raise RuntimeError(f"{step.__name__} ended without a result (exit code {process.exitcode})") from None
        finally:
            receiver.close()
        process.join()
        if message[0] == "error":
            raise message[1] from RuntimeError(f"in the background process:\n{message[2]}")
        return message[1]

    return wait
