"""Numba kernels for the hot loops of both towers, each beside the readable NumPy function it must equal.

    NumPy twin (the maths, readable)               kernel (fast; tested against the twin in tests/test_kernels.py)
    efficientnet.stem_conv + batch_norm + swish    stem_bn_swish        NHWC, one pass
    efficientnet.depthwise_conv2d + BN + swish     depthwise_bn_swish   NHWC, one pass, also the SE channel means
    ops.batch_norm (+ swish, + residual)           bn_act_epilogue      on each band of a 1x1 conv's product
                                                   affine_act_          the same over a whole [pixels, channels] array
    ops.layer_norm(x + residual)                   layer_norm_residual  one pass per row
    linear's bias (+ ops.gelu / ops.quick_gelu,    bias_act_epilogue    on each band of a dense layer's product
                   + the residual add)
                                                   bias_gelu_           the same over a whole array
    ops.softmax of layers.attention's scores       softmax_             in place, scale and padding mask fused
Attention's two products stay BLAS calls (refalign.fast.encoder runs them per head, in cache-sized blocks): a Numba
scores/softmax/probs@v kernel measured 3x slower than BLAS products.

Inside the kernels the image tower's activations are NHWC ([batch, height, width, channels]): the channel axis is
the contiguous one, so every inner loop runs over channels with independent accumulators and vectorizes without
reassociating a sum (float64 results equal the twins' to rounding; the only fastmath flag is "contract" in the
float32 swish; error_model="numpy" only drops the zero-divisor check so that divisions vectorize -- the one
division, in swish, is by 1 + e^-x >= 1).
1x1 convolutions are BLAS products on the same layout: [B*H*W, C_in] @ W[C_out, C_in].T.

Batch norm is passed to the kernels as three per-channel vectors, y = (x - a) * s + t:
    float64 (the oracle)    a = running_mean, s = gamma / sqrt(var + eps), t = beta      (ops.batch_norm's formula)
    float32 (folded)        a = 0,            s = gamma / sqrt(var + eps), t = beta - mean * s
`bn_vectors` makes them; they are small (one value per channel), so they are recomputed per call and never go stale.

Threads: every kernel here is serial, compiled with nogil=True, and takes the band [r0, r1) of its outer loop as
its last two arguments (the epilogues: a block of rows r0:r1 and columns c0:c1); the wrappers run one band per
thread through refalign.fast.parallel (see there for why not Numba's parallel=True).  Kernels compile lazily, on their
first call per signature, and are cached on disk in a per-user folder (refalign.jit).
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic
from numpy.typing import NDArray

from . import jit, llvm_ir
from .kept import kept
from . import parallel as _parallel

# ----------------------------------------------------------------------------------------------- batch norm
def bn_vectors(weight: NDArray, bias: NDArray, mean: NDArray, var: NDArray, eps: float,
               fold: bool) -> tuple[NDArray, NDArray, NDArray]:
    """(a, s, t) with batch_norm(x) = (x - a) * s + t; fold=True moves the mean into the shift (float32 path)."""
    s = weight / np.sqrt(var + weight.dtype.type(eps))  # exactly ops.batch_norm's `inv`
    if fold:
        return np.zeros_like(mean), s, bias - mean * s
    return mean, s, bias


def bn_vectors_many(layers: list[tuple[NDArray, NDArray, NDArray, NDArray]], eps: float,
                    fold: bool) -> list[tuple[NDArray, NDArray, NDArray]]:
    """bn_vectors for many layers (weight, bias, mean, var) at once: the same element-wise formulas on the
    concatenated vectors (identical results), then split back -- one NumPy pass instead of ~5 small ones per layer."""
    sizes = np.cumsum([len(layer[0]) for layer in layers])[:-1]
    weight, bias, mean, var = (np.concatenate([layer[i] for layer in layers]) for i in range(4))
    return list(zip(*(np.split(v, sizes) for v in bn_vectors(weight, bias, mean, var, eps, fold))))



# ----------------------------------------------------------------------------------------------- swish
# float32 swish with an exp LLVM can vectorize (libm's expf is called one element at a time): Cephes' expf --
# n = round(z / ln 2), r = z - n ln 2 (in two parts), a degree-7 polynomial for e^r (max error ~1 ulp), and 2^n
# built from its exponent bits.  float64 keeps np.exp (the oracle's formula).
_LOG2E, _LN2_HI, _LN2_LO = np.float32(1.44269504088896341), np.float32(0.693359375), np.float32(-2.12194440e-4)
_P0, _P1, _P2 = np.float32(1.9875691500e-4), np.float32(1.3981999507e-3), np.float32(8.3334519073e-3)
_P3, _P4, _P5 = np.float32(4.1665795894e-2), np.float32(1.6666665459e-1), np.float32(5.0000001201e-1)
_ZMIN, _ZMAX = np.float32(-87.0), np.float32(88.0)
_ROUND = np.float32(12582912.0)  # e^z stays a normal float32; x / (1 + e^-x) is then exact to ~ulp


@jit.njit(inline="always", error_model="numpy")
def _exp_parts(zc):
    """For one float32 z: (e^r, the int32 bits of 2^k) with z = k ln 2 + r, so that e^z = e^r * 2^k."""
    zc = _ZMIN if zc < _ZMIN else zc  # plain selects (no calls) so that the loop vectorizes
    zc = _ZMAX if zc > _ZMAX else zc
    k = (zc * _LOG2E + _ROUND) - _ROUND  # round to nearest: adding 1.5 * 2^23 drops the fraction
    r = zc - k * _LN2_HI - k * _LN2_LO
    r2 = r * r  # the polynomial in Estrin's order (shorter dependency chains than Horner's)
    p = ((_P0 * r + _P1) * r2 + (_P2 * r + _P3)) * r2 + (_P4 * r + _P5)
    return p * r2 + r + np.float32(1.0), (np.int32(k) + np.int32(127)) << np.int32(23)


@jit.njit(inline="always", error_model="numpy")
def _exp_row_f32(z, sign, out, ibuf):
    """out[:] = exp(sign * z) for float32 rows (z and out may be one array), vectorizable; ibuf: int32 scratch.

    The row is walked as two halves side by side: two independent dependency chains per step, which the CPU
    overlaps (measured ~25% faster than one chain; LLVM does not interleave this loop by itself)."""
    n = z.shape[0]
    h = n // 2
    for c in range(h):
        out[c], ibuf[c] = _exp_parts(sign * z[c])
        out[c + h], ibuf[c + h] = _exp_parts(sign * z[c + h])
    if n % 2:
        out[n - 1], ibuf[n - 1] = _exp_parts(sign * z[n - 1])
    scale = ibuf.view(np.float32)  # the bits of 2^k
    for c in range(n):
        out[c] = out[c] * scale[c]


_SWISH_BLOCK = 2048  # values per swish pass of the twin (3 rows of scratch: 24 KB, within L1)
_LANES = llvm_ir.LANES  # float32 per vector register


def _emit_swish(builder, x):
    """IR for x / (1 + exp(-x)) on a vector of float32: _swish_row_f32's operations in its order (its polynomial's
    a * b + c as fused multiply-adds, the 2^k scaling through the float's bits), so the same values."""
    vec = x.type
    lanes = vec.count
    ivec = ir.VectorType(llvm_ir.I32, lanes)

    def splat(value):
        return ir.Constant(vec, [float(np.float32(value))] * lanes)

    def intrinsic_of(name, arity):
        return builder.module.declare_intrinsic(f"llvm.{name}.v{lanes}f32", (), ir.FunctionType(vec, [vec] * arity))

    fma, fmin, fmax = intrinsic_of("fma", 3), intrinsic_of("minnum", 2), intrinsic_of("maxnum", 2)

    def mul_add(a, b, c):
        return builder.call(fma, [a, b, c])

    z = builder.call(fmin, [builder.call(fmax, [builder.fneg(x), splat(_ZMIN)]), splat(_ZMAX)])   # -x, clamped
    k = builder.fsub(mul_add(z, splat(_LOG2E), splat(_ROUND)), splat(_ROUND))     # round(z / ln 2)
    r = mul_add(builder.fneg(k), splat(_LN2_LO), mul_add(builder.fneg(k), splat(_LN2_HI), z))  # z - k ln 2
    r2 = builder.fmul(r, r)
    p = mul_add(mul_add(mul_add(splat(_P0), r, splat(_P1)), r2, mul_add(splat(_P2), r, splat(_P3))), r2,
                mul_add(splat(_P4), r, splat(_P5)))
    e_r = builder.fadd(mul_add(p, r2, r), splat(1.0))                             # e^r
    two_k = builder.shl(builder.add(builder.fptosi(k, ivec), ir.Constant(ivec, [127] * lanes)),
                        ir.Constant(ivec, [23] * lanes))                          # the bits of 2^k
    e = builder.fmul(e_r, builder.bitcast(two_k, vec))                            # e^-x
    return builder.fdiv(x, builder.fadd(splat(1.0), e))


