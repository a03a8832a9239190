"""refalign.fast.workers: every part runs exactly once, errors come back to the caller, several callers and fork work."""
from __future__ import annotations

import multiprocessing
import os
import threading
import time

import numpy as np
import pytest

from refalign.fast import workers


def test_every_part_runs_once_and_run_parts_waits_for_all():
    hits = np.zeros(7, np.int64)
    threads = set()

    def part(i):
        def f():
            time.sleep(0.002 * (i % 3))
            threads.add(threading.get_ident())
            hits[i] += 1
        return f

    for _ in range(20):
        workers.run_parts([part(i) for i in range(7)])
    assert hits.tolist() == [20] * 7
    assert threading.get_ident() in threads


def test_a_helper_takes_work_while_the_caller_is_busy():
    started = threading.Event()

    def caller_part():
        assert started.wait(5), "no helper picked up the second part while the first was running"

    workers.run_parts([caller_part, started.set])


@pytest.mark.parametrize("where", [0, 1, 2])
def test_errors_are_reraised_after_all_parts_finish(where):
    finished = []

    def part(i):
        def f():
            if i == where:
                raise KeyError(f"part {i}")
            time.sleep(0.01)
            finished.append(i)
        return f

    with pytest.raises(KeyError, match=f"part {where}"):
        workers.run_parts([part(i) for i in range(3)])
    assert sorted(finished) == [i for i in range(3) if i != where]


def test_poll_sees_another_threads_store_and_gives_up_when_unchanged():
    flags = np.zeros(1, np.int64)
    assert not workers._poll(flags, 0, 0, 1000)
    threading.Timer(0.05, lambda: flags.__setitem__(0, 5)).start()
    t = time.perf_counter()
    while not workers._poll(flags, 0, 0, workers._SPIN_ITERATIONS):
        assert time.perf_counter() - t < 5
    assert flags[0] == 5


def test_concurrent_callers():
    totals = np.zeros(4, np.int64)

    def caller(k):
        for _ in range(50):
            workers.run_parts([lambda: totals.__setitem__(k, totals[k] + 1) for _ in range(1)] +
                              [lambda: time.sleep(0.0001)] * 2)

    ts = [threading.Thread(target=caller, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert totals.tolist() == [50] * 4


def _child(q):
    out = []
    workers.run_parts([lambda: out.append(1), lambda: out.append(2)])
    q.put(sorted(out))


def test_fork_child_gets_fresh_helpers():
    workers.run_parts([lambda: None, lambda: None])  # helpers exist in the parent
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(q,))
    p.start()
    p.join(60)
    assert p.exitcode == 0 and q.get(timeout=5) == [1, 2]


# ------------------------------------------------------------------------------------------------ placed
def _helper_cpus() -> dict[int, set[int]]:
    return {t.native_id: os.sched_getaffinity(t.native_id) for t in workers._pool.threads}


def _in_fresh_thread(fn):
    """fn() on a new Python thread (its own CPU set, so the test runner's is never touched); -> fn's result."""
    out, errors = [], []

    def run():
        try:
            out.append(fn())
        except BaseException as e:  # noqa: BLE001 - re-raised in the test
            errors.append(e)

    t = threading.Thread(target=run)
    t.start()
    t.join(60)
    if errors:
        raise errors[0]
    return out[0]


def test_placed_pins_the_caller_and_each_helper_to_cpus_of_their_own_then_restores_the_caller():
    allowed = os.sched_getaffinity(0)
    assert len(allowed) >= 2, "the benchmark and CI machines have 2 CPUs or more"

    def forward():
        before = os.sched_getaffinity(0)
        with workers.placed(2):
            inside, helpers = os.sched_getaffinity(0), _helper_cpus()
            ran_on = []
            workers.run_parts([lambda: ran_on.append(os.sched_getaffinity(0)), lambda: time.sleep(0.01)])
        return before, inside, helpers, os.sched_getaffinity(0)

    before, inside, helpers, after = _in_fresh_thread(forward)
    assert len(inside) == 1 and inside <= allowed
    assert helpers and all(len(c) == 1 and c <= allowed and c != inside for c in helpers.values())
    assert after == before


def test_placed_only_by_the_first_of_overlapping_forwards():
    def forward():
        before = os.sched_getaffinity(0)
        with workers.placed(2):
            outer = os.sched_getaffinity(0)
            with workers.placed(2):                  # nested (or another thread's forward meanwhile): no change
                inner = os.sched_getaffinity(0)
            still = os.sched_getaffinity(0)          # the inner exit did not restore the outer's pin
        return before, outer, inner, still, os.sched_getaffinity(0)

    before, outer, inner, still, after = _in_fresh_thread(forward)
    assert len(outer) == 1 and inner == outer and still == outer and after == before
    assert not workers._pool.placing


def test_placed_does_nothing_when_turned_off_or_with_fewer_cpus_than_threads(monkeypatch):
    def forward(threads):
        before = os.sched_getaffinity(0)
        with workers.placed(threads):
            return before, os.sched_getaffinity(0)

    monkeypatch.setattr(workers, "PIN_THREADS", False)
    before, inside = _in_fresh_thread(lambda: forward(2))
    assert inside == before
    monkeypatch.setattr(workers, "PIN_THREADS", True)
    before, inside = _in_fresh_thread(lambda: forward(len(os.sched_getaffinity(0)) + 1))
    assert inside == before


def test_placed_runs_unplaced_when_the_system_refuses(monkeypatch):
    def refuse(pid, cpus):
        raise PermissionError(1, "not allowed here")

    monkeypatch.setattr(workers.os, "sched_setaffinity", refuse)

    def forward():
        out = []
        with workers.placed(2):
            workers.run_parts([lambda: out.append(1), lambda: out.append(2)])
        return sorted(out)

    assert _in_fresh_thread(forward) == [1, 2]
    assert not workers._pool.placing
