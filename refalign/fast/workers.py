"""Helper threads that pick up work within microseconds: refalign.fast.parallel's pool.

    run_parts([f0, f1, ...])   f0() on the calling thread, the others on helpers; returns when all are done
    with placed(threads): ...  around a forward: the calling thread and the helpers each kept on a CPU of its own

A thread blocked on a lock or condition takes ~65 us to wake on the benchmark machine (a virtual machine: an idle
vCPU is halted), and a forward hands work over ~160 times.  So a helper that has just finished a part keeps polling
for the next one for a short while (_SPIN_ITERATIONS, a few hundred microseconds) before it blocks, and the calling
thread polls the same way for its helpers' parts to finish.  The polling runs in Numba code without the GIL (an
atomic load in a loop), so it never slows the Python thread that is handing out the work.

A part that no helper has started by the time the calling thread is free is taken back and run there.  Exceptions
raised by a part are re-raised by run_parts.  Safe from several Python threads at once; after fork the child starts
with no helpers (they are created again on first use).

Why placed: after an idle spell (a user's pause between calls, the benchmark's gap), Linux on the benchmark machine
woke the helper on the CPU of the thread that woke it, and the two then shared that CPU while the other stayed idle,
for the first ~50 ms of a forward (measured: every banded product of ALIGN's early stages 2x slower for that long,
~20 ms on its image tower; none of it when the caller had kept its CPU busy, or with the threads pinned).  So for
the length of a forward the calling thread is pinned to the CPU it is on and each helper to another CPU the process
may use; the caller's own CPU set comes back when the forward ends (the helpers stay where they were put until the
next forward).  Only the first of overlapping forwards places threads; none when the process may use fewer CPUs
than threads, off the Linux API (sched_setaffinity), or with REFALIGN_PIN_THREADS=0.
"""
from __future__ import annotations

import collections
import ctypes
import itertools
import os
import threading
from typing import Callable

import numpy as np
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from . import jit

_SPIN_ITERATIONS = 200_000  # ~0.2-0.4 ms of polling (one atomic load and compare per iteration)
PIN_THREADS = os.environ.get("REFALIGN_PIN_THREADS", "1") != "0"


@intrinsic
def _load_acquire(typingctx, array, index):
    """array[index] read with an atomic acquire load (so that a polling loop sees another thread's store)."""
    def codegen(context, builder, signature, args):
        arytype = signature.args[0]
        ary = context.make_array(arytype)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, arytype, ary, [args[1]])
        return builder.load_atomic(ptr, ordering="acquire", align=8)
    return types.int64(array, index), codegen


@jit.njit(nogil=True)
def _poll(flags, index, old, iterations):
    """Wait, without the GIL, until flags[index] != old; False if it still equals old after `iterations` reads."""
    for _ in range(iterations):
        if _load_acquire(flags, index) != old:
            return True
    return False


class _Part:
    __slots__ = ("fn", "done", "event", "error")

    def __init__(self, fn: Callable[[], None]):
        self.fn, self.done, self.event, self.error = fn, np.zeros(1, np.int64), threading.Event(), None

    def run(self) -> None:
        try:
            self.fn()
        except BaseException as e:  # noqa: BLE001 - handed to the thread that waits for this part
            self.error = e
        self.done[0] = 1
        self.event.set()