def _counted_loop(builder, count, name):
    """Opens `for i in range(count)` (count > 0) in IR: returns (i, close); close() ends the body."""
    const = llvm_ir.const
    entry = builder.block
    body, after = builder.append_basic_block(name), builder.append_basic_block(name + "_done")
    builder.cbranch(builder.icmp_signed(">", count, const(0)), body, after)
    builder.position_at_end(body)
    i = builder.phi(llvm_ir.I64)
    i.add_incoming(const(0), entry)

    def close():
        i_next = builder.add(i, const(1))
        i.add_incoming(i_next, builder.block)
        builder.cbranch(builder.icmp_signed("<", i_next, count), body, after)
        builder.position_at_end(after)

    return i, close


@intrinsic
def _swish_vectors(typingctx, o, count):
    """o[:count * LANES] = swish(o) in place, float32, one vector at a time in registers (_emit_swish): the values
    of _swish_row_f32 without its passes through scratch rows (~1.5x faster)."""
    sig = types.void(o, count)

    def codegen(context, builder, signature, args):
        o, count = args
        vec = llvm_ir.float_vector()
        base = llvm_ir.data_pointer(context, builder, signature, 0, o, llvm_ir.const(0))
        i, close = _counted_loop(builder, count, "swish")
        pointer = llvm_ir.vector_pointer(builder, base, builder.mul(i, llvm_ir.const(vec.count)), vec)
        builder.store(_emit_swish(builder, builder.load(pointer, align=4)), pointer, align=4)
        close()
        return context.get_dummy_value()

    return sig, codegen


