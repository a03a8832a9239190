"""refalign.fast.gemm: the packed-weight float32 product against its twins (pack_weight_reference, x @ w.T in float64
with the float32 rounding bound), and how refalign.fast.parallel.matmul_wt uses it (which products, the cache of
packed weights, identical results on every call)."""
from __future__ import annotations

import gc
import threading

import numpy as np
import pytest

from refalign.fast import gemm, kernels as K, parallel as P

EPS32 = float(np.finfo(np.float32).eps)


def _operands(m: int, n: int, k: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, k)).astype(np.float32), rng.standard_normal((n, k)).astype(np.float32)


def _assert_within_rounding(out: np.ndarray, x: np.ndarray, w: np.ndarray) -> None:
    """|out - x w^T| <= K * eps * |x| |w|^T elementwise: the classic bound for a float32 dot product of length K."""
    ref = x.astype(np.float64) @ w.astype(np.float64).T
    bound = x.shape[1] * EPS32 * (np.abs(x).astype(np.float64) @ np.abs(w).astype(np.float64).T)
    excess = np.abs(out - ref) - bound
    assert excess.max() <= 0, f"worst element exceeds the rounding bound by {excess.max():.3g}"


def test_tile_constants_fit_the_isa():
    assert gemm.PANEL == gemm.LANES * gemm.VECTORS
    assert (gemm.LANES, gemm.ROWS) in ((16, 12), (8, 6))
    assert gemm.MC % gemm.ROWS == 0