class _Pool:
    def __init__(self):
        self.lock = threading.Lock()
        self.wakeup = threading.Condition(self.lock)
        self.queue: collections.deque[_Part] = collections.deque()
        self.posted = np.zeros(1, np.int64)  # bumped on every submission: what idle helpers poll
        self.threads: list[threading.Thread] = []
        self.cpu_of: dict[int, int] = {}     # helper native id -> the CPU it is pinned to
        self.placing = False                 # a forward has placed the threads and not yet finished

    def ensure(self, n: int) -> None:
        with self.lock:
            while len(self.threads) < n:
                t = threading.Thread(target=self._loop, name=f"refalign-{len(self.threads) + 1}", daemon=True)
                self.threads.append(t)
                t.start()

    def submit(self, parts: list[_Part]) -> None:
        with self.lock:
            self.queue.extend(parts)
            self.posted[0] += 1
            self.wakeup.notify(len(parts))

    def take_back(self, part: _Part) -> bool:
        """Remove a part no helper has started; True if it was still queued."""
        with self.lock:
            try:
                self.queue.remove(part)
                return True
            except ValueError:
                return False

    def _loop(self) -> None:
        while True:
            with self.lock:
                part = self.queue.popleft() if self.queue else None
                seen = int(self.posted[0])
            if part is not None:
                part.run()
                continue
            if _poll(self.posted, 0, seen, _SPIN_ITERATIONS):
                continue
            with self.lock:
                while not self.queue:
                    self.wakeup.wait()


_pool = _Pool()


def _current_cpu_function():
    try:
        f = ctypes.CDLL(None).sched_getcpu
    except (AttributeError, OSError):  # not glibc / musl: no placement
        return None
    f.restype, f.argtypes = ctypes.c_int, []
    return f


_current_cpu = _current_cpu_function() if hasattr(os, "sched_setaffinity") else None


class placed:
    """Around a forward using `threads` threads (the caller and threads - 1 helpers): the caller pinned to its
    current CPU, each helper to one of the others (round robin), the caller's CPU set restored on exit.  Does
    nothing when another forward already placed the threads, when fewer CPUs than threads are allowed, or when
    the system refuses (the forward then runs unplaced, as before)."""

    def __init__(self, threads: int):
        self.threads, self.pool, self.restore = threads, None, None

    def __enter__(self):
        if not (PIN_THREADS and _current_cpu is not None and self.threads > 1):
            return self
        pool = _pool
        with pool.lock:
            if pool.placing:
                return self
            pool.placing = True
        self.pool = pool
        try:
            allowed = os.sched_getaffinity(0)
            cpu = _current_cpu()
            if len(allowed) < self.threads or cpu not in allowed:
                return self
            pool.ensure(self.threads - 1)
            for thread, other in zip(pool.threads, itertools.cycle(sorted(allowed - {cpu}))):
                if pool.cpu_of.get(thread.native_id) != other:
                    os.sched_setaffinity(thread.native_id, {other})
                    pool.cpu_of[thread.native_id] = other
            os.sched_setaffinity(0, {cpu})
            self.restore = allowed
        except OSError:   # refused (a container's policy, a CPU gone offline): run unplaced
            pool.cpu_of.clear()
        return self

    def __exit__(self, *exc):
        if self.pool is None:
            return
        try:
            if self.restore is not None:
                os.sched_setaffinity(0, self.restore)
        except OSError:
            pass
        finally:
            with self.pool.lock:
                self.pool.placing = False


def _after_fork_in_child() -> None:
    global _pool
    _pool = _Pool()  # the parent's helper threads do not exist here


if hasattr(os, "register_at_fork"):  # POSIX only; there is no fork elsewhere
    os.register_at_fork(after_in_child=_after_fork_in_child)


def run_parts(tasks: list[Callable[[], None]]) -> None:
    """Run the callables, tasks[0] on this thread and the others on helper threads; re-raise the first error."""
    if len(tasks) == 1:
        tasks[0]()
        return
    pool = _pool
    pool.ensure(len(tasks) - 1)
    parts = [_Part(t) for t in tasks[1:]]
    pool.submit(parts)
    error = None
    try:
        tasks[0]()
    except BaseException as e:  # noqa: BLE001 - re-raised once the helpers are done with this call's parts
        error = e
    for part in parts:
        if pool.take_back(part):
            part.run()
        elif not _poll(part.done, 0, 0, _SPIN_ITERATIONS):
            part.event.wait()
        error = error or part.error
    if error is not None:
        raise error
