"""ALIGN's image tower: EfficientNet (B7 for align-base) in plain NumPy, NCHW, weights under checkpoint key names.

    out = efficientnet_forward(params, cfg, pixel_values)   # pixel_values [B, 3, H, W] float32 or float64
    out.pooler_output                                        # [B, C_last] = ALIGN's image_embeds (unnormalised)

The config and the block plan: EfficientNetConfig (the keys of config.json's vision_config), round_filters /
round_repeats / block_specs (what each MBConv block is), efficientnet_shapes (every tensor's name and shape).
The forward pass, bottom-up:
    pad2d, conv2d, conv1x1, depthwise_conv2d         the convolutions (no bias anywhere but in squeeze-excite)
    depthwise_padding                                 which zero padding a block's depthwise conv gets
    squeeze_excite, pool                              the two spatial reductions
    stem_conv, stem, mbconv_block                     the layers
    efficientnet_forward                              the tower: stem -> blocks -> pool
    _blocks_reference / _blocks_nhwc                  stem -> blocks from the functions above (the readable
                                                      twin) / through refalign.fast.kernels, NHWC inside (what
                                                      the tower runs; tests/test_kernels.py holds them equal)

Every function keeps the dtype it is given (float32 in -> float32 out, float64 in -> float64 out); the params must
already be in the compute dtype (efficientnet_forward checks).  Behaviour follows transformers' AlignVisionModel,
quirks included (asymmetric stem and stride-2 paddings, hidden_dim used as a pooling kernel size).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from numpy.typing import NDArray

from ..errors import CheckpointError
from ..loading.config import require
from ..ops import activation, batch_norm, sigmoid, swish
from ..outputs import ModelOutput

Pad = tuple[int, int, int, int]  # zero padding (top, bottom, left, right)
ACTIVATIONS = ("swish", "silu", "relu", "gelu", "gelu_new", "sigmoid", "tanh", "relu6")


# ----------------------------------------------------------------------------------------------- config and plan
@dataclass(frozen=True)
class EfficientNetConfig:
    """The config.json keys the EfficientNet tower reads (defaults: transformers' EfficientNetConfig *code*, which
    differs from its docstring: hidden_dim 2560 and image_size 600)."""
    num_channels: int = 3
    image_size: int = 600
    width_coefficient: float = 2.0
    depth_coefficient: float = 3.1
    depth_divisor: int = 8
    kernel_sizes: tuple[int, ...] = (3, 3, 5, 3, 5, 5, 3)
    in_channels: tuple[int, ...] = (32, 16, 24, 40, 80, 112, 192)
    out_channels: tuple[int, ...] = (16, 24, 40, 80, 112, 192, 320)
    depthwise_padding: tuple[int, ...] = ()
    strides: tuple[int, ...] = (1, 2, 2, 2, 1, 2, 1)
    num_block_repeats: tuple[int, ...] = (1, 2, 2, 3, 3, 4, 1)
    expand_ratios: tuple[int, ...] = (1, 6, 6, 6, 6, 6, 6)
    squeeze_expansion_ratio: float = 0.25
    hidden_act: str = "swish"
    hidden_dim: int = 2560  # only used as the pooling kernel size (AvgPool2d(hidden_dim, ceil_mode=True))
    pooling_type: str = "mean"
    batch_norm_eps: float = 1e-3

    @property
    def num_hidden_layers(self) -> int:
        """Number of MBConv blocks: sum of ceil(depth_coefficient * repeats)."""
        return sum(int(math.ceil(self.depth_coefficient * n)) for n in self.num_block_repeats)

    def validate(self, source: str, prefix: str) -> None:
        """ConfigError naming the dotted key of the first impossible value."""
        def need(cond: bool, key: str, msg: str) -> None:
            require(cond, source, f"{prefix}.{key}", msg)
        need(self.hidden_act in ACTIVATIONS, "hidden_act", f"{self.hidden_act!r} is not one of {ACTIVATIONS}")
        need(self.pooling_type in ("mean", "max"), "pooling_type", f"{self.pooling_type!r} is not 'mean' or 'max'")
        n = len(self.in_channels)
        for name in ("kernel_sizes", "out_channels", "strides", "num_block_repeats", "expand_ratios"):
            need(len(getattr(self, name)) == n, name, f"has {len(getattr(self, name))} entries but in_channels has {n}")
        need(all(s in (1, 2) for s in self.strides), "strides", f"only strides 1 and 2 exist, got {self.strides}")
        need(all(k > 0 and k % 2 == 1 for k in self.kernel_sizes), "kernel_sizes",
             f"kernel sizes must be odd and positive, got {self.kernel_sizes}")
        need(all(r >= 1 for r in self.expand_ratios), "expand_ratios", f"must be >= 1, got {self.expand_ratios}")
        for name in ("num_channels", "image_size", "depth_divisor", "hidden_dim"):
            need(getattr(self, name) > 0, name, f"must be positive, got {getattr(self, name)}")
        need(self.width_coefficient > 0 and self.depth_coefficient > 0, "width_coefficient",
             "width and depth coefficients must be positive")
        need(self.batch_norm_eps > 0, "batch_norm_eps", "must be positive")


def round_filters(cfg: EfficientNetConfig, channels: int) -> int:
    """Scale a channel count by width_coefficient and round to a multiple of depth_divisor (never down by >10%)."""
    divisor = cfg.depth_divisor
    scaled = channels * cfg.width_coefficient
    new = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if new < 0.9 * scaled:
        new += divisor
    return int(new)


def round_repeats(cfg: EfficientNetConfig, repeats: int) -> int:
    """Scale a stage's block count by depth_coefficient, rounding up."""
    return int(math.ceil(cfg.depth_coefficient * repeats))


