"""float32 products x @ w.T against weights packed once, for the few-row products of the towers (50-257 tokens of an
image, 81 pixels of ALIGN's last stages), where OpenBLAS repacks the whole weight matrix on every call.

    pack_weight(w)                       w [N, K] -> panels [ceil(N / PANEL), K, PANEL], zero-padded (twin:
                                         pack_weight_reference)
    product(x, wp, out, c0, c1)          out[:, c0:c1] = x @ w[c0:c1].T from the packed panels (twin: x @ w.T);
                                         product_kernel with its scratch
    kept_panels(w) / kept_panels(q, k, v)
                                         w's panels (or those of weights stacked along N), packed and kept from
                                         their second product on; None before (product then packs as it goes)

How the product runs (the blocking of BLIS / Goto's GEMM, with the weight side packed ahead of time):

    for each block of MC rows of x, for each block of KC columns of x (the reduction axis):
        pack x[rows, ks] into strips of ROWS rows, k-major: [ROWS values for k, ROWS values for k+1, ...]
            (only where needed: a C-contiguous x is read in place, see product)
        for each panel of PANEL output columns, for each strip:       (the panel's KC x PANEL slice stays in L2)
            micro-kernel: a ROWS x PANEL tile of out, accumulated in registers over the KC values of k

The micro-kernel (_micro_tile) is written in LLVM IR: ROWS x (PANEL / LANES) vector accumulators of LANES floats
(12 x 2 x 16 = 24 of the 32 AVX-512 registers; 6 x 2 x 8 = 12 of AVX2's 16), each step of k loads two vectors of the
panel, broadcasts ROWS values of x and does one fused multiply-add per accumulator (~90% of the FMA units' peak
here: 104 GFLOP/s on one core). A tile that crosses the edge of out (rows past M, columns past N) goes through a
scratch tile.  Sums run in a different order than OpenBLAS's, so results differ from `x @ w.T` by float32 rounding
(bounded in tests/test_gemm.py), not more.

OpenBLAS packs the weights inside every call. Here a weight's first product packs each slice of it into a small
buffer right before use, in cache, the way OpenBLAS does (a one-shot forward: no copy written or kept); from its
second product on it is packed whole into memory of its own and kept while the weight's memory lives; its memory-mapped file pages are then
released, so the packed copy takes their place in memory rather than adding to it (weights held in ordinary memory
-- converted from bfloat16, or arrays given by the caller -- stay beside their packed copies).  Every product of a
weight runs the same kernel on the same panels, so repeated calls give identical results. refalign treats loaded
weights as read-only (as memory.release_pages does): a weight edited in place after its second product is not seen
by later products unless `forget([weight])` drops its packed copy.
"""
from __future__ import annotations

import mmap
import threading
import weakref

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic
from numpy.typing import NDArray

from ..memory import release_pages
from . import jit, llvm_ir


# register tile: ROWS rows of x by PANEL output columns, as PANEL / LANES vectors of LANES float32 per row
LANES, ROWS = llvm_ir.LANES, (12 if llvm_ir.AVX512 else 6)
VECTORS = 2
PANEL = LANES * VECTORS
KC = 768        # reduction block (measured on the 2-core AVX-512 machine: 256 -> 768 gains 2-5%)
MC = 132        # rows of x packed at once, at most: MC x KC float32 = 396 KB, in L2 (a core has 1 MB)

MIN_ROWS = 16   # fewer rows than this: OpenBLAS (a product of one or a few rows is memory-bound anyway)
MIN_SIDE = 160  # fewer output columns or a shorter reduction than this: OpenBLAS (measured on ALIGN's products
                # against OpenBLAS, x read in place: N or K = 32-80 lose 0-15%, 160 and 224 win 11-18%)