def _bn_act_vectors(act: bool, summed: bool):
    """An intrinsic f(o, pixels, channels, a, s, t, sums) for float32, 1-D contiguous o [pixels * channels] and
    per-channel a, s, t (and sums) [channels], channels a multiple of LANES: in place, o = (o - a) * s + t, then
    swish (act), then sums += o pixel after pixel (summed) -- one pass over o, each value in registers from load
    to store; the values of the scalar loops it stands for in _affine_act_block and _depthwise_kernel (no fused
    multiply-add in the affine step: each operation rounded as there)."""

    @intrinsic
    def bn_act(typingctx, o, pixels, channels, a, s, t, sums):
        sig = types.void(o, pixels, channels, a, s, t, sums)

        def codegen(context, builder, signature, args):
            o, pixels, channels, a, s, t, sums = args
            const, vec = llvm_ir.const, llvm_ir.float_vector()
            lanes = vec.count
            o_base, a_base, s_base, t_base, sum_base = (
                llvm_ir.data_pointer(context, builder, signature, position, array, const(0))
                for position, array in ((0, o), (3, a), (4, s), (5, t), (6, sums)))
            p, close_pixels = _counted_loop(builder, pixels, "pixel")
            row = builder.gep(o_base, [builder.mul(p, channels)])
            v, close_vectors = _counted_loop(builder, builder.sdiv(channels, const(lanes)), "channel_vector")
            c = builder.mul(v, const(lanes))

            def at(base):
                return llvm_ir.vector_pointer(builder, base, c, vec)

            pointer = at(row)
            y = builder.load(pointer, align=4)
            y = builder.fsub(y, builder.load(at(a_base), align=4))
            y = builder.fadd(builder.fmul(y, builder.load(at(s_base), align=4)), builder.load(at(t_base), align=4))
            if act:
                y = _emit_swish(builder, y)
            builder.store(y, pointer, align=4)
            if summed:
                total = at(sum_base)
                builder.store(builder.fadd(builder.load(total, align=4), y), total, align=4)
            close_vectors()
            close_pixels()
            return context.get_dummy_value()

        return sig, codegen

    return bn_act


_bn_swish_sum, _bn_sum = _bn_act_vectors(True, True), _bn_act_vectors(False, True)
_bn_swish, _bn_only = _bn_act_vectors(True, False), _bn_act_vectors(False, False)