@dataclass(frozen=True)
class BlockSpec:
    """One MBConv block, as transformers builds it."""
    index: int            # 0-based block number across all stages
    stage: int
    in_dim: int           # channels entering the block
    out_dim: int
    expand_dim: int       # in_dim * expand_ratio (== in_dim when expand_ratio == 1)
    se_dim: int           # squeeze-excitation bottleneck: max(1, int(in_dim * ratio)) -- from the *input* channels
    kernel_size: int
    stride: int           # the stage stride on its first block, 1 after
    expand: bool          # expand_ratio != 1 -> there is an expansion 1x1 conv
    residual: bool        # True for every block but the first of a stage (transformers' id_skip == False)
    adjust_padding: bool  # stride-2 depthwise pad is (k//2-1, k//2) unless index is in depthwise_padding


def block_specs(cfg: EfficientNetConfig) -> list[BlockSpec]:
    specs: list[BlockSpec] = []
    for stage in range(len(cfg.in_channels)):
        stage_in = round_filters(cfg, cfg.in_channels[stage])
        out_dim = round_filters(cfg, cfg.out_channels[stage])
        ratio = cfg.expand_ratios[stage]
        for j in range(round_repeats(cfg, cfg.num_block_repeats[stage])):
            in_dim = stage_in if j == 0 else out_dim
            index = len(specs)
            specs.append(BlockSpec(
                index=index, stage=stage, in_dim=in_dim, out_dim=out_dim, expand_dim=in_dim * ratio,
                se_dim=max(1, int(in_dim * cfg.squeeze_expansion_ratio)), kernel_size=cfg.kernel_sizes[stage],
                stride=cfg.strides[stage] if j == 0 else 1, expand=ratio != 1, residual=j > 0,
                adjust_padding=index not in cfg.depthwise_padding))
    return specs


def stem_channels(cfg: EfficientNetConfig) -> int:
    return round_filters(cfg, 32)


def _bn_shapes(prefix: str, n: int) -> dict[str, tuple[int, ...]]:
    return {f"{prefix}.{p}": (n,) for p in ("weight", "bias", "running_mean", "running_var")}


