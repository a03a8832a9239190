"""`refalign compare --plot FILE.png`: each tensor's error in forward order, with its float32 noise floor and its
budget, so a porter sees where the error leaves the noise band (matplotlib needed; refalign does not depend on it).

    y = max |candidate - golden| / max |golden|     one point per compared tensor, in forward order (log scale)
    noise floor = the golden's float32 noise / max |golden|  (goldens written with noise figures)
    budget      = the tolerance at the tensor's largest value, (atol + rtol * max|golden|) / max |golden|
Exact matches (token ids, masks, identical values) are drawn at the bottom.
"""
from __future__ import annotations

import math
import os

from .errors import RefalignError
from .golden import NOT_OK, OK, CompareResult

TINY = 1e-300  # marks an exact match (drawn at the bottom of the plot)


def plotted_reports(result: CompareResult) -> list:
    """The reports drawn: every tensor whose values were compared, in forward order."""
    return [r for r in result.reports if r.status in (OK, NOT_OK)]


def plot_compare(result: CompareResult, path) -> str:
    """Draw the errors of `result` into a PNG at `path`; returns the path."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RefalignError("compare --plot needs matplotlib (pip install matplotlib); the comparison itself does "
                            "not") from None
    path = os.fspath(path)
    if not path.lower().endswith(".png"):
        raise ValueError(f"--plot writes a PNG: give a file name ending in .png, got {path}")
    reports = plotted_reports(result)
    if not reports:
        raise ValueError("nothing to plot: no tensor of the golden was compared")

    def rel(x: float, scale: float) -> float:
        if math.isnan(x):
            return math.nan
        return max(x / scale if scale > 0 else x, TINY)

    x = list(range(len(reports)))
    err = [rel(r.max_abs if not r.nan_count else math.inf, r.scale) for r in reports]
    budget = [rel(r.atol + r.rtol * r.scale, r.scale) for r in reports]
    noise = [rel(r.noise, r.scale) for r in reports]
    # exact matches (and exact budgets: token ids) sit one decade below the smallest error drawn
    drawn = [v for v in err + budget + noise if TINY < v < math.inf]
    bottom = min(drawn) / 10 if drawn else 1e-16
    err, budget, noise = ([bottom if v == TINY else v for v in vals] for vals in (err, budget, noise))
    fig, ax = plt.subplots(figsize=(max(8.0, 0.12 * len(reports)), 4.5), dpi=100)
    ax.set_yscale("log")
    ax.plot(x, budget, color="0.6", lw=1, label="budget (tolerance)")
    if any(not math.isnan(v) for v in noise):
        ax.plot(x, noise, color="tab:green", lw=1, ls="--", label="float32 noise of refalign")
    ok = [i for i, r in enumerate(reports) if r.status == OK]
    bad = [i for i, r in enumerate(reports) if r.status == NOT_OK]
    finite = [min(e, 1e3) for e in err]
    ax.scatter(ok, [finite[i] for i in ok], s=14, color="tab:blue", label="error (within budget)", zorder=3)
    if bad:
        ax.scatter(bad, [finite[i] for i in bad], s=22, color="tab:red", marker="x", label="error (out of budget)",
                   zorder=4)
        first = bad[0]
        ax.annotate(reports[first].name, (first, finite[first]), textcoords="offset points", xytext=(4, 6),
                    fontsize=8, color="tab:red")
    step = max(1, len(reports) // 40)
    ax.set_xticks(x[::step])
    ax.set_xticklabels([reports[i].name for i in x[::step]], rotation=90, fontsize=6)
    ax.set_ylabel("max |candidate - golden| / max |golden|")
    ax.set_ylim(bottom=bottom / 2)
    ax.set_title(f"{os.path.basename(result.candidate.split(' (')[0])} vs {os.path.basename(result.golden.split(' (')[0])}"
                 f": {'PASS' if result.ok else 'FAIL'}", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
    return path