@intrinsic
def _micro_tile(typingctx, kc, xs, xoff, x_step_k, x_step_i, wp, woff, out, ooff, ldo, accumulate):
    """out[ooff + i * ldo + j] (+)= sum over k < kc of xs[xoff + k * x_step_k + i * x_step_i] * wp[woff + k * PANEL + j]
    for the ROWS x PANEL tile (i < ROWS, j < PANEL); `accumulate` != 0 adds to what out holds. xs, wp, out: 1-D
    float32. x is read packed (steps ROWS, 1) or straight from its rows (steps 1, row length)."""
    sig = types.void(kc, xs, xoff, x_step_k, x_step_i, wp, woff, out, ooff, ldo, accumulate)

    def codegen(context, builder, signature, args):
        kc, xs, xoff, x_step_k, x_step_i, wp, woff, out, ooff, ldo, accumulate = args
        i64, i32, const = llvm_ir.I64, llvm_ir.I32, llvm_ir.const
        vec = llvm_ir.float_vector()

        def data(position, array, offset):
            return llvm_ir.data_pointer(context, builder, signature, position, array, offset)

        def vector_at(base, offset):
            return llvm_ir.vector_pointer(builder, base, offset, vec)

        x_base, w_base, o_base = data(1, xs, xoff), data(5, wp, woff), data(7, out, ooff)
        x_rows = [builder.mul(x_step_i, const(i)) for i in range(ROWS)]
        fmuladd = builder.module.declare_intrinsic(f"llvm.fmuladd.v{LANES}f32", (), ir.FunctionType(vec, [vec] * 3))
        zero = ir.Constant(vec, None)

        # ask for the tile's lines of out now, for writing: they arrive while the k loop runs (out is often memory
        # no recent product touched: measured 2-4% on products into outputs out of cache, none when in cache)
        byte_pointer = ir.PointerType(ir.IntType(8))
        prefetch = builder.module.declare_intrinsic("llvm.prefetch.p0", (), ir.FunctionType(
            ir.VoidType(), [byte_pointer, i32, i32, i32]))     # (address, write, locality: keep, data cache)
        for i in range(ROWS):
            row = builder.gep(o_base, [builder.mul(ldo, const(i))])
            for line in range(0, PANEL * 4, 64):
                address = builder.bitcast(builder.gep(row, [const(line // 4)]), byte_pointer)
                builder.call(prefetch, [address, ir.Constant(i32, 1), ir.Constant(i32, 3), ir.Constant(i32, 1)])

        entry = builder.block
        loop, done = builder.append_basic_block("k_loop"), builder.append_basic_block("k_done")
        builder.cbranch(builder.icmp_signed(">", kc, const(0)), loop, done)

        builder.position_at_end(loop)            # one step of k: PANEL values of w, ROWS of x, ROWS * VECTORS FMAs
        k = builder.phi(i64)
        acc = [[builder.phi(vec) for _ in range(VECTORS)] for _ in range(ROWS)]
        w_k = builder.gep(w_base, [builder.mul(k, const(PANEL))])
        x_k = builder.gep(x_base, [builder.mul(k, x_step_k)])
        w_vectors = [builder.load(vector_at(w_k, const(j * LANES)), align=4) for j in range(VECTORS)]
        new = []
        for i in range(ROWS):
            splat = llvm_ir.splat(builder, builder.load(builder.gep(x_k, [x_rows[i]]), align=4), vec)
            new.append([builder.call(fmuladd, [splat, w_vectors[j], acc[i][j]]) for j in range(VECTORS)])
        k_next = builder.add(k, const(1))
        k.add_incoming(const(0), entry)
        k.add_incoming(k_next, loop)
        for i in range(ROWS):
            for j in range(VECTORS):
                acc[i][j].add_incoming(zero, entry)
                acc[i][j].add_incoming(new[i][j], loop)
        builder.cbranch(builder.icmp_signed("<", k_next, kc), loop, done)

        builder.position_at_end(done)
        result = [[builder.phi(vec) for _ in range(VECTORS)] for _ in range(ROWS)]
        for i in range(ROWS):
            for j in range(VECTORS):
                result[i][j].add_incoming(zero, entry)
                result[i][j].add_incoming(new[i][j], loop)

        def store(add: bool) -> None:
            for i in range(ROWS):
                row = builder.gep(o_base, [builder.mul(ldo, const(i))])
                for j in range(VECTORS):
                    ptr = vector_at(row, const(j * LANES))
                    value = builder.fadd(builder.load(ptr, align=4), result[i][j]) if add else result[i][j]
                    builder.store(value, ptr, align=4)

        with builder.if_else(builder.icmp_signed("!=", accumulate, const(0))) as (then, otherwise):
            with then:
                store(True)
            with otherwise:
                store(False)
        return context.get_dummy_value()

    return sig, codegen


@jit.njit(nogil=True)
def pack_panels(w, out, p0, p1):
    """Panels p0..p1 of pack_weight: out[p, k, j] = w[p * PANEL + j, k] (0 past the last row of w)."""
    n, k = w.shape
    for p in range(p0, p1):
        cols = min(PANEL, n - p * PANEL)
        for kk in range(k):          # written in order; read as PANEL streams along the rows of w
            for j in range(cols):
                out[p, kk, j] = w[p * PANEL + j, kk]
            for j in range(cols, PANEL):
                out[p, kk, j] = 0.0


def pack_weight(w: NDArray) -> NDArray:
    """w [N, K] float32 -> [ceil(N / PANEL), K, PANEL]: panel p holds output columns p * PANEL ... + PANEL - 1,
    k-major (the PANEL weights of one k side by side), zeros past column N."""
    from .parallel import run_bands
    n, k = w.shape
    panels = -(-n // PANEL)
    out = _unshared_memory(panels * k * PANEL).reshape(panels, k, PANEL)
    run_bands(lambda p0, p1: pack_panels(w, out, p0, p1), panels, panels * k * PANEL)
    return out


def _unshared_memory(count: int) -> NDArray:
    """count float32 in a memory mapping of their own, returned to the OS when the array goes (memory from malloc's
    heap may stay in the process after free, and forget / release_weight_pages promise it leaves)."""
    if count == 0:
        return np.empty(0, np.float32)
    return np.frombuffer(mmap.mmap(-1, count * 4), np.float32)


def pack_weight_reference(w: NDArray) -> NDArray:
    """NumPy twin of pack_weight."""
    n, k = w.shape
    padded = np.zeros((-(-n // PANEL) * PANEL, k), np.float32)
    padded[:n] = w
    return np.ascontiguousarray(padded.reshape(-1, PANEL, k).transpose(0, 2, 1))


@jit.njit(nogil=True)
def product_kernel(x, x_rows, wp, w, out, c0, c1, o_col, xbuf, wbuf, tile, mc_block, kc_block):
    """out[:, o_col + c0 : o_col + c1] = x @ w[c0:c1].T; c0 a multiple of PANEL. The weights come packed, wp =
    pack_weight(w), or, when wp is empty, from w [N, K] itself: each panel's KC x PANEL slice is packed into wbuf
    right before its tiles use it (in cache, like OpenBLAS's own packing; the same panels, so the same values).
    x [M, K] float32; x_rows: x.reshape(-1) to read full strips of x in place, or empty to pack them; out C-contiguous
    float32; blocks of mc_block rows (a multiple of ROWS) by kc_block values of k (MC, KC); scratch: xbuf >= mc_block
    * kc_block, wbuf >= kc_block * PANEL (when w is used), tile >= ROWS * PANEL float32."""
    m, k = x.shape
    n = out.shape[1]
    flat, wflat = out.reshape(-1), wp.reshape(-1)
    direct = x_rows.shape[0] == m * k         # x_rows: x as one row (C-contiguous x), or empty
    from_w = wflat.shape[0] == 0
    rows_4k_apart = w.shape[0] > 0 and (w.strides[0] % 4096) == 0
    xflat = x_rows if direct else xbuf
    for r0 in range(0, m, mc_block):
        mc = min(mc_block, m - r0)
        strips = -(-mc // ROWS)
        for k0 in range(0, k, kc_block):
            kc = min(kc_block, k - k0)
            for s in range(strips):                   # x[r0:r0+mc, k0:k0+kc] -> strips of ROWS rows, k-major
                base, first = s * kc * ROWS, r0 + s * ROWS
                if direct and first + ROWS <= r0 + mc:
                    continue                          # a full strip read straight from x
                for kk in range(kc):
                    for i in range(ROWS):
                        xbuf[base + kk * ROWS + i] = x[first + i, k0 + kk] if first + i < r0 + mc else 0.0
            accumulate = 1 if k0 > 0 else 0
            for p in range(c0 // PANEL, -(-c1 // PANEL)):
                col = p * PANEL
                cols = min(PANEL, c1 - col)
                if from_w:                            # this panel's slice: wbuf[kk * PANEL + j] = w[col + j, k0 + kk]
                    if cols == PANEL and rows_4k_apart:   # one row of w at a time (the rows share L1 sets)
                        for j in range(PANEL):
                            wr = w[col + j, k0:k0 + kc]
                            for kk in range(kc):
                                wbuf[kk * PANEL + j] = wr[kk]
                    elif cols == PANEL:               # PANEL rows at a time (gathers, written in order)
                        for kk in range(kc):
                            for j in range(PANEL):
                                wbuf[kk * PANEL + j] = w[col + j, k0 + kk]
                    else:
                        for kk in range(kc):
                            for j in range(PANEL):
                                wbuf[kk * PANEL + j] = w[col + j, k0 + kk] if j < cols else 0.0
                    wsrc, w_off = wbuf, 0
                else:
                    wsrc, w_off = wflat, (p * k + k0) * PANEL
                for s in range(strips):
                    row = r0 + s * ROWS
                    rows = min(ROWS, r0 + mc - row)
                    if direct and rows == ROWS:
                        xsrc, xo, sk, si = xflat, row * k + k0, 1, k
                    else:
                        xsrc, xo, sk, si = xbuf, s * kc * ROWS, ROWS, 1
                    if rows == ROWS and cols == PANEL:
                        _micro_tile(kc, xsrc, xo, sk, si, wsrc, w_off, flat, row * n + o_col + col, n, accumulate)
                    else:                             # an edge tile: through the scratch tile
                        _micro_tile(kc, xsrc, xo, sk, si, wsrc, w_off, tile, 0, PANEL, 0)
                        for i in range(rows):
                            for j in range(cols):
                                if accumulate:
                                    out[row + i, o_col + col + j] += tile[i * PANEL + j]
                                else:
                                    out[row + i, o_col + col + j] = tile[i * PANEL + j]


_NO_PANELS = np.empty((0, 0, PANEL), np.float32)
_NO_WEIGHTS = np.empty((0, 0), np.float32)


def product(x: NDArray, wp: NDArray | None, out: NDArray, c0: int, c1: int, mc_block: int = 0, kc_block: int = 0,
            w: NDArray | None = None, o_col: int = 0) -> None:
    """product_kernel with its scratch: from the panels wp, or (wp None) from w packed slice by slice; blocks of up
    to MC rows (of equal size, e.g. 197 rows = 2 x 99 rather than 132 + 65) by KC values of k, unless given."""
    if not mc_block:
        blocks = -(-x.shape[0] // MC)
        mc_block = -(-(-(-x.shape[0] // blocks)) // ROWS) * ROWS
    kc_block = kc_block or KC
    # full strips of a C-contiguous x are read in place, unless its rows are a multiple of 4 KB apart (then a
    # strip's ROWS rows share one set of the L1 cache and evict each other: measured 3-4% slower than packing)
    direct = x.flags.c_contiguous and (x.shape[1] * 4) % 4096 != 0
    x_rows = x.reshape(-1) if direct else np.empty(0, np.float32)
    product_kernel(x, x_rows, _NO_PANELS if wp is None else wp, _NO_WEIGHTS if w is None else w, out, c0, c1, o_col,
                   np.empty(mc_block * kc_block, np.float32),
                   np.empty(kc_block * PANEL if wp is None else 0, np.float32), np.empty(ROWS * PANEL, np.float32),
                   mc_block, kc_block)


# ---- the cache of packed weights ------------------------------------------------------------------------------

PACK_ON_USE = 2   # weights are packed and kept from this product of them on; before, packed for one product only


class _Entry:
    __slots__ = ("uses", "panels")

    def __init__(self):
        self.uses, self.panels = 0, None


_lock = threading.Lock()
_entries: dict[tuple, _Entry] = {}
_watched: set[int] = set()   # ids of the owner arrays with a finalizer that drops their entries


def _owner(w: NDArray) -> NDArray:
    """The outermost ndarray w's memory belongs to (a view's views share it; it lives as long as the weights)."""
    while isinstance(w.base, np.ndarray):
        w = w.base
    return w


def _key(w: NDArray, owner: NDArray) -> tuple:
    return id(owner), w.__array_interface__["data"][0], w.shape, w.strides


def _drop_owner(owner_id: int) -> None:
    with _lock:
        for key in [key for key in _entries if any(part[0] == owner_id for part in key)]:
            del _entries[key]
        _watched.discard(owner_id)


def _entry(weights: tuple[NDArray, ...]) -> _Entry:
    owners = [_owner(w) for w in weights]
    key = tuple(_key(w, owner) for w, owner in zip(weights, owners))
    with _lock:
        entry = _entries.get(key)
        if entry is None:
            entry = _entries[key] = _Entry()
            for owner in owners:
                if id(owner) not in _watched:
                    _watched.add(id(owner))
                    weakref.finalize(owner, _drop_owner, id(owner))
        return entry


def kept_panels(*weights: NDArray) -> NDArray | None:
    """The panels of the weights stacked along N (pack_weight), kept while their memory lives: packed now if this is
    their PACK_ON_USE-th product. None before that (the use is counted): the product then packs each slice of the
    weights as it goes (product with w), as OpenBLAS does on every call -- a one-shot forward neither writes nor
    keeps a copy. Either way the kernel sees the same panels: the same values."""
    entry = _entry(weights)
    with _lock:
        if entry.panels is not None:
            return entry.panels
        entry.uses += 1
        if entry.uses < PACK_ON_USE:
            return None
    panels = packed(*weights)
    with _lock:
        entry.panels = panels
    return panels


def packed(*weights: NDArray) -> NDArray:
    """New panels of the weights stacked along N, in memory of their own; the weights' file pages are released (the
    packed copy replaces them in memory)."""
    panels = pack_weight(weights[0] if len(weights) == 1 else np.concatenate(weights))
    release_pages(weights)
    return panels


def forget(arrays) -> int:
    """Drop the packed copies (and use counts) of these weights and of any view into them; returns the bytes
    freed."""
    spans = [(id(_owner(w)), w.__array_interface__["data"][0], w.nbytes) for w in arrays
             if isinstance(w, np.ndarray) and w.size]
    freed = 0
    with _lock:
        for key in [key for key in _entries if any(part[0] == owner and start <= part[1] < start + size
                                                   for part in key for owner, start, size in spans)]:
            entry = _entries.pop(key)
            freed += entry.panels.nbytes if entry.panels is not None else 0
    return freed