def efficientnet_shapes(cfg: EfficientNetConfig, prefix: str = "vision_model.") -> dict[str, tuple[int, ...]]:
    """Every parameter / buffer of the vision tower the forward pass reads (num_batches_tracked is not read)."""
    stem = stem_channels(cfg)
    s = {f"{prefix}embeddings.convolution.weight": (stem, cfg.num_channels, 3, 3)}
    s.update(_bn_shapes(f"{prefix}embeddings.batchnorm", stem))
    for b in block_specs(cfg):
        p = f"{prefix}encoder.blocks.{b.index}."
        if b.expand:
            s[p + "expansion.expand_conv.weight"] = (b.expand_dim, b.in_dim, 1, 1)
            s.update(_bn_shapes(p + "expansion.expand_bn", b.expand_dim))
        s[p + "depthwise_conv.depthwise_conv.weight"] = (b.expand_dim, 1, b.kernel_size, b.kernel_size)
        s.update(_bn_shapes(p + "depthwise_conv.depthwise_norm", b.expand_dim))
        s[p + "squeeze_excite.reduce.weight"] = (b.se_dim, b.expand_dim, 1, 1)
        s[p + "squeeze_excite.reduce.bias"] = (b.se_dim,)
        s[p + "squeeze_excite.expand.weight"] = (b.expand_dim, b.se_dim, 1, 1)
        s[p + "squeeze_excite.expand.bias"] = (b.expand_dim,)
        s[p + "projection.project_conv.weight"] = (b.out_dim, b.expand_dim, 1, 1)
        s.update(_bn_shapes(p + "projection.project_bn", b.out_dim))
    return s



@dataclass(repr=False)
class VisionOutput(ModelOutput):
    """Mirrors transformers' BaseModelOutputWithPoolingAndNoAttention for AlignVisionModel (NumPy, NCHW)."""
    last_hidden_state: NDArray             # [B, C_last, h, w]  (640 x 9 x 9 for align-base at 289)
    pooler_output: NDArray                 # [B, C_last]
    hidden_states: list[NDArray] | None = None  # stem output + one per block (56 for align-base), each [B, C, h, w]


# ----------------------------------------------------------------------------------------------- convolutions
def pad2d(x: NDArray, pad: Pad) -> NDArray:
    """Zero-pad the two spatial axes of [B, C, H, W] by (top, bottom, left, right)."""
    top, bottom, left, right = pad
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))  # [B, C, H, W] -> [B, C, H+t+b, W+l+r]


def _out_size(size: int, k: int, stride: int) -> int:
    """Output length of a 'valid' (unpadded) convolution."""
    return (size - k) // stride + 1


def _taps(x: NDArray, k: int, stride: int, ho: int, wo: int):
    """Yield (i, j, view): for kernel tap (i, j), the strided view of x that tap multiplies, [B, C, ho, wo]."""
    for i in range(k):
        for j in range(k):
            yield i, j, x[:, :, i:i + stride * (ho - 1) + 1:stride, j:j + stride * (wo - 1) + 1:stride]


def conv2d(x: NDArray, w: NDArray, stride: int) -> NDArray:
    """Dense 'valid' convolution without bias (im2col + one matmul). x [B, Cin, H, W], w [Cout, Cin, k, k]."""
    b, c, h, wd = x.shape
    cout, cin, k, k2 = w.shape
    assert cin == c and k == k2, f"conv2d: weight {w.shape} does not fit input {x.shape}"
    assert w.dtype == x.dtype, f"conv2d: weight {w.dtype} vs input {x.dtype} (no silent up/downcast)"
    if h < k or wd < k:
        raise ValueError(f"conv2d: input map {h}x{wd} is smaller than the {k}x{k} kernel")
    ho, wo = _out_size(h, k, stride), _out_size(wd, k, stride)
    cols = np.empty((b, c, k, k, ho, wo), dtype=x.dtype)
    for i, j, view in _taps(x, k, stride, ho, wo):
        cols[:, :, i, j] = view
    # rows of cols are ordered (cin, i, j), like the flattened torch weight [Cout, Cin*k*k]
    y = w.reshape(cout, c * k * k) @ cols.reshape(b, c * k * k, ho * wo)  # -> [B, Cout, ho*wo]
    return y.reshape(b, cout, ho, wo)


def conv1x1(x: NDArray, w: NDArray) -> NDArray:
    """1x1 convolution without bias as a matmul over channels. x [B, Cin, H, W], w [Cout, Cin, 1, 1]."""
    b, c, h, wd = x.shape
    assert w.shape[1:] == (c, 1, 1), f"conv1x1: weight {w.shape} does not fit input {x.shape}"
    assert w.dtype == x.dtype, f"conv1x1: weight {w.dtype} vs input {x.dtype} (no silent up/downcast)"
    y = w.reshape(w.shape[0], c) @ x.reshape(b, c, h * wd)  # [B, Cin, H*W] -> [B, Cout, H*W]
    return y.reshape(b, w.shape[0], h, wd)


