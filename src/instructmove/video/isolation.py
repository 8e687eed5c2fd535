"""Run one decoding job per child process, with a timeout, so a crash or hang costs one video.

decord has upstream reports of segfaults, hangs and memory leaks on some files. Each job runs in
a fresh process forked from a forkserver that has already imported the decoding modules, so a
start costs milliseconds. A dead or stuck child is reported as that job's outcome. This is why
concurrent.futures is not used: its pool is marked broken as soon as one worker dies.
"""

import logging
import multiprocessing
import signal
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Any

from tqdm import tqdm

from instructmove.video.reader import VideoDecodeError

log = logging.getLogger(__name__)

# Imported once by the forkserver, so each child starts with them loaded.
PRELOAD = ["numpy", "cv2", "decord", "instructmove.video.probe", "instructmove.pairs.mine"]

# Under spawn and forkserver, every child re-runs the parent's main script, and Python 3.11
# ignores "__main__" in the forkserver preload list. When the parent has these heavy packages
# loaded, the server imports them too, so the re-run finds them cached instead of costing
# seconds per video.
HEAVY_IF_LOADED = ["pandas", "pyarrow", "pydantic", "yaml", "tqdm", "mlflow", "dask", "distributed", "prefect"]

TIMEOUT = "decode timeout"
CRASH = "decoder crash"


@dataclass
class Job:
    """One call of the worker function; `label` (a file path) names the job in logs."""

    key: str
    args: tuple
    timeout_s: float
    label: str = ""


@dataclass
class Outcome:
    """The result of one job: `value` on success, otherwise a reject `reason` and `message`."""

    key: str
    value: Any = None
    reason: str | None = None
    message: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None


def _context():
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if context.get_start_method() == "forkserver":
        context.set_forkserver_preload(PRELOAD + [name for name in HEAVY_IF_LOADED if name in sys.modules])
    return context


def _child(function: Callable, args: tuple, connection) -> None:
    try:
        message = ("ok", function(*args))
    except VideoDecodeError as error:
        message = ("reject", error.reason, error.message)
    except Exception as error:  # noqa: BLE001 - any failure inside the decoder costs only this video
        message = ("error", f"{type(error).__name__}: {error}", traceback.format_exc())
    connection.send(message)
    connection.close()


def _exit_description(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exited with code {exitcode} before returning a result"


@dataclass
class _Running:
    job: Job
    process: Any
    connection: Any
    deadline: float


def _collect(running: _Running) -> Outcome | None:
    """Return the job's outcome if it finished, crashed or timed out; None while it still runs."""
    key = running.job.key
    if running.connection.poll():
        try:
            message = running.connection.recv()
        except (EOFError, OSError):
            running.process.join()
            return Outcome(key, reason=CRASH, message=_exit_description(running.process.exitcode))
        running.process.join()
        if message[0] == "ok":
            return Outcome(key, value=message[1])
        if message[0] == "reject":
            return Outcome(key, reason=message[1], message=message[2])
        log.error("%s: decoding failed with an unexpected error:\n%s", running.job.label or key, message[2])
        return Outcome(key, reason=CRASH, message=message[1])

    if not running.process.is_alive():
        running.process.join()
        return Outcome(key, reason=CRASH, message=_exit_description(running.process.exitcode))

    if time.monotonic() > running.deadline:
        running.process.kill()
        running.process.join()
        return Outcome(key, reason=TIMEOUT, message=f"no result after {running.job.timeout_s:.0f} s; the worker was killed")
    return None


def run_isolated(function: Callable, jobs: list[Job], workers: int, desc: str = "decoding") -> Iterator[Outcome]:
    """Run `function(*job.args)` for each job in its own child process, `workers` at a time.

    Yields one Outcome per job as jobs finish (not in input order). `function` must be importable
    by name, because the child unpickles it.
    """
    context = _context()
    pending = deque(jobs)
    running: list[_Running] = []

    try:
        with tqdm(total=len(jobs), desc=desc, unit="video", disable=None) as progress:
            yield from _schedule(function, context, pending, running, workers, progress)
    finally:
        for item in running:
            item.process.kill()
            item.process.join()


def _start(function: Callable, context, job: Job) -> _Running:
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(function, job.args, sender), daemon=True)
    process.start()
    sender.close()
    return _Running(job, process, receiver, time.monotonic() + job.timeout_s)


def _schedule(function, context, pending: deque, running: list, workers: int, progress) -> Iterator[Outcome]:
    """Keep up to `workers` children busy; `running` is updated in place so the caller can clean up."""
    while pending or running:
        while pending and len(running) < max(1, workers):
            running.append(_start(function, context, pending.popleft()))

        nearest = min(item.deadline for item in running) - time.monotonic()
        handles = [item.connection for item in running] + [item.process.sentinel for item in running]
        wait(handles, timeout=max(0.0, nearest) + 0.01)

        finished = []
        for item in list(running):
            outcome = _collect(item)
            if outcome is None:
                continue
            item.connection.close()
            running.remove(item)
            finished.append((item, outcome))

        for item, outcome in finished:
            if not outcome.ok:
                log.warning("%s: %s (%s)", item.job.label or item.job.key, outcome.reason, outcome.message)
            progress.update(1)
            yield outcome
