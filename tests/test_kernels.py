"""refalign.fast.kernels (Numba) against their readable NumPy twins, on odd shapes, strides, paddings, batches, dtypes
and non-contiguous inputs; then the image tower's fast path against its reference path; then thread safety.
(The transformer layers' fast paths: tests/test_encoder_fast.py.)

Error measure: rel = max|kernel - twin| / max|twin|; float64 <= 1e-12 (same formulas, rounding only), float32
<= 1e-5 (float32 rounding over sums of up to a few hundred terms; the float32 swish uses a polynomial exp, ~1 ulp).
One-hot inputs with power-of-two weights make every product and sum exact, so padding and stride offsets must agree
bit for bit.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from refalign.fast import kernels as K
from refalign import ops
from refalign.towers.efficientnet import conv2d, depthwise_conv2d, depthwise_padding, pad2d

TOL = {np.float64: 1e-12, np.float32: 1e-5}
DTYPES = (np.float32, np.float64)


def _rel(a, b) -> float:
    assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, a.dtype, b.shape, b.dtype)
    scale = float(np.abs(b).max())
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max()) / (scale if scale > 0 else 1.0)


def _bn_params(rng, c, dtype):
    return (rng.uniform(0.5, 1.5, c).astype(dtype), rng.normal(0, 0.3, c).astype(dtype),
            rng.normal(0, 0.3, c).astype(dtype), rng.uniform(0.5, 2.0, c).astype(dtype))


def _nhwc_noncontiguous(x_nchw):
    """An NHWC view of x that is not C-contiguous (a transposed view of a strided slice)."""
    big = np.repeat(x_nchw, 2, axis=3)            # [B, C, H, 2W]
    return big[:, :, :, ::2].transpose(0, 2, 3, 1)  # [B, H, W, C], strides all over the place


# ------------------------------------------------------------------------------------------ depthwise
def _fits(k, stride, adjust, shape) -> bool:
    """Whether a [B, H, W, C] map, once padded, is at least one kernel wide (smaller maps have no output)."""
    _, h, w, _ = shape
    pad = depthwise_padding(k, stride, adjust)
    return h + pad[0] + pad[1] >= k and w + pad[2] + pad[3] >= k


DEPTHWISE_CASES = [(k, stride, adjust, shape) for k in (3, 5) for stride, adjust in ((1, True), (2, True), (2, False))
                   for shape in ((1, 7, 9, 5), (3, 13, 5, 4), (1, 2, 1, 3), (3, 1, 1, 2),
                                 (1, 4, 333, 7), (2, 3, 5, 1100),  # rows of several blocks; one pixel a block
                                 (1, 12, 14, 64), (2, 9, 23, 32))  # rows and columns with every tap inside
                   if _fits(k, stride, adjust, shape)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k,stride,adjust,shape", DEPTHWISE_CASES)
@pytest.mark.parametrize("fold", [True, False])
def test_depthwise_bn_swish_matches_twin(dtype, k, stride, adjust, shape, fold):
    b, h, w, c = shape
    pad = depthwise_padding(k, stride, adjust)
    rng = np.random.default_rng(k * 100 + h * 10 + w)
    x = rng.standard_normal((b, c, h, w)).astype(dtype)           # NCHW, the twin's layout
    wt = rng.standard_normal((c, 1, k, k)).astype(dtype)
    gamma, beta, mean, var = _bn_params(rng, c, dtype)
    ref = ops.swish(ops.batch_norm(depthwise_conv2d(x, wt, stride, pad), gamma, beta, mean, var, 1e-3))
    got, means = K.depthwise_bn_swish(_nhwc_noncontiguous(x), wt, stride, pad,
                                      *K.bn_vectors(gamma, beta, mean, var, 1e-3, fold))
    assert got.shape == (b, ref.shape[2], ref.shape[3], c)
    assert _rel(got.transpose(0, 3, 1, 2), ref) <= TOL[dtype]
    assert _rel(means, ref.mean(axis=(2, 3))) <= TOL[dtype]


@pytest.mark.parametrize("k,stride,adjust", [(3, 1, True), (5, 1, True), (3, 2, True), (5, 2, False)])
@pytest.mark.parametrize("width", [9, 13, 30])
@pytest.mark.parametrize("act", [False, True])
def test_depthwise_register_tiles_equal_the_scalar_loop(k, stride, adjust, width, act):
    """float32 maps of 2 * LANES channels take the register tiles inside the map, then BN, swish and the row sums in
    one vector pass; with one channel more every pixel takes the scalar loops. Same operations in the same order:
    the shared channels agree to the last bit, outputs and means."""
    pad = depthwise_padding(k, stride, adjust)
    rng = np.random.default_rng(width * k)
    block = K._DW_BLOCK
    x = rng.standard_normal((2, 11, width, block + 1)).astype(np.float32)
    wt = rng.standard_normal((block + 1, 1, k, k)).astype(np.float32)
    bn = K.bn_vectors(*_bn_params(rng, block + 1, np.float32), 1e-3, False)   # (a, s, t), a = the running mean
    tiles, tile_means = K.depthwise_bn_swish(np.ascontiguousarray(x[..., :block]), wt[:block], stride, pad,
                                             *(v[:block] for v in bn), act=act)
    scalar, scalar_means = K.depthwise_bn_swish(x, wt, stride, pad, *bn, act=act)
    np.testing.assert_array_equal(tiles, scalar[..., :block])
    np.testing.assert_array_equal(tile_means, scalar_means[:, :block])


@pytest.mark.parametrize("act", [False, True])
@pytest.mark.parametrize("cols,c0,c1", [(3, 0, 3), (3.5, 0, 3), (3.5, 1, 3), (3.5, 0, 3.5)])   # in vectors of LANES
def test_affine_act_vector_pass_equals_the_loops(act, cols, c0, c1):
    """An epilogue block whose width is a multiple of LANES goes through the one-pass vector BN (+ swish): whole rows
    at once (all columns) or row by row; other widths through the loops. The same operations in the same order:
    equal bits."""
    lanes = K._LANES
    cols, c0, c1 = (int(v * lanes) for v in (cols, c0, c1))
    rng = np.random.default_rng(cols + c0 + c1)
    y = (rng.standard_normal((7, cols)) * 4).astype(np.float32)
    a, s, t = (rng.standard_normal(cols).astype(np.float32) for _ in range(3))
    vector, loops = y.copy(), y.copy()
    K.bn_act_epilogue(a, s, t, act=act)(vector, 0, 7, c0, c1)
    for n in range(7):          # the same block in pieces one column short of a vector: the loops
        K.bn_act_epilogue(a, s, t, act=act)(loops, n, n + 1, c0, c1 - 1)
        K.bn_act_epilogue(a, s, t, act=act)(loops, n, n + 1, c1 - 1, c1)
    np.testing.assert_array_equal(vector, loops)
    assert not np.array_equal(vector[:, c0:c1], y[:, c0:c1]) and np.array_equal(vector[:, c1:], y[:, c1:])


@pytest.mark.parametrize("k,stride,adjust", [(3, 1, True), (5, 1, True), (3, 2, True), (5, 2, True), (5, 2, False)])
def test_depthwise_padding_offsets_exact(k, stride, adjust):
    """One-hot inputs, power-of-two weights, identity batch norm, no activation: every sum is exact."""
    pad = depthwise_padding(k, stride, adjust)
    c, h, w = 2, 7, 6
    wt = (2.0 ** -np.arange(k * k * c)).reshape(c, 1, k, k)  # each tap a distinct power of two
    ident = (np.zeros(c), np.ones(c), np.zeros(c))
    for pos in [(0, 0), (h - 1, w - 1), (3, 2), (0, w - 1), (h - 1, 0)]:
        x = np.zeros((1, c, h, w))
        x[0, :, pos[0], pos[1]] = 1.0
        ref = depthwise_conv2d(x, wt, stride, pad)
        got, _ = K.depthwise_bn_swish(x.transpose(0, 2, 3, 1), wt, stride, pad, *ident, act=False)
        np.testing.assert_array_equal(got.transpose(0, 3, 1, 2), ref)


# ------------------------------------------------------------------------------------------ stem
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 7, 9), (3, 13, 5), (1, 4, 4), (3, 3, 3)])
@pytest.mark.parametrize("fold", [True, False])
def test_stem_bn_swish_matches_twin(dtype, shape, fold):
    b, h, w = shape
    rng = np.random.default_rng(h * 10 + w)
    x = rng.standard_normal((b, 3, h, w)).astype(dtype)
    wt = rng.standard_normal((8, 3, 3, 3)).astype(dtype)
    gamma, beta, mean, var = _bn_params(rng, 8, dtype)
    ref = ops.swish(ops.batch_norm(conv2d(pad2d(x, (0, 1, 0, 1)), wt, 2), gamma, beta, mean, var, 1e-3))
    got = K.stem_bn_swish(_nhwc_noncontiguous(x), wt, 2, (0, 1, 0, 1), *K.bn_vectors(gamma, beta, mean, var, 1e-3, fold))
    assert _rel(got.transpose(0, 3, 1, 2), ref) <= TOL[dtype]


def test_stem_padding_offsets_exact():
    wt = (2.0 ** -np.arange(4 * 3 * 9)).reshape(4, 3, 3, 3)
    ident = (np.zeros(4), np.ones(4), np.zeros(4))
    for h, w in [(6, 6), (7, 5)]:
        for pos in [(0, 0), (h - 1, w - 1), (2, 3)]:
            x = np.zeros((1, 3, h, w))
            x[0, 1, pos[0], pos[1]] = 1.0
            ref = ops.swish(conv2d(pad2d(x, (0, 1, 0, 1)), wt, 2))
            got = K.stem_bn_swish(x.transpose(0, 2, 3, 1), wt, 2, (0, 1, 0, 1), *ident)
            assert _rel(got.transpose(0, 3, 1, 2), ref) <= 1e-15  # the conv is exact; swish's exp rounds


# ------------------------------------------------------------------------------------------ elementwise
@pytest.mark.parametrize("fold", [True, False])
def test_bn_vectors_many_equals_one_by_one(fold):
    rng = np.random.default_rng(7)
    layers = [_bn_params(rng, c, np.float32) for c in (1, 64, 7, 3840)]
    for got, layer in zip(K.bn_vectors_many(layers, 1e-3, fold), layers):
        for g, ref in zip(got, K.bn_vectors(*layer, 1e-3, fold)):
            assert g.dtype == ref.dtype and np.array_equal(g, ref)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_is_the_two_branch_formula_without_overflow(dtype):
    x = np.concatenate([np.linspace(-1000, 1000, 20001), [0.0, -0.0, 1e-30, -1e-30]]).astype(dtype)
    ref = np.empty_like(x)  # the textbook stable form, branch by branch
    pos = x >= 0
    ref[pos] = 1 / (1 + np.exp(-x[pos]))
    ref[~pos] = np.exp(x[~pos]) / (1 + np.exp(x[~pos]))
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is the right answer
        got = ops.sigmoid(x)
    assert got.dtype == dtype and np.array_equal(got, ref)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act,residual", [(True, False), (False, True), (False, False)])
@pytest.mark.parametrize("n,c", [(1, 1), (37, 13), (100, 65)])
def test_affine_act_matches_batch_norm(dtype, act, residual, n, c):
    rng = np.random.default_rng(n + c)
    y = (rng.standard_normal((n, c)) * 4).astype(dtype)
    res = rng.standard_normal((n, c)).astype(dtype)
    gamma, beta, mean, var = _bn_params(rng, c, dtype)
    ref = ops.batch_norm(y, gamma, beta, mean, var, 1e-3, channel_axis=1)
    ref = ops.swish(ref) if act else ref
    ref = ref + res if residual else ref
    for fold in (True, False):
        got = K.affine_act_(y.copy(), *K.bn_vectors(gamma, beta, mean, var, 1e-3, fold), act=act,
                            residual=res if residual else None)
        assert _rel(got, ref) <= TOL[dtype]


def test_swish_vectors_equal_their_twin_bit_for_bit():
    """_swish_vectors (LLVM IR, one register at a time) against _swish_row_f32 (the Numba loops it replaces), over
    the whole float32 range that matters, the clamps, infinities and NaN."""
    import numba
    run_vectors = numba.njit(lambda o: K._swish_vectors(o, o.shape[0] // K._LANES))
    x = np.concatenate([np.linspace(-120, 120, 100_000), [0.0, -0.0, 1e-30, -1e-30, 1e-45, 87.3, -87.3, 88.7, -88.7,
                                                          np.inf, -np.inf, np.nan, 3e38, -3e38]])
    x = np.resize(x.astype(np.float32), -(-x.size // K._LANES) * K._LANES)
    vectors, twin = x.copy(), x.copy()
    run_vectors(vectors)
    K._swish_row_f32(twin, np.empty_like(twin), np.empty(twin.size, np.int32))
    np.testing.assert_array_equal(vectors, twin)
    assert not np.array_equal(vectors[:100], x[:100])


@pytest.mark.parametrize("dtype", DTYPES)
def test_float32_swish_extremes(dtype):
    x = np.concatenate([np.linspace(-120, 120, 4001), [0.0, -0.0, 1e-30, -1e-30]]).astype(dtype)[None]
    got = K.affine_act_(x.copy(), np.zeros(x.shape[1], dtype), np.ones(x.shape[1], dtype),
                        np.zeros(x.shape[1], dtype), act=True)
    ref = ops.swish(x.astype(np.float64))
    assert np.all(np.isfinite(got))
    assert np.abs(got - ref).max() <= 4 * np.finfo(dtype).eps * np.maximum(np.abs(ref), 1e-30).max()
    big = np.abs(ref) > 1e-20
    assert (np.abs(got - ref)[big] / np.abs(ref[big])).max() <= (1e-6 if dtype == np.float32 else 1e-14)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1, 5), (3, 7, 13), (2, 64, 768)])
@pytest.mark.parametrize("residual", [True, False])
def test_layer_norm_residual_matches_twin(dtype, shape, residual):
    rng = np.random.default_rng(shape[-1])
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    r = rng.standard_normal(shape).astype(dtype)
    w, b = rng.standard_normal(shape[-1]).astype(dtype), rng.standard_normal(shape[-1]).astype(dtype)
    ref = ops.layer_norm(x + r if residual else x, w, b, 1e-12)
    got = K.layer_norm_residual(x[..., ::-1][..., ::-1], r if residual else None, w, b, 1e-12)  # non-contiguous-safe
    assert _rel(got, ref) <= TOL[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
def test_bias_gelu_matches_twin(dtype):
    rng = np.random.default_rng(1)
    y = (rng.standard_normal((13, 31)) * 3).astype(dtype)
    b = rng.standard_normal(31).astype(dtype)
    assert _rel(K.bias_gelu_(y.copy(), b), ops.gelu(y + b)) <= TOL[dtype]
    # over the range, elementwise relative to the float64 formula.  float32: the erfc fit (< 1.2e-7) plus the float32
    # rounding of its exponent -u^2 (~ulp(u^2) = 1e-6 at x = -4.5); the float32 twin itself cancels there (~1e-2).
    # Below x = -5 the formula itself cancels (1 + erf(x/sqrt 2) < 6e-7 from float64 terms near 1): absolute there.
    x = np.concatenate([np.linspace(-30, 30, 6001), [0.0, 1e-20, -1e-20]]).astype(dtype)[None]
    got, ref = K.bias_gelu_(x.copy(), np.zeros(x.shape[1], dtype)), ops.gelu(x.astype(np.float64))
    sig = (np.abs(ref) > 1e-30) & (x > -5)
    assert (np.abs(got - ref)[sig] / np.abs(ref[sig])).max() <= (5e-6 if dtype == np.float32 else 1e-14)
    assert np.abs(got - ref)[x <= -5].max() <= 1e-6


@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize("m,n,k", [(5, 17, 9), (17, 5, 9), (1, 1, 9), (81, 2304, 384), (5184, 48, 288),
                                   (333, 331, 97), (3, 4000, 600)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_wt_whole_and_split(m, n, k, split, dtype):
    """parallel.matmul_wt == x @ w.T (C-contiguous), whole or split over threads in bands of rows (M >= N) or columns."""
    from refalign.fast import parallel
    rng = np.random.default_rng(m * n)
    x, w = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((n, k)).astype(dtype)
    ref = x.astype(np.float64) @ w.astype(np.float64).T
    if split:
        with parallel.single_threaded_blas():
            got = parallel.matmul_wt(x, w)
    else:
        got = parallel.matmul_wt(x, w)
    assert got.flags.c_contiguous and got.dtype == dtype and got.shape == (m, n)
    tol = 1e-13 if dtype == np.float64 else 1e-5
    assert np.abs(got - ref).max() <= tol * np.sqrt(k) * np.abs(ref).max()


@pytest.mark.parametrize("blas_control", [True, False])  # False: a BLAS whose thread count refalign cannot set
@pytest.mark.parametrize("m,n", [(600, 97), (97, 600), (5, 3)])  # bands of rows, bands of columns, unsplit
@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_wt_epilogues_on_every_band(m, n, dtype, blas_control, monkeypatch):
    """matmul_wt's per-band epilogues: BN + swish + residual (1x1 convs) and bias + GELU (dense layers)."""
    from refalign.fast import parallel
    monkeypatch.setattr(parallel, "AVAILABLE", parallel.AVAILABLE and blas_control)
    rng = np.random.default_rng(m + n)
    x, w = rng.standard_normal((m, 300)).astype(dtype), (rng.standard_normal((n, 300)) / 17).astype(dtype)
    gamma, beta, mean, var = _bn_params(rng, n, dtype)
    res, bias = rng.standard_normal((m, n)).astype(dtype), rng.standard_normal(n).astype(dtype)
    prod = x.astype(np.float64) @ w.astype(np.float64).T
    bn_ref = ops.swish(ops.batch_norm(prod, *(v.astype(np.float64) for v in (gamma, beta, mean, var)), 1e-3,
                                      channel_axis=1)) + res
    with parallel.single_threaded_blas():
        got_bn = parallel.matmul_wt(x, w, K.bn_act_epilogue(*K.bn_vectors(gamma, beta, mean, var, 1e-3, True),
                                                            act=True, residual=res))
        got_gelu = parallel.matmul_wt(x, w, K.bias_act_epilogue(bias, "gelu"))
        got_bias = parallel.matmul_wt(x, w, K.bias_act_epilogue(bias))
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert _rel(got_bn.astype(np.float64), bn_ref) <= tol
    assert _rel(got_gelu.astype(np.float64), ops.gelu(prod + bias)) <= tol
    assert _rel(got_bias.astype(np.float64), prod + bias) <= tol