def depthwise_padding(kernel_size: int, stride: int, adjust: bool) -> Pad:
    """The zero padding (top, bottom, left, right) transformers gives a block's depthwise conv.

    stride 1: torch's padding="same" -> symmetric k//2 (kernel sizes are odd).
    stride 2: an explicit pad, then a 'valid' conv.  With adjust (every block not listed in
    cfg.depthwise_padding, i.e. all of align-base's) the pad is lopsided: k//2 - 1 before, k//2 after -- one less
    on the top/left than the symmetric 'same' pad.  Without adjust it is the symmetric k//2.
    """
    if kernel_size % 2 != 1:
        raise NotImplementedError(f"depthwise kernel size must be odd, got {kernel_size}")
    half = kernel_size // 2
    if stride == 1:
        return (half, half, half, half)
    if stride == 2:
        before = half - 1 if adjust else half
        return (before, half, before, half)
    raise NotImplementedError(f"depthwise stride must be 1 or 2 (as in transformers), got {stride}")


def depthwise_conv2d(x: NDArray, w: NDArray, stride: int, pad: Pad) -> NDArray:
    """Per-channel convolution (torch's groups=C) without bias, after zero padding `pad` (top, bottom, left, right).

    x [B, C, H, W], w [C, 1, k, k] -> [B, C, (H + t + b - k)//stride + 1, (W + l + r - k)//stride + 1].
    The readable reference: one multiply-add of a shifted, strided view per kernel tap.
    """
    b, c, h, wd = x.shape
    k = w.shape[-1]
    assert w.shape == (c, 1, k, k), f"depthwise_conv2d: weight {w.shape} does not fit input {x.shape}"
    assert w.dtype == x.dtype, f"depthwise_conv2d: weight {w.dtype} vs input {x.dtype} (no silent up/downcast)"
    xp = pad2d(x, pad)  # [B, C, H, W] -> [B, C, Hp, Wp]
    hp, wp = xp.shape[2:]
    if hp < k or wp < k:
        raise ValueError(f"depthwise_conv2d: padded map {hp}x{wp} is smaller than the {k}x{k} kernel")
    ho, wo = _out_size(hp, k, stride), _out_size(wp, k, stride)
    out = np.zeros((b, c, ho, wo), dtype=x.dtype)
    for i, j, view in _taps(xp, k, stride, ho, wo):
        out += w[:, 0, i, j].reshape(1, c, 1, 1) * view  # [B, C, ho, wo]
    return out


# ----------------------------------------------------------------------------------------------- reductions
def squeeze_excite(x: NDArray, reduce_w: NDArray, reduce_b: NDArray, expand_w: NDArray, expand_b: NDArray,
                   act: Callable[[NDArray], NDArray]) -> NDArray:
    """Squeeze-and-excitation: rescale each channel by a gate computed from the spatial means.

    x [B, C, H, W]; reduce_w [S, C, 1, 1], reduce_b [S]; expand_w [C, S, 1, 1], expand_b [C].
    """
    b, c = x.shape[:2]
    s_dim = reduce_w.shape[0]
    assert reduce_w.shape == (s_dim, c, 1, 1) and reduce_b.shape == (s_dim,), "squeeze_excite: reduce shapes"
    assert expand_w.shape == (c, s_dim, 1, 1) and expand_b.shape == (c,), "squeeze_excite: expand shapes"
    assert all(a.dtype == x.dtype for a in (reduce_w, reduce_b, expand_w, expand_b)), "squeeze_excite: dtypes"
    s = x.mean(axis=(2, 3))                                    # [B, C, H, W] -> [B, C]
    s = act(s @ reduce_w.reshape(s_dim, c).T + reduce_b)       # [B, C] -> [B, S]
    s = sigmoid(s @ expand_w.reshape(c, s_dim).T + expand_b)   # [B, S] -> [B, C]
    return x * s[:, :, None, None]                             # [B, C, H, W]


