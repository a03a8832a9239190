"""Small pieces of LLVM IR shared by the hand-written vector kernels (refalign.fast.gemm's register tile, the
depthwise tile in refalign.fast.kernels): Numba intrinsics get their arrays as Numba array structs, and do their
arithmetic on vectors of LANES float32 (16 with AVX-512, 8 with AVX2: whatever Numba compiles for)."""
from __future__ import annotations

import numba
from llvmlite import binding as llvm_binding
from llvmlite import ir


def _target_has_avx512() -> bool:
    """Whether Numba compiles for a CPU with AVX-512: the host's features, unless NUMBA_CPU_NAME names another CPU
    (then only if NUMBA_CPU_FEATURES lists +avx512f; the narrower vectors are right on every x86-64 with AVX2)."""
    if numba.config.CPU_NAME not in (None, "host"):
        return "+avx512f" in (numba.config.CPU_FEATURES or "")
    try:
        return bool(llvm_binding.get_host_cpu_features().get("avx512f", False))
    except Exception:  # noqa: BLE001 - no feature query on this platform: the narrower vectors are right everywhere
        return False


AVX512 = _target_has_avx512()
LANES = 16 if AVX512 else 8     # float32 per vector register

I64, I32 = ir.IntType(64), ir.IntType(32)


def const(value: int) -> ir.Constant:
    return ir.Constant(I64, value)


def float_vector(lanes: int = LANES) -> ir.VectorType:
    return ir.VectorType(ir.FloatType(), lanes)


def data_pointer(context, builder, signature, position: int, array, offset):
    """Pointer to element `offset` of the (1-D, contiguous) array argument number `position`."""
    struct = context.make_array(signature.args[position])(context, builder, array)
    return builder.gep(struct.data, [offset])


def vector_pointer(builder, base, offset, vec: ir.VectorType):
    """base + offset elements, as a pointer to a vector (loads and stores through it use align=4: unaligned)."""
    return builder.bitcast(builder.gep(base, [offset]), vec.as_pointer())


def splat(builder, scalar, vec: ir.VectorType):
    """A vector with every lane = scalar."""
    undef = ir.Constant(vec, ir.Undefined)
    first = builder.insert_element(undef, scalar, ir.Constant(I32, 0))
    return builder.shuffle_vector(first, undef, ir.Constant(ir.VectorType(I32, vec.count), [0] * vec.count))