def test_openblas_threads_restored_after_nested_and_concurrent_use():
    """single_threaded_blas nests and overlaps across threads; OpenBLAS's own thread count comes back after."""
    import threading
    from refalign.fast import parallel
    # NumPy's PyPI wheels (what CI installs) bundle OpenBLAS; a NumPy on MKL or Accelerate has no such control
    assert parallel.AVAILABLE, "refalign.fast.parallel found no OpenBLAS thread control in NumPy's BLAS"
    get = parallel._CONTROL[0]
    before = get()
    errors = []

    def worker():
        try:
            for _ in range(20):
                with parallel.single_threaded_blas():
                    assert get() == 1
                    with parallel.single_threaded_blas():
                        parallel.matmul_wt(np.ones((300, 200)), np.ones((100, 200)))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and parallel._users == 0 and get() == before


def test_a_model_forward_places_its_threads_and_gives_the_callers_cpus_back(tiny, monkeypatch):
    """Every forward (the model's methods, and each tower's fast path inside them) runs inside forward_threads:
    OpenBLAS single-threaded and the caller pinned to one CPU throughout, the projection and heads included;
    afterwards the caller's CPU set and OpenBLAS's thread count are what they were."""
    import os
    import threading
    from refalign.fast import parallel, workers
    from refalign.models import align
    entered, in_head, errors = [], [], []

    class recorded(workers.placed):
        def __enter__(self):
            placed = super().__enter__()
            entered.append((os.sched_getaffinity(0), parallel._CONTROL[0]()))
            return placed

    project = align.linear

    def head(*args):    # ALIGN's text projection: the head after the tower
        in_head.append((os.sched_getaffinity(0), parallel._CONTROL[0]()))
        return project(*args)

    monkeypatch.setattr(parallel, "placed", recorded)
    monkeypatch.setattr(align, "linear", head)
    outside = []

    def forward():
        try:
            before = os.sched_getaffinity(0)
            tiny.get_image_features(np.zeros((1, 3, 33, 33)))
            tiny.get_text_features(np.array([[101, 7, 102]]))
            outside.append((before, os.sched_getaffinity(0)))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    blas_before = parallel._CONTROL[0]()
    t = threading.Thread(target=forward)
    t.start()
    t.join(120)
    assert not errors, errors
    assert len(entered) >= 4 and len(in_head) == 1     # model and tower level, for each of the two calls
    assert all(len(cpus) == 1 and blas_threads == 1 for cpus, blas_threads in entered + in_head)
    (before, after), = outside
    assert after == before and parallel._CONTROL[0]() == blas_before