def _check_pool_fits(h: int, w: int, kernel_size: int) -> None:
    if h > kernel_size or w > kernel_size:
        raise NotImplementedError(
            f"pool: the final feature map is {h}x{w}, larger than the pooling kernel (config hidden_dim = "
            f"{kernel_size}); transformers' pooler would give {-(-h // kernel_size)}x{-(-w // kernel_size)} windows "
            f"per channel and its reshape to [batch, channels] fails. Use a smaller image or a larger hidden_dim.")


def pool(x: NDArray, kernel_size: int, pooling_type: str = "mean") -> NDArray:
    """transformers' pooler, nn.AvgPool2d(kernel_size, ceil_mode=True) (MaxPool2d for "max"), then reshape to [B, C].

    [B, C, H, W] -> [B, C].  The stride equals the kernel, so with ceil_mode there are ceil(H / k) windows down and
    ceil(W / k) across.  When H <= k and W <= k that is one window, clipped to the map; AvgPool2d's divisor is the
    clipped window's area (the ceil_mode overhang is not counted), so the result is the plain mean over all H*W
    cells (align-base: k = hidden_dim = 640 on a 9x9 map -> mean of 81), or the max for "max".  With a larger map
    the pool gives more than one window per channel and transformers' reshape to [B, C] fails: not supported.
    """
    _check_pool_fits(x.shape[2], x.shape[3], kernel_size)
    if pooling_type == "mean":
        return x.mean(axis=(2, 3))  # [B, C, H, W] -> [B, C]
    if pooling_type == "max":
        return x.max(axis=(2, 3))   # [B, C, H, W] -> [B, C]
    raise NotImplementedError(f"pool: pooling_type must be 'mean' or 'max', got {pooling_type!r}")


# ----------------------------------------------------------------------------------------------- layers
def _bn(x: NDArray, params: dict[str, NDArray], name: str, eps: float) -> NDArray:
    """Inference batch norm of checkpoint module `name` (running statistics), over channel axis 1."""
    return batch_norm(x, params[name + ".weight"], params[name + ".bias"], params[name + ".running_mean"],
                      params[name + ".running_var"], eps, channel_axis=1)


def stem_conv(x: NDArray, w: NDArray) -> NDArray:
    """The stem's convolution: zero-pad 1 row at the bottom and 1 column at the right only (whatever the size),
    then a 3x3 stride-2 'valid' conv.  x [B, Cin, H, W], w [Cout, Cin, 3, 3] -> [B, Cout, H//2, W//2].
    (On an odd side the last window ends on the last pixel and the pad is never read; on an even side it is.)"""
    return conv2d(pad2d(x, (0, 1, 0, 1)), w, stride=2)  # [B, 3, 289, 289] -> [B, 64, 144, 144] for align-base


def stem(x: NDArray, params: dict[str, NDArray], cfg: EfficientNetConfig, prefix: str = "vision_model.") -> NDArray:
    """Stem: stem_conv -> BN -> activation.  Reads {prefix}embeddings.convolution.weight and .batchnorm.*"""
    p = prefix + "embeddings."
    y = stem_conv(x, params[p + "convolution.weight"])
    return activation(cfg.hidden_act)(_bn(y, params, p + "batchnorm", cfg.batch_norm_eps))


def mbconv_block(x: NDArray, params: dict[str, NDArray], spec: BlockSpec, cfg: EfficientNetConfig,
                 prefix: str = "vision_model.") -> NDArray:
    """One MBConv block (spec from block_specs), reading {prefix}encoder.blocks.{spec.index}.*

    [expand 1x1 -> BN -> act] -> depthwise -> BN -> act -> squeeze-excite -> project 1x1 -> BN [-> + x].
    [B, in_dim, H, W] -> [B, out_dim, H', W'] (H' = H for stride 1, about H/2 for stride 2).
    """
    p = f"{prefix}encoder.blocks.{spec.index}."
    act, eps = activation(cfg.hidden_act), cfg.batch_norm_eps
    assert x.shape[1] == spec.in_dim, f"block {spec.index}: expects {spec.in_dim} channels, got {x.shape}"
    h = x
    if spec.expand:
        h = conv1x1(h, params[p + "expansion.expand_conv.weight"])  # [B, in, H, W] -> [B, in*ratio, H, W]
        h = act(_bn(h, params, p + "expansion.expand_bn", eps))
    pad = depthwise_padding(spec.kernel_size, spec.stride, spec.adjust_padding)
    h = depthwise_conv2d(h, params[p + "depthwise_conv.depthwise_conv.weight"], spec.stride, pad)  # -> [B, E, H', W']
    h = act(_bn(h, params, p + "depthwise_conv.depthwise_norm", eps))
    h = squeeze_excite(h, params[p + "squeeze_excite.reduce.weight"], params[p + "squeeze_excite.reduce.bias"],
                       params[p + "squeeze_excite.expand.weight"], params[p + "squeeze_excite.expand.bias"], act)
    h = conv1x1(h, params[p + "projection.project_conv.weight"])  # [B, E, H', W'] -> [B, out, H', W']
    h = _bn(h, params, p + "projection.project_bn", eps)
    if spec.residual:  # every block but a stage's first (in == out, stride 1); no activation after the add
        h = h + x
    return h


