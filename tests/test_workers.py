"""refalign.fast.workers: every part runs exactly once, errors come back to the caller, several callers and fork work."""
from __future__ import annotations

import multiprocessing
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