# ------------------------------------------------------------------------------------------ whole towers
@pytest.fixture(scope="module")
def tiny(tiny_dir):
    from refalign import AlignModel
    return AlignModel.from_pretrained(tiny_dir, dtype=np.float64)  # cast per test to the dtype under test


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bsz,h,w", [(1, 33, 33), (3, 61, 47), (3, 32, 32)])
@pytest.mark.parametrize("threads", ["default", "band_everything", "no_blas_control"])
def test_vision_fast_path_matches_reference(tiny, dtype, bsz, h, w, threads, monkeypatch):
    from refalign.fast import parallel
    from refalign.towers import efficientnet as V
    if threads == "band_everything":  # every product and kernel cut into bands, however small
        monkeypatch.setattr(parallel, "_MIN_SPLIT_FLOPS", 0)
        monkeypatch.setattr(parallel, "_MIN_SPLIT_VALUES", 0)
    if threads == "no_blas_control":
        monkeypatch.setattr(parallel, "AVAILABLE", False)
    params = {k: v.astype(dtype) for k, v in tiny.params.items()}
    cfg = tiny.config.vision_config
    px = np.random.default_rng(h).standard_normal((bsz, 3, h, w)).astype(dtype)
    got, got_hidden = V._blocks_nhwc(params, cfg, px, "vision_model.", True)
    ref, ref_hidden = V._blocks_reference(params, cfg, px, "vision_model.", True)
    assert len(got_hidden) == len(ref_hidden) > 2
    for a, b in zip(got_hidden + [got], ref_hidden + [ref]):
        assert a.flags.c_contiguous
        assert _rel(a, b) <= 10 * TOL[dtype]  # ~20 chained layers of rounding
    assert got is got_hidden[-1]
    last, none = V._blocks_nhwc(params, cfg, px, "vision_model.", False)
    assert none is None
    np.testing.assert_array_equal(last, got)