# ----------------------------------------------------------------------------------------------- the tower
def feature_map_sizes(cfg: EfficientNetConfig, height: int, width: int) -> list[tuple[int, int]]:
    """Spatial size after the stem and after each block for a height x width input (56 entries for align-base).

    ValueError (naming pixel_values) when the image is too small for some convolution, NotImplementedError when the
    final map is too large for the pooler (see `pool`)."""
    def conv_out(size: int, k: int, stride: int, before: int, after: int, where: str) -> int:
        if size + before + after < k:
            raise ValueError(f"pixel_values: a {height}x{width} image is too small: {where} would see a "
                             f"{size}-pixel map (padded to {size + before + after}) with a {k}x{k} kernel")
        return _out_size(size + before + after, k, stride)

    h, w = conv_out(height, 3, 2, 0, 1, "the stem"), conv_out(width, 3, 2, 0, 1, "the stem")
    sizes = [(h, w)]
    for spec in block_specs(cfg):
        t, b, l, r = depthwise_padding(spec.kernel_size, spec.stride, spec.adjust_padding)
        where = f"block {spec.index}'s depthwise conv"
        h = conv_out(h, spec.kernel_size, spec.stride, t, b, where)
        w = conv_out(w, spec.kernel_size, spec.stride, l, r, where)
        sizes.append((h, w))
    _check_pool_fits(h, w, cfg.hidden_dim)
    return sizes


def _check_params(params: dict[str, NDArray], cfg: EfficientNetConfig, prefix: str, dtype: np.dtype) -> None:
    """Every tensor the forward reads must be present, of its architecture shape and of the compute dtype."""
    for name, shape in efficientnet_shapes(cfg, prefix).items():
        if name not in params:
            raise CheckpointError(f"vision weights: missing tensor {name!r}")
        arr = params[name]
        if not isinstance(arr, np.ndarray) or arr.shape != shape:
            got = arr.shape if isinstance(arr, np.ndarray) else type(arr).__name__
            raise CheckpointError(f"vision weights: {name!r} has shape {got}, expected {shape}")
        if arr.dtype != dtype:
            raise ValueError(f"pixel_values has dtype {dtype} but weight {name!r} is {arr.dtype}: "
                             f"convert both to the same compute dtype (float32 or float64)")


def _check_pixels(pixel_values, cfg: EfficientNetConfig) -> None:
    if not isinstance(pixel_values, np.ndarray):
        raise TypeError(f"pixel_values must be a NumPy array, got {type(pixel_values).__name__}")
    if pixel_values.ndim != 4:
        raise ValueError(f"pixel_values must be 4-D [batch, {cfg.num_channels}, height, width], "
                         f"got shape {pixel_values.shape}")
    if pixel_values.dtype not in (np.float32, np.float64):
        raise ValueError(f"pixel_values must be float32 or float64, got dtype {pixel_values.dtype}")
    if pixel_values.shape[0] == 0:
        raise ValueError(f"pixel_values holds no images (shape {pixel_values.shape})")
    if pixel_values.shape[1] != cfg.num_channels:
        raise ValueError(f"pixel_values must have {cfg.num_channels} channels on axis 1 (NCHW), "
                         f"got shape {pixel_values.shape}")
    if not np.isfinite(pixel_values).all():
        raise ValueError("pixel_values contains NaN or infinite values")