@jit.njit(inline="always", error_model="numpy")
def _swish_row(o, fast, pbuf, ibuf):
    """o[:] = o / (1 + exp(-o)) in place; fast (float32): _swish_vectors, the last len(o) % LANES values (or a
    strided o) through _swish_row_f32, with scratch rows pbuf (o's dtype) and ibuf (int32) of at least
    min(len(o), _SWISH_BLOCK) values."""
    if not fast:
        for c in range(o.shape[0]):
            o[c] = o[c] / (1 + np.exp(-o[c]))
        return
    n = o.shape[0]
    if o.strides[0] != 4:  # a strided row: the twin, in blocks that stay in L1 with their scratch
        for b0 in range(0, n, _SWISH_BLOCK):
            b1 = min(n, b0 + _SWISH_BLOCK)
            _swish_row_f32(o[b0:b1], pbuf[:b1 - b0], ibuf[:b1 - b0])
        return
    whole = n - n % _LANES
    _swish_vectors(o, whole // _LANES)
    if whole < n:
        _swish_row_f32(o[whole:], pbuf[:n - whole], ibuf[:n - whole])


@jit.njit(error_model="numpy", fastmath={"contract"})
def _swish_row_f32(o, pbuf, ibuf):
    # the readable twin of _swish_vectors (tests/test_kernels.py holds them equal, bit for bit)
    # "contract" lets LLVM fuse the polynomial's a * b + c into FMA instructions (measured ~20% faster); float32
    # only -- the float64 path, the oracle, is never contracted.
    _exp_row_f32(o, np.float32(-1.0), pbuf, ibuf)
    for c in range(o.shape[0]):
        o[c] = o[c] / (np.float32(1.0) + pbuf[c])


# ----------------------------------------------------------------------------------------------- image tower
@jit.njit(nogil=True, error_model="numpy")
def _stem_kernel(x, w, stride, pad_top, pad_left, a, s, t, fast, out, r0, r1):
    # x [B, H, W, Cin], w [k, k, Cin, Cout], out [B, Ho, Wo, Cout]; taps outside x read zero padding.
    # Output rows r0:r1 of the B * Ho.
    B, H, W, Cin = x.shape
    Ho, Wo, Cout = out.shape[1], out.shape[2], out.shape[3]
    k = w.shape[0]
    nbuf = min(Wo * Cout, _SWISH_BLOCK)  # swish scratch, once per band
    pbuf, ibuf = np.empty(nbuf, out.dtype), np.empty(nbuf, np.int32)
    for r in range(r0, r1):
        b = r // Ho
        oh = r - b * Ho
        for ow in range(Wo):
            o = out[b, oh, ow]
            o[:] = 0
            for i in range(k):
                ih = oh * stride - pad_top + i
                if ih < 0 or ih >= H:
                    continue
                for j in range(k):
                    iw = ow * stride - pad_left + j
                    if iw < 0 or iw >= W:
                        continue
                    for ci in range(Cin):
                        xv = x[b, ih, iw, ci]
                        wr = w[i, j, ci]
                        for co in range(Cout):
                            o[co] += xv * wr[co]
            for co in range(Cout):
                o[co] = (o[co] - a[co]) * s[co] + t[co]
        _swish_row(out[b, oh].reshape(-1), fast, pbuf, ibuf)  # the whole output row, [Wo * Cout]


def stem_bn_swish(x_nhwc: NDArray, w: NDArray, stride: int, pad: tuple[int, int, int, int],
                  a: NDArray, s: NDArray, t: NDArray) -> NDArray:
    """swish(BN(conv2d(pad2d(x), w, stride))) on NHWC data; w in torch layout [Cout, Cin, k, k].

    x [B, H, W, Cin] -> [B, Ho, Wo, Cout]; twin: towers.efficientnet.stem (NCHW)."""
    b, h, wd, cin = x_nhwc.shape
    cout, cin2, k, _ = w.shape
    assert cin == cin2 and w.dtype == x_nhwc.dtype
    top, bottom, left, right = pad
    ho, wo = (h + top + bottom - k) // stride + 1, (wd + left + right - k) // stride + 1
    out = np.empty((b, ho, wo, cout), dtype=x_nhwc.dtype)
    wk = np.ascontiguousarray(w.transpose(2, 3, 1, 0))  # [Cout, Cin, k, k] -> [k, k, Cin, Cout]
    _parallel.run_bands(_stem_kernel, b * ho, out.size * k * k * cin, np.ascontiguousarray(x_nhwc), wk, stride, top,
                        left, a, s, t, out.dtype == np.float32, out)
    return out


def _depthwise_tile(pixels: int):
    """An intrinsic tile(xs, x0, row_step, pixel_step, ws, w0, k, C, out, o0) for float32 x, w, out (1-D): for
    p < pixels and 2 * LANES channels from the offsets, out[o0 + p * C + c] = the depthwise sum over the k x k taps
    of xs[x0 + i * row_step + j * C + p * pixel_step + c] * ws[w0 + (i * k + j) * C + c], every tap inside x.
    The 2 * pixels vector sums stay in registers over the taps, added in the tap order (i, j) of _depthwise_kernel's
    scalar loop, each product rounded before its add (no FMA): the same values as that loop."""
    lanes = llvm_ir.LANES

    @intrinsic
    def tile(typingctx, xs, x0, row_step, pixel_step, ws, w0, k, channels, out, o0):
        sig = types.void(xs, x0, row_step, pixel_step, ws, w0, k, channels, out, o0)

        def codegen(context, builder, signature, args):
            xs, x0, row_step, pixel_step, ws, w0, k, channels, out, o0 = args
            const, vec = llvm_ir.const, llvm_ir.float_vector()
            x_base = llvm_ir.data_pointer(context, builder, signature, 0, xs, x0)
            w_base = llvm_ir.data_pointer(context, builder, signature, 4, ws, w0)
            o_base = llvm_ir.data_pointer(context, builder, signature, 8, out, o0)
            load = lambda base, offset: builder.load(llvm_ir.vector_pointer(builder, base, offset, vec), align=4)
            entry = builder.block
            i_loop, j_loop = builder.append_basic_block("i_loop"), builder.append_basic_block("j_loop")
            j_done, done = builder.append_basic_block("j_done"), builder.append_basic_block("done")
            builder.branch(i_loop)

            builder.position_at_end(i_loop)          # one row of taps: x's row i, w's taps (i, 0 .. k - 1)
            i = builder.phi(llvm_ir.I64)
            acc_i = [builder.phi(vec) for _ in range(2 * pixels)]
            x_i = builder.gep(x_base, [builder.mul(i, row_step)])
            w_i = builder.gep(w_base, [builder.mul(builder.mul(i, k), channels)])
            builder.branch(j_loop)

            builder.position_at_end(j_loop)          # one tap: 2 vectors of w, 2 * pixels of x
            j = builder.phi(llvm_ir.I64)
            acc_j = [builder.phi(vec) for _ in range(2 * pixels)]
            jc = builder.mul(j, channels)
            w_vectors = [load(w_i, builder.add(jc, const(v * lanes))) for v in range(2)]
            new = []
            for p in range(pixels):
                pixel = builder.add(jc, builder.mul(pixel_step, const(p)))
                for v in range(2):
                    x_vector = load(x_i, builder.add(pixel, const(v * lanes)))
                    new.append(builder.fadd(acc_j[2 * p + v], builder.fmul(x_vector, w_vectors[v])))
            j_next = builder.add(j, const(1))
            builder.cbranch(builder.icmp_signed("<", j_next, k), j_loop, j_done)

            builder.position_at_end(j_done)
            i_next = builder.add(i, const(1))
            builder.cbranch(builder.icmp_signed("<", i_next, k), i_loop, done)

            i.add_incoming(const(0), entry)
            i.add_incoming(i_next, j_done)
            j.add_incoming(const(0), i_loop)
            j.add_incoming(j_next, j_loop)
            for a_i, a_j, n in zip(acc_i, acc_j, new):
                a_i.add_incoming(ir.Constant(vec, None), entry)
                a_i.add_incoming(n, j_done)
                a_j.add_incoming(a_i, i_loop)
                a_j.add_incoming(n, j_loop)

            builder.position_at_end(done)
            for p in range(pixels):
                for v in range(2):
                    offset = builder.add(builder.mul(channels, const(p)), const(v * lanes))
                    builder.store(new[2 * p + v], llvm_ir.vector_pointer(builder, o_base, offset, vec), align=4)
            return context.get_dummy_value()

        return sig, codegen

    return tile


_DW_BLOCK = 2 * llvm_ir.LANES     # channels per depthwise tile
_dw_tile4, _dw_tile1 = _depthwise_tile(4), _depthwise_tile(1)


@jit.njit(inline="always", error_model="numpy")
def _depthwise_pixel(x, w, b, oh, ow, stride, pad_top, pad_left, o):
    """o[:] = one output pixel's sums over its taps inside x (a tap on the zero padding is skipped), in tap order."""
    H, W, C = x.shape[1], x.shape[2], x.shape[3]
    k = w.shape[0]
    o[:] = 0
    for i in range(k):
        ih = oh * stride - pad_top + i
        if ih < 0 or ih >= H:
            continue
        for j in range(k):
            iw = ow * stride - pad_left + j
            if iw < 0 or iw >= W:
                continue
            xr = x[b, ih, iw]
            wr = w[i, j]
            for c in range(C):
                o[c] += xr[c] * wr[c]


@jit.njit(inline="always", error_model="numpy")
def _depthwise_inner_run(x, w, b, ih0, iw0, stride, n, orow, ow0):
    """float32, C a multiple of _DW_BLOCK: output pixels ow0 .. ow0 + n - 1 of row orow, all their taps inside x
    (ih0, iw0: the first pixel's top-left tap), by the register tiles (4 pixels at a time, then 1)."""
    H, W, C = x.shape[1], x.shape[2], x.shape[3]
    k = w.shape[0]
    xs, ws, os = x.reshape(-1), w.reshape(-1), orow.reshape(-1)
    row_step, pixel_step = W * C, stride * C
    x_row = ((b * H + ih0) * W + iw0) * C
    q = 0
    while q + 4 <= n:
        for c0 in range(0, C, _DW_BLOCK):
            _dw_tile4(xs, x_row + q * pixel_step + c0, row_step, pixel_step, ws, c0, k, C, os, (ow0 + q) * C + c0)
        q += 4
    while q < n:
        for c0 in range(0, C, _DW_BLOCK):
            _dw_tile1(xs, x_row + q * pixel_step + c0, row_step, pixel_step, ws, c0, k, C, os, (ow0 + q) * C + c0)
        q += 1


@jit.njit(nogil=True, error_model="numpy")
def _depthwise_kernel(x, w, stride, pad_top, pad_left, a, s, t, act, fast, out, rowsum, r0, r1):
    # x [B, H, W, C] C-contiguous, w [k, k, C], out [B, Ho, Wo, C], rowsum [B, Ho, C] (sum over each output row,
    # for the SE mean). Output rows r0:r1 of the B * Ho. float32 pixels whose taps all fall inside x (when C is a
    # multiple of _DW_BLOCK, as in every EfficientNet) go through the register tiles; the others (borders,
    # float64) through _depthwise_pixel: the same sums in the same order.
    B, H, W, C = x.shape
    Ho, Wo = out.shape[1], out.shape[2]
    k = w.shape[0]
    lo = min(Wo, -(-pad_left // stride))                          # output columns [lo, hi) with every tap inside:
    hi = max(lo, min(Wo, (W - k + pad_left) // stride + 1))       # ow * stride - pad_left >= 0, ... + k - 1 < W
    tiles = fast and C % _DW_BLOCK == 0
    nbuf = 0 if tiles else min(Wo * C, _SWISH_BLOCK)  # the loops' swish scratch, once per band (tiles: none)
    pbuf, ibuf = np.empty(nbuf, out.dtype), np.empty(nbuf, np.int32)
    for r in range(r0, r1):
        b = r // Ho
        oh = r - b * Ho
        orow = out[b, oh]
        ih0 = oh * stride - pad_top
        inner = tiles and ih0 >= 0 and ih0 + k <= H
        if inner:
            _depthwise_inner_run(x, w, b, ih0, lo * stride - pad_left, stride, hi - lo, orow, lo)
        for ow in range(Wo):
            if not (inner and lo <= ow < hi):
                _depthwise_pixel(x, w, b, oh, ow, stride, pad_top, pad_left, orow[ow])
        acc = rowsum[b, oh]
        acc[:] = 0
        row = orow.reshape(-1)  # [Wo * C], contiguous
        if tiles:               # BN, swish and the row's sums in one pass (the values of the loops below)
            if act:
                _bn_swish_sum(row, Wo, C, a, s, t, acc)
            else:
                _bn_sum(row, Wo, C, a, s, t, acc)
            continue
        for ow in range(Wo):
            o = orow[ow]
            for c in range(C):
                o[c] = (o[c] - a[c]) * s[c] + t[c]
        if act:  # one swish pass over the whole output row
            _swish_row(row, fast, pbuf, ibuf)
        for ow in range(Wo):
            for c in range(C):
                acc[c] += row[ow * C + c]


def depthwise_bn_swish(x_nhwc: NDArray, w: NDArray, stride: int, pad: tuple[int, int, int, int],
                       a: NDArray, s: NDArray, t: NDArray, act: bool = True) -> tuple[NDArray, NDArray]:
    """swish(BN(depthwise_conv2d(x, w, stride, pad))) on NHWC data, and its per-channel spatial means.

    x [B, H, W, C], w torch layout [C, 1, k, k] -> (y [B, Ho, Wo, C], means [B, C]).
    Twin: towers.efficientnet.depthwise_conv2d -> ops.batch_norm -> ops.swish, then the mean squeeze_excite takes."""
    b, h, wd, c = x_nhwc.shape
    k = w.shape[-1]
    assert w.shape == (c, 1, k, k) and w.dtype == x_nhwc.dtype
    top, bottom, left, right = pad
    ho, wo = (h + top + bottom - k) // stride + 1, (wd + left + right - k) // stride + 1
    if ho < 1 or wo < 1:
        raise ValueError(f"depthwise: padded map is smaller than the {k}x{k} kernel")
    out = np.empty((b, ho, wo, c), dtype=x_nhwc.dtype)
    rowsum = np.empty((b, ho, c), dtype=x_nhwc.dtype)
    wk = kept((w,), lambda: np.ascontiguousarray(w[:, 0].transpose(1, 2, 0)), "depthwise taps")  # -> [k, k, C]
    a, s, t = (np.ascontiguousarray(v) for v in (a, s, t))  # (the vector pass reads them as contiguous rows)
    _parallel.run_bands(_depthwise_kernel, b * ho, out.size * k * k, np.ascontiguousarray(x_nhwc), wk, stride, top,
                        left, a, s, t, act, out.dtype == np.float32, out, rowsum)
    means = rowsum.sum(axis=1) / x_nhwc.dtype.type(ho * wo)  # [B, Ho, C] -> [B, C]
    return out, means


@jit.njit(nogil=True, error_model="numpy")
def _affine_act_block(y, r0, r1, c0, c1, a, s, t, act, fast, res, has_res):
    # the block y[r0:r1, c0:c1] of y [N, C] in place: (y - a) * s + t, then swish (act), then + res (has_res).
    # refalign.fast.parallel.matmul_wt runs one block per thread, right after the block's product.
    av, sv, tv = a[c0:c1], s[c0:c1], t[c0:c1]  # (slices, so that the loops below index from 0 and vectorize)
    width = c1 - c0
    full = width == y.shape[1]
    rows = max(1, _SWISH_BLOCK // width) if full else 1  # rows per swish pass: ~_SWISH_BLOCK contiguous values
    vectors = fast and width % _LANES == 0   # BN and swish in one pass, in registers (the values of the loops)
    nbuf = 0 if vectors else min(rows * width, _SWISH_BLOCK)   # the loops' swish scratch (vectors: none)
    pbuf, ibuf = np.empty(nbuf, y.dtype), np.empty(nbuf, np.int32)
    for n0 in range(r0, r1, rows):
        n1 = min(r1, n0 + rows)
        if vectors:   # (the intrinsics' last argument, the sums, is not used by these two: av stands in)
            o = y[n0:n1].reshape(-1) if full else y[n0, c0:c1]
            if act:
                _bn_swish(o, n1 - n0, width, av, sv, tv, av)
            else:
                _bn_only(o, n1 - n0, width, av, sv, tv, av)
        else:
            for n in range(n0, n1):
                o = y[n, c0:c1]
                for c in range(width):
                    o[c] = (o[c] - av[c]) * sv[c] + tv[c]
            if act:
                _swish_row(y[n0:n1].reshape(-1) if full else y[n0, c0:c1], fast, pbuf, ibuf)
        if has_res:
            for n in range(n0, n1):
                o, rr = y[n, c0:c1], res[n, c0:c1]
                for c in range(width):
                    o[c] += rr[c]


def bn_act_epilogue(a: NDArray, s: NDArray, t: NDArray, act: bool = False, residual: NDArray | None = None):
    """The epilogue of a 1x1 conv for refalign.fast.parallel.matmul_wt: f(y, r0, r1, c0, c1) does, in place on that block
    of the C-contiguous [N, C] product, y = (y - a) * s + t [then swish] [then + residual ([N, C] or its shape)].
    Twin: ops.batch_norm over the channel axis (+ ops.swish, + the residual add)."""
    a, s, t = (np.ascontiguousarray(v) for v in (a, s, t))  # (the vector pass reads them as contiguous rows)

    def epilogue(y: NDArray, r0: int, r1: int, c0: int, c1: int) -> None:
        assert y.flags.c_contiguous and y.ndim == 2
        res = np.ascontiguousarray(residual).reshape(y.shape) if residual is not None else np.empty((0, 0), y.dtype)
        _affine_act_block(y, r0, r1, c0, c1, a, s, t, act, y.dtype == np.float32, res, residual is not None)
    return epilogue


def affine_act_(y2d: NDArray, a: NDArray, s: NDArray, t: NDArray, act: bool = False,
                residual: NDArray | None = None) -> NDArray:
    """In place on a C-contiguous [N, C]: y = (y - a) * s + t [then swish] [then + residual]; returns y.
    bn_act_epilogue over the whole array, in bands of rows over refalign's threads."""
    return _parallel.apply_epilogue(y2d, bn_act_epilogue(a, s, t, act, residual))


# ----------------------------------------------------------------------------------------------- row reductions
# A running sum (or max) over a row is one long dependency chain: each add waits for the previous one (~4 cycles).
# These keep 8 independent partial results (scalars, so they stay in registers) and combine them at the end.
@jit.njit(inline="always")
def _row_sum(z):
    """sum(z) in float64, in 8 interleaved partial sums."""
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    n = z.shape[0]
    end = n - n % 8
    for c in range(0, end, 8):
        s0 += z[c]
        s1 += z[c + 1]
        s2 += z[c + 2]
        s3 += z[c + 3]
        s4 += z[c + 4]
        s5 += z[c + 5]
        s6 += z[c + 6]
        s7 += z[c + 7]
    for c in range(end, n):
        s0 += z[c]
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


@jit.njit(inline="always")
def _row_sum_squares(z):
    """sum(z * z) in float64, in 8 interleaved partial sums."""
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    n = z.shape[0]
    end = n - n % 8
    for c in range(0, end, 8):
        s0 += z[c] * z[c]
        s1 += z[c + 1] * z[c + 1]
        s2 += z[c + 2] * z[c + 2]
        s3 += z[c + 3] * z[c + 3]
        s4 += z[c + 4] * z[c + 4]
        s5 += z[c + 5] * z[c + 5]
        s6 += z[c + 6] * z[c + 6]
        s7 += z[c + 7] * z[c + 7]
    for c in range(end, n):
        s0 += z[c] * z[c]
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


@jit.njit(inline="always")
def _row_max(z):
    """max(z), in 8 interleaved partial maxima."""
    n = z.shape[0]
    m0 = m1 = m2 = m3 = m4 = m5 = m6 = m7 = z[0]
    end = n - n % 8
    for c in range(0, end, 8):
        m0 = max(m0, z[c])
        m1 = max(m1, z[c + 1])
        m2 = max(m2, z[c + 2])
        m3 = max(m3, z[c + 3])
        m4 = max(m4, z[c + 4])
        m5 = max(m5, z[c + 5])
        m6 = max(m6, z[c + 6])
        m7 = max(m7, z[c + 7])
    for c in range(end, n):
        m0 = max(m0, z[c])
    return max(max(max(m0, m1), max(m2, m3)), max(max(m4, m5), max(m6, m7)))


# ----------------------------------------------------------------------------------------------- text tower
@jit.njit(nogil=True, error_model="numpy")
def _layer_norm_kernel(x, res, has_res, w, b, eps, out, r0, r1):
    # x, res, out [N, H]: out = LayerNorm(x + res) over the last axis, biased variance, sums in float64; rows r0:r1
    H = x.shape[1]
    for n in range(r0, r1):
        o = out[n]
        for c in range(H):
            o[c] = x[n, c] + res[n, c] if has_res else x[n, c]
        mean = o.dtype.type(_row_sum(o) / H)
        for c in range(H):
            o[c] = o[c] - mean
        inv = o.dtype.type(1.0) / np.sqrt(o.dtype.type(_row_sum_squares(o) / H) + eps)
        for c in range(H):
            o[c] = o[c] * inv * w[c] + b[c]


def layer_norm_residual(x: NDArray, residual: NDArray | None, weight: NDArray, bias: NDArray,
                        eps: float) -> NDArray:
    """ops.layer_norm(x + residual, weight, bias, eps) over the last axis, in one pass per row; [..., H]."""
    shape, hdim = x.shape, x.shape[-1]
    x2 = np.ascontiguousarray(x).reshape(-1, hdim)
    has_res = residual is not None
    r2 = np.ascontiguousarray(residual).reshape(-1, hdim) if has_res else np.empty((0, 0), x.dtype)
    out = np.empty_like(x2)
    _parallel.run_bands(_layer_norm_kernel, x2.shape[0], x2.size, x2, r2, has_res, weight, bias, x.dtype.type(eps), out)
    return out.reshape(shape)


# float32 GELU: 0.5 x (1 + erf(x / sqrt 2)) = 0.5 x erfc(u), u = -x / sqrt 2, with Numerical Recipes' erfc
# (Chebyshev fit, relative error < 1.2e-7 everywhere) on the vectorizable exp; float64 keeps math.erf.
_E = [np.float32(c) for c in (-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807,
                              -1.13520398, 1.48851587, -0.82215223, 0.17087277)]
_E0, _E1, _E2, _E3, _E4, _E5, _E6, _E7, _E8, _E9 = _E


ACT_NONE, ACT_GELU, ACT_QUICK_GELU = 0, 1, 2
_EPILOGUE_ACTS = {None: ACT_NONE, "gelu": ACT_GELU, "gelu_python": ACT_GELU, "quick_gelu": ACT_QUICK_GELU}
_QUICK = 1.702  # quick_gelu(v) = v * sigmoid(1.702 v)


@jit.njit(inline="always", error_model="numpy")
def _gelu_row_f32(o, tb, eb, ib):
    # o[:] = 0.5 o (1 + erf(o / sqrt 2)) in place for a float32 row: erfc by the Chebyshev fit on the polynomial exp
    half, r2 = np.float32(0.5), np.float32(1.0 / math.sqrt(2.0))
    for c in range(o.shape[0]):
        u = -o[c] * r2
        t = np.float32(1.0) / (np.float32(1.0) + np.float32(0.5) * abs(u))
        tb[c] = t
        eb[c] = -u * u + (_E0 + t * (_E1 + t * (_E2 + t * (_E3 + t * (_E4 + t * (_E5 + t * (
            _E6 + t * (_E7 + t * (_E8 + t * _E9)))))))))
    _exp_row_f32(eb, np.float32(1.0), eb, ib)
    for c in range(o.shape[0]):
        e = tb[c] * eb[c]                                   # erfc(|u|)
        o[c] = half * o[c] * (np.float32(2.0) - e if o[c] > 0 else e)   # u < 0  <=>  o > 0: erfc(u) = 2 - erfc(|u|)


@jit.njit(inline="always", error_model="numpy")
def _quick_gelu_row_f32(o, eb, ib):
    # o[:] = o / (1 + e^(-1.702 o)) in place for a float32 row, on the polynomial exp
    _exp_row_f32(o, np.float32(-_QUICK), eb, ib)
    for c in range(o.shape[0]):
        o[c] = o[c] / (np.float32(1.0) + eb[c])


@jit.njit(nogil=True, error_model="numpy")
def _bias_act_block(y, r0, r1, c0, c1, b, act, fast, res, has_res):
    # the block y[r0:r1, c0:c1] of y [N, I] in place: v = y + b, then the activation (act: ACT_*), then + res.
    # float64 (not fast) computes the twins' formulas: gelu with math.erf, quick_gelu as v * sigmoid(1.702 v) with
    # ops.sigmoid's two branches.
    bv, width = b[c0:c1], c1 - c0
    half, one, r2, k = y.dtype.type(0.5), y.dtype.type(1.0), y.dtype.type(1.0 / math.sqrt(2.0)), y.dtype.type(_QUICK)
    tb, eb, ib = np.empty(width, np.float32), np.empty(width, np.float32), np.empty(width, np.int32)
    for n in range(r0, r1):
        o = y[n, c0:c1]
        for c in range(width):
            o[c] += bv[c]
        if act == ACT_GELU:
            if fast:
                _gelu_row_f32(o, tb, eb, ib)
            else:
                for c in range(width):
                    o[c] = half * o[c] * (one + math.erf(o[c] * r2))
        elif act == ACT_QUICK_GELU:
            if fast:
                _quick_gelu_row_f32(o, eb, ib)
            else:
                for c in range(width):
                    z = k * o[c]
                    e = np.exp(-abs(z))
                    o[c] = o[c] * ((one if z >= 0 else e) / (one + e))
        if has_res:
            rr = res[n, c0:c1]
            for c in range(width):
                o[c] += rr[c]


def bias_act_epilogue(bias: NDArray | None, act: str | None = None, residual: NDArray | None = None):
    """The epilogue of a linear layer for refalign.fast.parallel.matmul_wt: f(y, r0, r1, c0, c1), in place on that
    block of the C-contiguous [N, I] product: y + bias [then the activation: "gelu" (exact, erf) or "quick_gelu"]
    [then + residual ([N, I])].  Twin: ops.linear's bias, ops.gelu / ops.quick_gelu, then the residual add."""
    code = _EPILOGUE_ACTS[act]

    def epilogue(y: NDArray, r0: int, r1: int, c0: int, c1: int) -> None:
        assert y.flags.c_contiguous and y.ndim == 2
        b = bias if bias is not None else np.zeros(y.shape[1], y.dtype)
        res = residual if residual is not None else np.empty((0, 0), y.dtype)
        assert residual is None or (res.shape == y.shape and res.dtype == y.dtype)
        _bias_act_block(y, r0, r1, c0, c1, b, code, y.dtype == np.float32, res, residual is not None)
    return epilogue


def fused_activation(name: str) -> str | None:
    """The activation name as bias_act_epilogue takes it, or None when it has no fused kernel (apply it after)."""
    return name if name in _EPILOGUE_ACTS and name is not None else None


def bias_gelu_(y2d: NDArray, bias: NDArray) -> NDArray:
    """In place on a C-contiguous [N, I]: y = gelu(y + bias) (exact, erf); twin: ops.gelu(y + bias)."""
    return _parallel.apply_epilogue(y2d, bias_act_epilogue(bias, "gelu"))


# ----------------------------------------------------------------------------------------------- attention
@jit.njit(nogil=True, error_model="numpy")
def _softmax_kernel(s, scale, mask, has_mask, fast):
    # s [n, Lq, Lk] in place: softmax over the last axis of s * scale (+ mask [Lk]), the maximum subtracted first
    n, lq, lk = s.shape
    ib, e = np.empty(lk, np.int32), np.empty(lk, np.float32)
    for i in range(n):
        for r in range(lq):
            z = s[i, r]
            if has_mask:
                for c in range(lk):
                    z[c] = z[c] * scale + mask[c]
            else:
                for c in range(lk):
                    z[c] = z[c] * scale
            m = _row_max(z)
            if fast:
                _softmax_row_f32(z, m, e, ib)
            else:
                for c in range(lk):
                    z[c] = np.exp(z[c] - m)
                total = z.dtype.type(_row_sum(z))
                for c in range(lk):
                    z[c] = z[c] / total


@jit.njit(error_model="numpy", fastmath={"contract"})
def _softmax_row_f32(z, m, e, ib):
    # z[:] = exp(z - m) / sum, float32: the polynomial exp in one loop into scratch e (a short row vectorizes better
    # in one stream than in _exp_row_f32's two), then the 2^k scaling and the normalisation
    n = z.shape[0]
    for c in range(n):
        e[c], ib[c] = _exp_parts(z[c] - m)
    scale = ib.view(np.float32)
    for c in range(n):
        e[c] = e[c] * scale[c]
    inv = np.float32(1.0) / _sum_f32(e)
    for c in range(n):
        z[c] = e[c] * inv


@jit.njit(fastmath={"reassoc"})
def _sum_f32(z):
    # a float32 sum LLVM may reorder (so it vectorizes): for softmax denominators, positive terms <= 1 (the row's
    # maximum term is 1), where the order changes the result by a few ulp at most
    total = np.float32(0.0)
    for c in range(z.shape[0]):
        total += z[c]
    return total


def softmax_(scores: NDArray, scale: float, mask_row: NDArray | None = None) -> NDArray:
    """In place on C-contiguous scores [n, Lq, Lk]: softmax(scores * scale + mask_row) over the last axis, the row
    maximum subtracted first.  Twin: ops.softmax((q @ k^T) * scale + mask_bias) in layers.attention."""
    assert scores.flags.c_contiguous and scores.ndim == 3
    has = mask_row is not None
    mask = mask_row if has else np.empty(0, scores.dtype)
    _softmax_kernel(scores, scores.dtype.type(scale), mask, has, scores.dtype == np.float32)
    return scores