def test_derived_weights_kept_while_the_arrays_are_the_same(tiny):
    """The fast path's BN vectors and depthwise taps are made once and reused while every array they come from is
    the same object; a replaced array is seen by the next forward (equal to the reference on the new values); what
    was kept goes with the weights."""
    import gc
    from refalign.towers import efficientnet as V
    params = {k: v.astype(np.float32) for k, v in tiny.params.items()}
    cfg = tiny.config.vision_config
    px = np.random.default_rng(3).standard_normal((1, 3, 33, 33)).astype(np.float32)
    from refalign.fast import kept
    before = kept.count()
    first, _ = V._blocks_nhwc(params, cfg, px, "vision_model.", False)
    made = kept.count() - before                 # the BN vectors and each block's depthwise taps
    vectors = V._batch_norm_vectors(params, *_bn_args(tiny, params))
    second, _ = V._blocks_nhwc(params, cfg, px, "vision_model.", False)
    assert made == 1 + len(V.block_specs(cfg)) and kept.count() - before == made
    assert V._batch_norm_vectors(params, *_bn_args(tiny, params)) is vectors
    np.testing.assert_array_equal(first, second)

    for name in ("vision_model.encoder.blocks.0.depthwise_conv.depthwise_norm.running_var",
                 "vision_model.encoder.blocks.1.depthwise_conv.depthwise_conv.weight"):
        params[name] = params[name] * np.float32(3.0)                 # new arrays: made anew
    third, _ = V._blocks_nhwc(params, cfg, px, "vision_model.", False)
    ref, _ = V._blocks_reference(params, cfg, px, "vision_model.", False)
    assert V._batch_norm_vectors(params, *_bn_args(tiny, params)) is not vectors
    assert _rel(third, ref) <= 10 * TOL[np.float32] and _rel(third, first) > 1e-3

    del params, vectors, first, second, third
    gc.collect()
    assert kept.count() == before                # gone with the arrays they came from