def efficientnet_forward(params: dict[str, NDArray], cfg: EfficientNetConfig, pixel_values: NDArray,
                         prefix: str = "vision_model.", output_hidden_states: bool = False) -> VisionOutput:
    """AlignVisionModel.forward: stem -> MBConv blocks -> pool.

    pixel_values [B, num_channels, H, W] (float32 or float64, the dtype of the params; any H, W the convolutions
    and the pooler accept) -> VisionOutput; hidden_states, when asked for, as in transformers: the stem output
    (the first block's input) followed by every block's output.
    """
    _check_pixels(pixel_values, cfg)
    _check_params(params, cfg, prefix, pixel_values.dtype)
    feature_map_sizes(cfg, *pixel_values.shape[2:])  # fails early, naming pixel_values, on sizes that cannot work

    if cfg.hidden_act in _FAST_ACTS:
        h, hidden = _blocks_nhwc(params, cfg, pixel_values, prefix, output_hidden_states)
    else:
        h, hidden = _blocks_reference(params, cfg, pixel_values, prefix, output_hidden_states)
    pooled = pool(h, cfg.hidden_dim, cfg.pooling_type)  # [B, C, h, w] -> [B, C]
    assert h.dtype == pooled.dtype == pixel_values.dtype, "dtype drift in the vision tower"
    return VisionOutput(last_hidden_state=h, pooler_output=pooled, hidden_states=hidden)


def _blocks_reference(params, cfg, pixel_values, prefix, output_hidden_states):
    """The readable NCHW forward (stem -> blocks) from the functions above: the twin of _blocks_nhwc."""
    h = stem(pixel_values, params, cfg, prefix)  # [B, 3, H, W] -> [B, 64, ~H/2, ~W/2]
    assert h.shape[1] == stem_channels(cfg)
    hidden = [h] if output_hidden_states else None
    for spec in block_specs(cfg):
        h = mbconv_block(h, params, spec, cfg, prefix)  # -> [B, out_dim, h', w']
        if hidden is not None:
            hidden.append(h)
    return h, hidden


_FAST_ACTS = ("swish", "silu")  # the activation the kernels fuse; other activations take _blocks_reference


def _nchw(x: NDArray) -> NDArray:
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))  # [B, H, W, C] -> [B, C, H, W]


def _blocks_nhwc(params, cfg, pixel_values, prefix, output_hidden_states):
    """stem -> blocks through refalign.fast.kernels, NHWC inside; returns what _blocks_reference does (NCHW).

    Same maths as stem / mbconv_block; float32 folds each batch norm's mean into its shift (see kernels.bn_vectors),
    float64 keeps ops.batch_norm's formula.  The squeeze-excite gate multiplies the feature map (as squeeze_excite
    does) or, where that is larger and the product runs on OpenBLAS, the projection weights' input columns,
    (x * g) @ W.T = x @ (W * g).T."""
    from ..fast.parallel import forward_threads   # here: loading weights does not start Numba
    with forward_threads():  # the 1x1 products split over refalign's threads (see refalign.fast.parallel)
        return _blocks_nhwc_run(params, cfg, pixel_values, prefix, output_hidden_states)


_BN_SUFFIXES = (".weight", ".bias", ".running_mean", ".running_var")


def _batch_norm_vectors(params, names: list[str], eps: float, fold: bool) -> dict[str, tuple[NDArray, ...]]:
    """Every named batch norm's (a, s, t) vectors (kernels.bn_vectors_many, all in one pass), kept from one forward
    to the next while they come from the same arrays (fast.kept). Recomputing them took ~2-3 ms of align-base's
    forward (concatenating 648 small arrays of the checkpoint)."""
    from ..fast import kernels as K
    from ..fast.kept import kept
    arrays = [params[name + suffix] for name in names for suffix in _BN_SUFFIXES]
    layers = [tuple(arrays[i:i + len(_BN_SUFFIXES)]) for i in range(0, len(arrays), len(_BN_SUFFIXES))]
    return kept(arrays, lambda: dict(zip(names, K.bn_vectors_many(layers, eps, fold))),
                ("batch norm vectors", tuple(names), eps, fold))