@pytest.mark.parametrize("n, k", [(1, 1), (5, 3), (31, 7), (32, 7), (33, 300), (96, 64), (100, 2)])
def test_pack_weight_matches_its_twin(n, k):
    _, w = _operands(1, n, k)
    panels = gemm.pack_weight(w)
    np.testing.assert_array_equal(panels, gemm.pack_weight_reference(w))
    assert panels.shape == (-(-n // gemm.PANEL), k, gemm.PANEL)
    assert not panels[-1, :, n - (len(panels) - 1) * gemm.PANEL:].any()      # zeros past the last column of w


SHAPES = [(1, 1, 1), (12, 32, 8), (13, 33, 5), (50, 768, 64), (197, 100, 300), (250, 31, 257), (301, 64, 513),
          (481, 96, 70)]


@pytest.mark.parametrize("m, n, k", SHAPES)
@pytest.mark.parametrize("blocks", [(0, 0), ("rows2", 5), ("rows1", 1)])
def test_product_within_float32_rounding(m, n, k, blocks):
    """Every edge: rows past the last strip, columns past the last panel, blocks of k and of rows of every size."""
    x, w = _operands(m, n, k, seed=m + n + k)
    mc = {"rows2": 2 * gemm.ROWS, "rows1": gemm.ROWS}.get(blocks[0], 0)
    out = np.full((m, n), np.nan, np.float32)
    gemm.product(x, gemm.pack_weight(w), out, 0, n, mc, blocks[1])
    _assert_within_rounding(out, x, w)


@pytest.mark.parametrize("m, n, k", [(40, 100, 300), (197, 200, 64)])
def test_product_writes_only_its_columns(m, n, k):
    x, w = _operands(m, n, k, seed=3)
    panels = gemm.pack_weight(w)
    c0, c1 = gemm.PANEL, n - 3                     # from a panel boundary to an odd end
    out = np.full((m, n), np.nan, np.float32)
    gemm.product(x, panels, out, c0, c1, 0, 37)
    assert np.isnan(out[:, :c0]).all() and np.isnan(out[:, c1:]).all()
    _assert_within_rounding(out[:, c0:c1], x, w[c0:c1])


def test_row_blocks_do_not_change_a_single_bit():
    """Each element's sum runs over k in the same order whatever the row blocks (and so whatever the threads)."""
    x, w = _operands(301, 96, 700, seed=5)
    panels = gemm.pack_weight(w)
    outs = []
    for mc in (0, gemm.ROWS, 5 * gemm.ROWS):
        out = np.empty((301, 96), np.float32)
        gemm.product(x, panels, out, 0, 96, mc, 0)
        outs.append(out)
    parts = np.empty((301, 96), np.float32)
    gemm.product(x[:150], panels, parts[:150], 0, 96)
    gemm.product(x[150:], panels, parts[150:], 0, 96)
    for out in outs[1:] + [parts]:
        np.testing.assert_array_equal(out, outs[0])


@pytest.fixture
def no_packed():
    """Each test starts and ends with an empty cache of packed weights."""
    gc.collect()
    before = dict(gemm._entries)
    gemm._entries.clear()
    yield
    gemm._entries.clear()
    gemm._entries.update(before)


def _kept() -> int:
    return sum(entry.panels is not None for entry in gemm._entries.values())


@pytest.mark.parametrize("m, n, k", [(197, 768, 768), (81, 640, 384), (600, 256, 300)])
def test_matmul_wt_runs_the_packed_kernel_with_its_epilogue(no_packed, m, n, k):
    """Columns split (M < N) and rows split (M >= N): the same values as one product call, the epilogue on each band
    equal to applying it to the whole product; every call identical, the first (panels packed for that product
    only) and the later ones (panels kept from the second product on)."""
    x, w = _operands(m, n, k, seed=m)
    rng = np.random.default_rng(1)
    bias, residual = rng.standard_normal(n).astype(np.float32), rng.standard_normal((m, n)).astype(np.float32)
    whole = np.empty((m, n), np.float32)
    gemm.product(x, gemm.pack_weight(w), whole, 0, n)
    expected = P.apply_epilogue(whole.copy(), K.bias_act_epilogue(bias, "gelu", None))
    with P.single_threaded_blas():
        plain = [P.matmul_wt(x, w)]
        assert _kept() == 0 and len(gemm._entries) == 1
        plain += [P.matmul_wt(x, w) for _ in range(2)]
        assert _kept() == 1
        fused = P.matmul_wt(x, w, K.bias_act_epilogue(bias, "gelu", None))
        res = P.matmul_wt(x, w, K.bias_act_epilogue(bias, None, residual))
    for out in plain:
        np.testing.assert_array_equal(out, whole)
    np.testing.assert_array_equal(fused, expected)
    np.testing.assert_array_equal(res, (whole + bias) + residual)
    assert len(gemm._entries) == 1
    _assert_within_rounding(whole, x, w)


@pytest.mark.parametrize("sizes", [(768, 768, 768), (64, 96), (40, 72, 8)])
@pytest.mark.parametrize("k", [33, 300, 1000])
def test_stacked_weights_pack_like_their_concatenation(no_packed, monkeypatch, sizes, k):
    """A stack's first product (each weight packed slice by slice as used) and the later ones (the kept panels of
    the stack, equal to the packing of the concatenated weights) equal the products of each weight side by side."""
    rng = np.random.default_rng(k)
    weights = tuple(rng.standard_normal((n, k)).astype(np.float32) for n in sizes)
    reference = gemm.pack_weight_reference(np.concatenate(weights))
    x = rng.standard_normal((40, k)).astype(np.float32)
    monkeypatch.setattr(gemm, "MIN_SIDE", 1)      # every one of these products on the kernel
    with P.single_threaded_blas():
        outs = [P.matmul_wt(x, weights) for _ in range(3)]          # for this product only, then kept
    assert _kept() == 1
    np.testing.assert_array_equal(gemm.kept_panels(*weights), reference)
    one_by_one = np.concatenate([P.matmul_wt(x, w) for w in weights], axis=1)
    for out in outs:
        np.testing.assert_array_equal(out, one_by_one)
    _assert_within_rounding(outs[0], x, np.concatenate(weights))


@pytest.mark.parametrize("m, n, k", [(50, 100, 300), (197, 768, 1000), (300, 40, 70)])
@pytest.mark.parametrize("kc", [0, 64])
def test_packing_as_it_goes_equals_the_kept_panels(m, n, k, kc):
    """product from w (each panel's slice packed right before use) and from pack_weight's panels: the same bits."""
    x, w = _operands(m, n, k, seed=n)
    a, b = np.empty((m, n), np.float32), np.empty((m, n), np.float32)
    gemm.product(x, None, a, 0, n, 0, kc, w=w)
    gemm.product(x, gemm.pack_weight(w), b, 0, n, 0, kc)
    np.testing.assert_array_equal(a, b)
    c = np.full((m, n + 40), np.nan, np.float32)
    gemm.product(x, None, c, 0, n, 0, kc, w=w, o_col=40)          # written from column 40 on
    np.testing.assert_array_equal(c[:, 40:], a)
    assert np.isnan(c[:, :40]).all()


@pytest.mark.parametrize("m, n, k, dtype", [(gemm.MIN_ROWS - 1, 768, 768, np.float32),
                                            (197, gemm.MIN_SIDE - 1, 768, np.float32),
                                            (197, 768, gemm.MIN_SIDE - 1, np.float32),
                                            (197, 768, 768, np.float64)])
def test_other_products_stay_on_openblas(no_packed, m, n, k, dtype):
    x, w = (a.astype(dtype) for a in _operands(m, n, k))
    with P.single_threaded_blas():
        out = P.matmul_wt(x, w)
    assert not gemm._entries
    np.testing.assert_allclose(out, x @ w.T, rtol=0, atol=1e-3 if dtype == np.float32 else 1e-10)


def test_the_switch_turns_packing_off(no_packed, monkeypatch):
    monkeypatch.setattr(P, "PACKED_GEMM", False)
    x, w = _operands(197, 768, 768)
    with P.single_threaded_blas():
        P.matmul_wt(x, w)
    assert not gemm._entries


def test_packed_copies_live_as_long_as_the_weights(no_packed):
    _, w4 = _operands(64, 512, 256)
    w4 = w4.reshape(512, 256, 1, 1)                 # a 1x1 convolution's weight, used through a fresh view per call
    assert gemm.kept_panels(w4.reshape(512, 256)) is None         # the first product packs for itself
    first = gemm.kept_panels(w4.reshape(512, 256))                # the second keeps its panels
    assert first is not None and gemm.kept_panels(w4.reshape(512, 256)) is first
    np.testing.assert_array_equal(first, gemm.pack_weight_reference(w4.reshape(512, 256)))
    part = w4[256:].reshape(256, 256)               # a view of part of it: an entry of its own
    assert gemm.kept_panels(part) is None
    kept_part = gemm.kept_panels(part)
    assert kept_part is not None and _kept() == 2
    assert gemm.forget([w4[256:]]) == kept_part.nbytes and _kept() == 1
    assert gemm.kept_panels(part) is None           # forgotten: counted afresh
    assert gemm.forget([np.zeros((512, 256), np.float32)]) == 0   # somebody else's array: nothing to drop
    del w4, part
    gc.collect()
    assert not gemm._entries                        # the weight's memory went, and its packed copies with it


def test_threads_packing_the_same_weight_agree(no_packed):
    x, w = _operands(197, 768, 768, seed=9)
    results = [None] * 4

    def run(i):
        with P.single_threaded_blas():
            results[i] = P.matmul_wt(x, w)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for out in results[1:]:
        np.testing.assert_array_equal(out, results[0])
    _assert_within_rounding(results[0], x, w)


def test_the_avx2_tile_where_numba_targets_avx2():
    """The 6 x 16 tile (8 float32 lanes) that Zen 3 and other AVX2 machines get, run here by compiling for znver3
    (no disk cache: kernels compiled for another target must not mix with this machine's)."""
    import os
    import subprocess
    import sys
    env = dict(os.environ, NUMBA_CPU_NAME="znver3", REFALIGN_CACHE_DIR="")
    code = ("from refalign.fast import gemm; assert (gemm.LANES, gemm.ROWS) == (8, 6), (gemm.LANES, gemm.ROWS); "
            "import pytest, sys; sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', '-k', 'not avx2', "
            f"{__file__!r}]))")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert " passed" in done.stdout and "failed" not in done.stdout


@pytest.mark.parametrize("k", [768, 1024, 37])
def test_rows_read_in_place_or_packed_give_the_same_bits(k):
    """A C-contiguous x is read in place (unless its rows are a multiple of 4 KB apart), a strided one packed first:
    the same sums in the same order."""
    x, w = _operands(61, 100, k, seed=k)
    strided = np.empty((61, k + 3), np.float32)[:, :k]
    strided[:] = x
    panels = gemm.pack_weight(w)
    a, b = np.empty((61, 100), np.float32), np.empty((61, 100), np.float32)
    gemm.product(x, panels, a, 0, 100, 0, 500)
    gemm.product(strided, panels, b, 0, 100, 0, 500)
    np.testing.assert_array_equal(a, b)
    _assert_within_rounding(a, x, w)