def _bn_args(tiny, params):
    """_batch_norm_vectors' other arguments, as the float32 fast path passes them."""
    from refalign.towers import efficientnet as V
    cfg, prefix = tiny.config.vision_config, "vision_model."
    names = [prefix + "embeddings.batchnorm"] + [
        f"{prefix}encoder.blocks.{spec.index}.{module}" for spec in V.block_specs(cfg)
        for module in (("expansion.expand_bn",) if spec.expand else ()) + ("depthwise_conv.depthwise_norm",
                                                                            "projection.project_bn")]
    return names, cfg.batch_norm_eps, True


# ------------------------------------------------------------------------------------------ threads
THREADS_SCRIPT = textwrap.dedent("""
    import sys, threading
    import numpy as np
    from refalign import AlignModel
    from refalign.towers.bert import bert_forward
    from refalign.towers.efficientnet import efficientnet_forward
    m = AlignModel.from_pretrained(sys.argv[1])
    vc, tc = m.config.vision_config, m.config.text_config
    rng = np.random.default_rng(0)
    px = [rng.standard_normal((2, 3, 40 + 3 * i, 37)).astype(np.float32) for i in range(4)]
    ids = [rng.integers(0, tc.vocab_size, (3, 9 + i)) for i in range(4)]
    def run(i):
        return (efficientnet_forward(m.params, vc, px[i]).pooler_output,
                bert_forward(m.params, tc, ids[i]).last_hidden_state)
    serial = [run(i) for i in range(4)]
    results = [[None] * 4 for _ in range(3)]
    def worker(rep, i):
        for _ in range(3):
            results[rep][i] = run(i)
    threads = [threading.Thread(target=worker, args=(rep, i)) for rep in range(3) for i in range(4)]
    for t in threads: t.start()
    for t in threads: t.join()
    for rep in range(3):
        for i in range(4):
            for a, b in zip(results[rep][i], serial[i]):
                assert np.array_equal(a, b), (rep, i)
    from numba.np.ufunc import parallel as numba_parallel
    assert not numba_parallel._is_initialized, "a Numba threading layer was started"
    print("THREADS OK")
""")


@pytest.mark.parametrize("layer", ["workqueue", "default"])
def test_concurrent_forwards_from_threads_are_safe_and_identical(tiny_dir, layer):
    """12 threads (4 distinct inputs) call vision_forward and text_forward directly (no AlignModel lock), under
    either Numba threading layer the user may have picked.  refalign's kernels are serial nogil functions banded
    over its own threads (refalign.fast.parallel), so no layer is ever started: a process abort ("workqueue" aborts on
    concurrent launches) or a hang would show here as a failed subprocess instead of killing pytest."""
    env = dict(os.environ, NUMBA_NUM_THREADS="2", NUMBA_THREADING_LAYER=layer)
    r = subprocess.run([sys.executable, "-c", THREADS_SCRIPT, str(tiny_dir)], capture_output=True, text=True,
                       env=env, timeout=600)
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}"
    assert "THREADS OK" in r.stdout