def _blocks_nhwc_run(params, cfg, pixel_values, prefix, output_hidden_states):
    from ..fast import kernels as K
    from ..fast.parallel import apply_epilogue, matmul_wt, packs
    dt, eps = pixel_values.dtype, cfg.batch_norm_eps
    fold = dt == np.float32

    names = [prefix + "embeddings.batchnorm"] + [
        f"{prefix}encoder.blocks.{spec.index}.{module}" for spec in block_specs(cfg)
        for module in (("expansion.expand_bn",) if spec.expand else ()) + ("depthwise_conv.depthwise_norm",
                                                                            "projection.project_bn")]
    bn = _batch_norm_vectors(params, names, eps, fold).__getitem__

    p = prefix + "embeddings."
    x = np.ascontiguousarray(pixel_values.transpose(0, 2, 3, 1))  # NCHW -> NHWC, once: [B, H, W, 3]
    h = K.stem_bn_swish(x, params[p + "convolution.weight"], 2, (0, 1, 0, 1), *bn(p + "batchnorm"))  # [B, h, w, 64]
    hidden = [h] if output_hidden_states else None
    for spec in block_specs(cfg):
        bp = f"{prefix}encoder.blocks.{spec.index}."
        inp = h
        b, hh, ww, c = h.shape
        assert c == spec.in_dim, f"block {spec.index}: expects {spec.in_dim} channels, got {h.shape}"
        if spec.expand:
            w = params[bp + "expansion.expand_conv.weight"]
            e = w.shape[0]
            y = matmul_wt(h.reshape(b * hh * ww, c), w.reshape(e, c),  # [B*H*W, in] -> [B*H*W, E], BN, swish
                          K.bn_act_epilogue(*bn(bp + "expansion.expand_bn"), act=True))
            h = y.reshape(b, hh, ww, e)
        pad = depthwise_padding(spec.kernel_size, spec.stride, spec.adjust_padding)
        h, means = K.depthwise_bn_swish(h, params[bp + "depthwise_conv.depthwise_conv.weight"], spec.stride, pad,
                                        *bn(bp + "depthwise_conv.depthwise_norm"))  # [B, H', W', E], [B, E]
        # squeeze-excite gate from the means the depthwise pass gathered (squeeze_excite's formulas)
        rw, ew = params[bp + "squeeze_excite.reduce.weight"], params[bp + "squeeze_excite.expand.weight"]
        se = swish(means @ rw.reshape(rw.shape[0], -1).T + params[bp + "squeeze_excite.reduce.bias"])  # [B, S]
        gate = sigmoid(se @ ew.reshape(ew.shape[0], -1).T + params[bp + "squeeze_excite.expand.bias"])  # [B, E]
        b, hh, ww, e = h.shape
        wp = params[bp + "projection.project_conv.weight"]
        wp = wp.reshape(wp.shape[0], e)                     # [out, E]
        epilogue = K.bn_act_epilogue(*bn(bp + "projection.project_bn"), residual=inp if spec.residual else None)
        if hh * ww <= wp.shape[0] or packs(h.reshape(b * hh * ww, e), wp):
            # scale the map, as squeeze_excite does, one product for the batch: when the map is the smaller, and on
            # refalign's kernel always, which then reads the weights' kept panels (A/B on align-base's 18x18 blocks,
            # maps 1.4-2x the weights: 5% faster forward than packing scaled weights anew; scaling h in place instead
            # of into a new array measured slower)
            y = matmul_wt((h * gate[:, None, None, :]).reshape(b * hh * ww, e), wp, epilogue)  # -> [B*H'*W', out]
        elif b == 1:  # large map: scale the weights' input columns instead, (x * g) @ W.T = x @ (W * g).T
            y = matmul_wt(h.reshape(hh * ww, e), wp * gate[0], epilogue)
        else:  # ... per image, then the epilogue over the batch
            y = apply_epilogue(np.concatenate([matmul_wt(h[i].reshape(hh * ww, e), wp * gate[i]) for i in range(b)]),
                               epilogue)
        h = y.reshape(b, hh, ww, wp.shape[0])
        if hidden is not None:
            hidden.append(h)
    if hidden is not None:
        hidden = [_nchw(t) for t in hidden]  # NHWC -> NCHW only for what is returned
        return hidden[-1], hidden            # last_hidden_state is hidden_states[-1], as in _blocks_reference
    return _nchw(h), None
