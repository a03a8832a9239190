"""Patch embedding: a convolution whose kernel equals its stride (non-overlapping patches), written as one matrix
product over the flattened patches. Shared by the ViT and CLIP-vision towers.

Shapes: B = batch, C = channels, H x W = image, p = patch size, N = (H / p) * (W / p) patches, D = hidden size.
"""
from __future__ import annotations

from numpy.typing import NDArray


def patchify(pixel_values: NDArray, patch: int) -> NDArray:
    """[B, C, H, W] -> [B, N, C*p*p], patches in row-major order, each flattened in (C, p, p) order -- the order of a
    conv weight [D, C, p, p], so the product with the flattened weight is the convolution."""
    B, C, H, W = pixel_values.shape
    gh, gw = H // patch, W // patch                       # patches per column / row (a remainder is dropped, as conv)
    x = pixel_values[:, :, :gh * patch, :gw * patch].reshape(B, C, gh, patch, gw, patch)
    return x.transpose(0, 2, 4, 1, 3, 5).reshape(B, gh * gw, C * patch * patch)


def patch_embed(pixel_values: NDArray, weight: NDArray, bias: NDArray | None) -> NDArray:
    """Conv2d(C -> D, kernel = stride = p) then flatten: [B, C, H, W] -> [B, N, D]. weight: [D, C, p, p]."""
    D, _, p, _ = weight.shape
    patches = patchify(pixel_values, p)                          # [B, N, C*p*p]
    B, N, K = patches.shape
    x = (patches.reshape(B * N, K) @ weight.reshape(D, K).T).reshape(B, N, D)  # one 2-D product -> [B, N, D]
    return x + bias if bias is not None else x


def check_image_input(pixel_values: NDArray, num_channels: int, image_size: int) -> None:
    """A [B, C, H, W] batch at the size the position embeddings were made for; ValueError naming what is off."""
    if pixel_values.ndim != 4 or pixel_values.shape[1] != num_channels:
        raise ValueError(f"pixel_values must be [batch, {num_channels}, height, width], got {pixel_values.shape}")
    if pixel_values.shape[2:] != (image_size, image_size):
        raise ValueError(f"pixel_values are {pixel_values.shape[2]}x{pixel_values.shape[3]} but the model's position "
                         f"embeddings are for {image_size}x{image_size} (image_size); refalign does not interpolate "
                         "position embeddings")
