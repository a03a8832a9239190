"""Notebook 06: the vision transformer (ViT, in VisionTextDualEncoder; CLIP's vision tower, in AltCLIP), step by step.

Defines NAME and cells(md, code) in the style of notebooks/_build.py (md / code make a markdown / code cell).
"""

NAME = "06_vision_transformer.ipynb"


def cells(md, code):
    return [
        md(r'''
# 6 · The vision transformer: ViT and CLIP's vision tower, opened up

ALIGN sees with a convolutional network (notebook 3). The two other families refalign implements see with a
**vision transformer**: the picture is cut into square patches, each patch becomes one token, and a stack of
transformer layers — the same kind of layer as the text tower of notebook 2 — lets the tokens look at each other.

* **VisionTextDualEncoder** (`tiny-vtde`) uses **ViT** (`refalign/towers/vit.py`),
* **AltCLIP** (`tiny-altclip`) uses **CLIP's vision tower** (`refalign/towers/clip_vision.py`).

The two are nearly the same network. This notebook follows one picture through both, and rebuilds by hand:

1. each tower's **preprocessing** (they crop and normalise differently),
2. cutting the picture into **patches**, their flattening order, and the **patch embedding** — one matrix product
   that is the same thing as the library's strided convolution,
3. the **class token** and the **position embeddings**,
4. **one transformer layer** (pre-LN attention with several heads, then the MLP),
5. the **attention of the class token** over the patches, per head and per layer, drawn over the picture,
6. how each tower **ends**: the pooled vector that becomes the image embedding.

We compute in float64, so our NumPy and refalign's can be compared to 1e-9; every hand-written step is asserted
against refalign's own functions and model outputs.
'''),
        md(r'''
**Which weights?** The two small checkpoints bundled with refalign (`weights/tiny-vtde`, `weights/tiny-altclip`):
the real architectures, shrunk (hidden size 64, patches of 32 pixels), and trained by `tools/train_tiny.py` only on
pictures of one coloured shape captioned like "a blue triangle" (`tools/shapes.py`). Every number below is read
from their config files; the setup cell prints what each checkpoint is. The picture we follow is
`refalign/assets/shape.png`, a blue triangle from the shapes task's held-out split: neither model saw it in
training.
'''),
        code(r'''
import json
import os
import sys
import numpy as np
import matplotlib.pyplot as plt
import refalign
from refalign.loading.hub import resolve_weights
from refalign.layers.patch_embedding import patchify, patch_embed
from refalign.ops import activation, erf
from refalign.towers import clip_vision, vit

%matplotlib inline
plt.rcParams.update({"figure.dpi": 80, "font.size": 9})
np.set_printoptions(precision=4, suppress=True, linewidth=110)

sys.path.insert(0, os.path.abspath(os.path.join(os.pardir, "tools")))
import shapes                                                    # the synthetic shapes task (PIL + NumPy)

ASSETS = os.path.join(os.path.dirname(refalign.__file__), "assets")
PICTURE = os.path.join(ASSETS, "shape.png")

made_by = {}
for name in ("tiny-vtde", "tiny-altclip"):
    with open(os.path.join(resolve_weights(name), "MADE_BY.json"), encoding="utf-8") as f:
        made_by[name] = json.load(f)
    print(f"{name:13s} made by {made_by[name]['tool']}: {made_by[name].get('note', '')}")
TRAINED = all(m["tool"] == "tools/train_tiny.py" for m in made_by.values())
print("trained on the shapes task:", TRAINED)
'''),
        code(r'''
vtde = refalign.AutoModel.from_pretrained("tiny-vtde", dtype=np.float64)        # ViT + RoBERTa
altclip = refalign.AutoModel.from_pretrained("tiny-altclip", dtype=np.float64)  # CLIP vision + XLM-R
proc_vit = refalign.AutoProcessor.from_pretrained("tiny-vtde")
proc_clip = refalign.AutoProcessor.from_pretrained("tiny-altclip")
print(vtde)
print(altclip)

PV, cv = vtde.params, vtde.config.vision_config          # ViT: weights by checkpoint name, and its config
PC, cc = altclip.params, altclip.config.vision_config    # CLIP vision
for label, c in (("ViT ", cv), ("CLIP", cc)):
    print(f"{label}: {c.num_hidden_layers} layers, hidden {c.hidden_size}, {c.num_attention_heads} heads, "
          f"MLP {c.intermediate_size}, {c.hidden_act}, LayerNorm eps {c.layer_norm_eps:g}, "
          f"image {c.image_size}, patch {c.patch_size} -> {c.num_patches()} patches")
'''),
        md(r'''
## 1 · Preprocessing

Each checkpoint's `preprocessor_config.json` names its image processor, which `refalign.AutoProcessor` (or
`refalign.AutoImageProcessor` alone) picks:

* **ViT** (`ViTImageProcessor`): resize to exactly 224 × 224 (bilinear — the aspect ratio is **not** kept), rescale
  the bytes to 0…1, then `(x − 0.5) / 0.5`, so the pixels lie in −1…1.
* **CLIP** (`CLIPImageProcessor`): resize (bicubic) so that the **shortest edge** is 224, keeping the aspect ratio,
  then **centre-crop** 224 × 224, rescale, and normalise with the per-channel mean and standard deviation of
  OpenAI's CLIP training images.

Our picture is 464 × 323, wider than tall: ViT squashes all of it into the square, CLIP keeps the proportions and
cuts off the sides. We redo both by hand and check the processors give the same numbers.
'''),
        code(r'''
ip_vit, ip_clip = proc_vit.image_processor, proc_clip.image_processor
print(type(ip_vit).__name__, "|", type(refalign.AutoImageProcessor.from_pretrained("tiny-vtde")).__name__)
print(type(ip_clip).__name__, "|", type(refalign.AutoImageProcessor.from_pretrained("tiny-altclip")).__name__)
photo = refalign.load_image(PICTURE)                                  # upright RGB PIL image
W0, H0 = photo.size
print("original", W0, "x", H0)

# ViT: squash to size["height"] x size["width"], rescale, (x - mean) / std
sz = ip_vit.size
vit_uint8 = np.asarray(photo.resize((sz["width"], sz["height"]), resample=ip_vit.resample))   # (224, 224, 3)
x = vit_uint8.astype(np.float64) * ip_vit.rescale_factor
x = (x - np.array(ip_vit.image_mean)) / np.array(ip_vit.image_std)
pixels_vit = x.transpose(2, 0, 1)[None]                                # (1, 3, 224, 224): NCHW
print("ViT : mean", ip_vit.image_mean, "std", ip_vit.image_std, "->", pixels_vit.shape,
      f"range [{pixels_vit.min():.3f}, {pixels_vit.max():.3f}]")

# CLIP: shortest edge -> 224 (the long edge scaled and truncated), centre crop, rescale, normalise
edge = ip_clip.size["shortest_edge"]
new_w, new_h = (int(edge * W0 / H0), edge) if H0 <= W0 else (edge, int(edge * H0 / W0))
clip_resized = np.asarray(photo.resize((new_w, new_h), resample=ip_clip.resample))
ch, cw = ip_clip.crop_size["height"], ip_clip.crop_size["width"]
top, left = (new_h - ch) // 2, (new_w - cw) // 2
clip_uint8 = clip_resized[top:top + ch, left:left + cw]
x = clip_uint8.astype(np.float64) * ip_clip.rescale_factor
x = (x - np.array(ip_clip.image_mean)) / np.array(ip_clip.image_std)
pixels_clip = x.transpose(2, 0, 1)[None]
print(f"CLIP: resized {new_w} x {new_h}, crop from column {left}, mean {ip_clip.image_mean} std {ip_clip.image_std}"
      f" -> {pixels_clip.shape} range [{pixels_clip.min():.3f}, {pixels_clip.max():.3f}]")

assert np.array_equal(pixels_vit, proc_vit(images=PICTURE, dtype=np.float64)["pixel_values"])
assert np.array_equal(pixels_clip, proc_clip(images=PICTURE, dtype=np.float64)["pixel_values"])
assert np.array_equal(vit_uint8, ip_vit.resize_and_crop(photo))
assert np.array_equal(clip_uint8, ip_clip.resize_and_crop(photo))
'''),
        code(r'''
fig, axes = plt.subplots(1, 4, figsize=(11, 2.6), gridspec_kw={"width_ratios": [W0 / H0, 1, new_w / new_h, 1]})
axes[0].imshow(photo); axes[0].set_title(f"original {W0}×{H0}")
axes[1].imshow(vit_uint8); axes[1].set_title(f"ViT input {sz['width']}×{sz['height']} (squashed)")
axes[2].imshow(clip_resized); axes[2].set_title(f"CLIP: short edge → {edge}: {new_w}×{new_h}")
axes[2].add_patch(plt.Rectangle((left - 0.5, top - 0.5), cw, ch, fill=False, ec="yellow", lw=2))
axes[3].imshow(clip_uint8); axes[3].set_title(f"CLIP input: centre crop {cw}×{ch}")
for a in axes:
    a.axis("off")
plt.tight_layout(); plt.show()
'''),
        md(r'''
The references for everything below: each tower's forward pass in refalign, keeping every hidden state and every
attention map.
'''),
        code(r'''
ref_vit = vtde.vision_model(pixels_vit, output_hidden_states=True, output_attentions=True)
ref_clip = altclip.vision_model(pixels_clip, output_hidden_states=True, output_attentions=True)
for label, r in (("ViT ", ref_vit), ("CLIP", ref_clip)):
    print(f"{label}: {len(r.hidden_states)} hidden states {r.hidden_states[0].shape}, "
          f"{len(r.attentions)} attention maps {r.attentions[0].shape}, pooled {r.pooler_output.shape}")
'''),
        md(r'''
## 2 · Patches

Both tiny towers cut patches of p = 32 pixels, so the 224 × 224 input is a g × g = 7 × 7 grid of 49 patches. They
are numbered **row by row** (left to right, then top to bottom), and each patch is unrolled into one vector of
3 · p · p = 3072 numbers in the order **channel, then row, then column**: first the 1024 red values row by row, then
the green, then the blue. So entry `k` of patch `n` is the pixel

    channel k // p²,  row (n // g)·p + (k % p²) // p,  column (n % g)·p + k % p.

We cut the patches with plain slicing and compare with refalign's `patchify` (a reshape and a transpose).
'''),
        code(r'''
p = cv.patch_size
assert cc.patch_size == p and cc.image_size == cv.image_size      # both tiny towers cut the same grid
g = cv.image_size // p                                           # patches per row and per column
patches_by_hand = []
for n in range(g * g):
    r, c = divmod(n, g)                                          # row-major: patch n is in grid row n // g
    patches_by_hand.append(pixels_vit[0, :, r * p:(r + 1) * p, c * p:(c + 1) * p].reshape(-1))  # (3, p, p) -> 3p²
patches_by_hand = np.stack(patches_by_hand)[None]                # (1, N, 3·p·p)
print("patches", patches_by_hand.shape)
assert np.array_equal(patches_by_hand, patchify(pixels_vit, p))

n = 2 * g + 3                                                    # a patch in the middle of the grid
print(f"patch {n}: grid row {n // g}, column {n % g}")
for k in (0, 1, p - 1, p, p * p - 1, p * p, 2 * p * p, 3 * p * p - 1):
    ch_, row, col = k // (p * p), (n // g) * p + (k % (p * p)) // p, (n % g) * p + k % p
    print(f"  entry {k:4d} = pixel (channel {ch_}, row {row:3d}, column {col:3d})")
    assert patches_by_hand[0, n, k] == pixels_vit[0, ch_, row, col]
'''),
        code(r'''
fig = plt.figure(figsize=(11, 3.4))
ax = fig.add_axes([0.0, 0.05, 0.27, 0.85])
ax.imshow(vit_uint8)
for i in range(1, g):
    ax.axhline(i * p - 0.5, color="w", lw=0.8); ax.axvline(i * p - 0.5, color="w", lw=0.8)
for m in range(g * g):
    ax.text((m % g + 0.5) * p, (m // g + 0.5) * p, str(m), color="crimson" if m == n else "k", ha="center",
            va="center", fontsize=7, bbox=dict(boxstyle="round,pad=0.15", fc="w", ec="none", alpha=0.7))
ax.set_title(f"ViT input cut into {g}×{g} patches of {p}×{p}"); ax.axis("off")
ax = fig.add_axes([0.29, 0.3, 0.1, 0.45])
ax.imshow(vit_uint8[(n // g) * p:(n // g + 1) * p, (n % g) * p:(n % g + 1) * p], interpolation="nearest")
ax.set_title(f"patch {n}"); ax.axis("off")
ax = fig.add_axes([0.47, 0.2, 0.52, 0.62])
vec = patches_by_hand[0, n]
for c, colour in enumerate(["tab:red", "tab:green", "tab:blue"]):
    idx = np.arange(c * p * p, (c + 1) * p * p)
    ax.plot(idx, vec[idx], color=colour, lw=0.6)
ax.set_xlabel("entry k of the flattened patch  (red 0…1023 | green 1024…2047 | blue 2048…3071)")
ax.set_ylabel("pixel value"); ax.set_title(f"patch {n} unrolled: every {p} entries = one row of the patch")
plt.show()
'''),
        md(r'''
## The patch embedding: a convolution that is one matrix product

The library stores the patch embedding as a convolution weight of shape (D, 3, p, p) with **kernel size = stride
= p**: the kernel visits each patch exactly once, never overlapping. Output channel `d` at grid cell (r, c) is the
sum of the weight times that patch's pixels (plus a bias, in ViT). Flatten the weight to (D, 3p²) in the same
channel-row-column order as the patches, and the whole convolution is **one matrix product**:
(N, 3p²) @ (3p², D) → (N, D), one D-dimensional token per patch. That is how `refalign/layers/patch_embedding.py`
computes it. Below, the convolution the slow way (a loop over the 7 × 7 positions) against the product.
'''),
        code(r'''
def conv_patch_by_patch(pixels, weight, bias):
    """The strided convolution, written out: weight (D, C, p, p), kernel = stride = p -> (D, H/p, W/p)."""
    D, _, k, _ = weight.shape
    out = np.zeros((D, pixels.shape[2] // k, pixels.shape[3] // k))
    for r in range(out.shape[1]):
        for c in range(out.shape[2]):
            window = pixels[0, :, r * k:(r + 1) * k, c * k:(c + 1) * k]            # (C, p, p)
            out[:, r, c] = (weight * window).sum(axis=(1, 2, 3))
    return out + (0.0 if bias is None else bias[:, None, None])

e = "vision_model.embeddings."
w_vit, b_vit = PV[e + "patch_embeddings.projection.weight"], PV[e + "patch_embeddings.projection.bias"]
D = w_vit.shape[0]
conv = conv_patch_by_patch(pixels_vit, w_vit, b_vit)                  # (D, 7, 7): a feature map
as_tokens = conv.reshape(D, g * g).T                                  # (D, 7, 7) -> (N, D), patches row-major
product = patches_by_hand[0] @ w_vit.reshape(D, -1).T + b_vit         # (N, 3p²) @ (3p², D) -> (N, D)
print("weight", w_vit.shape, "-> flattened", w_vit.reshape(D, -1).shape, "| tokens", product.shape)
print("max |convolution - matrix product| =", np.abs(as_tokens - product).max())
assert np.allclose(as_tokens, product, rtol=0, atol=1e-12)
assert np.allclose(product, patch_embed(pixels_vit, w_vit, b_vit)[0], rtol=0, atol=1e-12)

# CLIP's patch embedding is the same, without a bias
w_clip = PC[e + "patch_embedding.weight"]
tokens_clip_patches = patchify(pixels_clip, p)[0] @ w_clip.reshape(w_clip.shape[0], -1).T
assert np.allclose(conv_patch_by_patch(pixels_clip, w_clip, None).reshape(w_clip.shape[0], -1).T,
                   tokens_clip_patches, rtol=0, atol=1e-12)
assert np.allclose(tokens_clip_patches, patch_embed(pixels_clip, w_clip, None)[0], rtol=0, atol=1e-12)
print("CLIP: bias in the checkpoint?", e + "patch_embedding.bias" in PC)
'''),
        md(r'''
## 3 · The class token and the position embeddings

Two learned things are added to the 49 patch tokens:

* a **class token**, one learned vector put *in front* of the patches (token 0). It shows nothing of the picture;
  it is the seat from which, layer after layer, attention gathers a summary of the whole image — the tower's
  output is read from it.
* a **position embedding** per token (50 learned vectors, added): attention itself does not know where a patch came
  from, so without these the tokens would be a bag of patches.

ViT stores them as `cls_token` (1, 1, D) and `position_embeddings` (1, 50, D), CLIP as `class_embedding` (D) and
`position_embedding.weight` (50, D). ViT's `hidden_states[0]` is this sum itself; CLIP applies one more
LayerNorm, oddly named **`pre_layrnorm`** (CLIP's typo, kept in the checkpoints), before the first layer, and its
`hidden_states[0]` is after it.
'''),
        code(r'''
def layer_norm(x, gain, bias, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)                  # biased variance
    return (x - mean) / np.sqrt(var + eps) * gain + bias

# ViT: [cls_token, patch tokens] + position_embeddings
x_vit = np.concatenate([PV[e + "cls_token"][0], product]) + PV[e + "position_embeddings"][0]   # (T, D), T = N + 1
print("ViT  tokens", x_vit.shape)
assert np.allclose(x_vit, ref_vit.hidden_states[0][0], rtol=0, atol=1e-9)

# CLIP: [class_embedding, patch tokens] + position_embedding, then pre_layrnorm
x_clip = np.concatenate([PC[e + "class_embedding"][None], tokens_clip_patches]) + PC[e + "position_embedding.weight"]
x_clip = layer_norm(x_clip, PC["vision_model.pre_layrnorm.weight"], PC["vision_model.pre_layrnorm.bias"],
                    cc.layer_norm_eps)
print("CLIP tokens", x_clip.shape)
assert np.allclose(x_clip, ref_clip.hidden_states[0][0], rtol=0, atol=1e-9)
'''),
        md(r'''
**What the position embeddings learned.** Take the position embeddings of the 49 patches (token 0, the class
token's, left out) and compare each with every other by cosine similarity. Below, the big square is the 7 × 7 grid;
in grid cell (r, c) sits a small 7 × 7 map: how similar the position embedding of patch (r, c) is to that of each
patch. Nothing tells the model that patches 3 and 10 are neighbours, so any such geometry in these maps was learned.
The cell also prints, per tower, the mean similarity between two patches of the grid's **outer ring**, between two
patches **inside** it, and between a ring patch and an inner one.

What stands out is simpler than the row-and-column pattern known from big pretrained ViTs: in both trained towers
the 24 ring patches share nearly **one** position embedding (mean cosine above 0.9), while two inner patches are on
average unrelated (mean cosine within ±0.1) — the cell asserts both. A plausible reason is the training data:
`tools/shapes.py` keeps every shape inside a central square whose margin is almost one patch wide, so the ring shows
plain background nearly always, and "this is the border" is all its position needs to say.
'''),
        code(r'''
def cosine_matrix(E):
    E = E / np.linalg.norm(E, axis=1, keepdims=True)
    return E @ E.T

def mosaic(sim):                                                 # (N, N) -> one picture of g × g small maps
    big = np.full((g * (g + 1) - 1,) * 2, np.nan)
    for m in range(g * g):
        r, c = divmod(m, g)
        big[r * (g + 1):r * (g + 1) + g, c * (g + 1):c * (g + 1) + g] = sim[m].reshape(g, g)
    return big

rr, cc_ = np.divmod(np.arange(g * g), g)                        # grid row and column of every patch
pos_sims = {"ViT (tiny-vtde)": cosine_matrix(PV[e + "position_embeddings"][0, 1:]),
            "CLIP vision (tiny-altclip)": cosine_matrix(PC[e + "position_embedding.weight"][1:])}
ring = (rr == 0) | (rr == g - 1) | (cc_ == 0) | (cc_ == g - 1)   # the outer ring of the grid
others = ~np.eye(g * g, dtype=bool)                              # pairs of two different patches
pos_stats = {}
fig, axes = plt.subplots(1, 2, figsize=(9, 4.4))
for ax, (label, sim) in zip(axes, pos_sims.items()):
    pos_stats[label] = st = {"ring-ring": sim[ring[:, None] & ring[None] & others].mean(),
                             "inner-inner": sim[~ring[:, None] & ~ring[None] & others].mean(),
                             "ring-inner": sim[ring[:, None] & ~ring[None]].mean()}
    print(f"{label:27s} {ring.sum()} ring and {(~ring).sum()} inner patches, mean cosine: "
          + ", ".join(f"{k} {v:+.3f}" for k, v in st.items()))
    cmap = plt.get_cmap("coolwarm").copy(); cmap.set_bad("white")
    im = ax.imshow(mosaic(sim), cmap=cmap, vmin=-1, vmax=1)
    ax.set_title(label); ax.axis("off")
fig.colorbar(im, ax=axes, shrink=0.7, label="cosine similarity of position embeddings")
fig.suptitle("cell (r, c): similarity of patch (r, c)'s position embedding to every patch's")
plt.show()

if TRAINED:   # what the trained tiny towers learned (random embeddings give about 0 everywhere)
    for label, st in pos_stats.items():
        assert st["ring-ring"] > 0.9 and abs(st["inner-inner"]) < 0.1, label
'''),
        md(r'''
## 4 · One transformer layer by hand

Both towers use the **pre-LN** layer: the LayerNorm comes *before* each sub-block, and the sub-block's output is
added to its un-normalised input (BERT, in notebook 2, normalises *after* the residual instead):

    x = x + out_proj( attention( LN₁(x) ) )
    x = x + fc₂( act( fc₁( LN₂(x) ) ) )

We first take ViT's layer 0 apart. **LayerNorm**, then the **query, key and value** projections (torch layout: a
weight is (out, in), so `x @ W.T + b`), split into heads of `d = D / heads` dimensions.
'''),
        code(r'''
def linear(x, name, P):                                          # torch layout: weight (out, in)
    return x @ P[name + ".weight"].T + P[name + ".bias"]

T, heads = x_vit.shape[0], cv.num_attention_heads
d = D // heads
lp = "vision_model.encoder.layer.0."
h = layer_norm(x_vit, PV[lp + "layernorm_before.weight"], PV[lp + "layernorm_before.bias"], cv.layer_norm_eps)
q = linear(h, lp + "attention.attention.query", PV).reshape(T, heads, d).transpose(1, 0, 2)   # (T, D) -> (heads, T, d)
k = linear(h, lp + "attention.attention.key", PV).reshape(T, heads, d).transpose(1, 0, 2)
v = linear(h, lp + "attention.attention.value", PV).reshape(T, heads, d).transpose(1, 0, 2)
print("tokens", x_vit.shape, "-> q, k, v", q.shape, f"(heads, tokens, d = {D} / {heads})")
'''),
        md(r'''
**Scaled dot-product attention.** Query *i* against key *j*: their dot product over √d. There is no mask — every
image has the same 50 tokens, none of them padding. The softmax over the keys makes each row weights that sum to 1,
and each token's new vector is the weighted sum of the values. The heads are concatenated back to D, and the
**output projection** maps them into the residual stream.
'''),
        code(r'''
def softmax(z):
    z = z - z.max(-1, keepdims=True)                             # no overflow in exp
    ez = np.exp(z)
    return ez / ez.sum(-1, keepdims=True)

scores = q @ k.transpose(0, 2, 1) / np.sqrt(d)                   # (heads, T, d) @ (heads, d, T) -> (heads, T, T)
probs = softmax(scores)
context = (probs @ v).transpose(1, 0, 2).reshape(T, D)           # (heads, T, d) -> (T, heads, d) -> (T, D)
x_mid = x_vit + linear(context, lp + "attention.output.dense", PV)   # residual
print("attention", probs.shape, "| row sums", probs.sum(-1).min().round(12), "…", probs.sum(-1).max().round(12))
assert np.allclose(probs, ref_vit.attentions[0][0], rtol=0, atol=1e-9)
'''),
        md(r'''
**The MLP.** LayerNorm again, then each token alone goes through fc₁ (D → `intermediate_size`, printed at the top),
the activation, and fc₂ back to D, added to the residual. ViT's activation is **GELU**, x·Φ(x) with Φ the normal CDF
(`0.5·x·(1 + erf(x/√2))`; NumPy has no `erf`, so we borrow refalign's). CLIP's is **quick_gelu**, x·σ(1.702·x), a
sigmoid approximation of the same curve.
'''),
        code(r'''
def gelu(z):
    return 0.5 * z * (1.0 + erf(z / np.sqrt(2.0)))

def quick_gelu(z):
    return z / (1.0 + np.exp(-1.702 * z))                        # z · sigmoid(1.702 z)

h = layer_norm(x_mid, PV[lp + "layernorm_after.weight"], PV[lp + "layernorm_after.bias"], cv.layer_norm_eps)
h = gelu(linear(h, lp + "intermediate.dense", PV))               # (T, D) -> (T, I)
x_out = x_mid + linear(h, lp + "output.dense", PV)               # (T, I) -> (T, D), residual
print("MLP hidden", h.shape, "-> layer output", x_out.shape)

assert cv.hidden_act == "gelu" and cc.hidden_act == "quick_gelu"
assert np.allclose(x_out, ref_vit.hidden_states[1][0], rtol=0, atol=1e-9)
lib_out, _ = vit.encoder_layer(PV, lp, x_vit[None], cv, activation(cv.hidden_act))
assert np.allclose(x_out, lib_out[0], rtol=0, atol=1e-9)
print("max |hand - refalign| after ViT layer 0:", np.abs(x_out - ref_vit.hidden_states[1][0]).max())
'''),
        code(r'''
zz = np.linspace(-5, 3, 400)
fig, axes = plt.subplots(1, 2, figsize=(8, 2.4))
axes[0].plot(zz, gelu(zz), label="GELU (ViT)"); axes[0].plot(zz, quick_gelu(zz), "--", label="quick_gelu (CLIP)")
axes[0].axhline(0, color="k", lw=0.5); axes[0].legend(); axes[0].set_title("the two activations")
axes[1].plot(zz, quick_gelu(zz) - gelu(zz), color="crimson"); axes[1].axhline(0, color="k", lw=0.5)
axes[1].set_title(f"quick_gelu − GELU (at most {np.abs(quick_gelu(zz) - gelu(zz)).max():.3f} here)")
plt.tight_layout(); plt.show()
'''),
        md(r'''
**The same layer for CLIP.** The two towers differ only in the names of their weights and in the activation, so
one function with a table of names does both. We run it over **every** layer of both towers and compare each
hidden state and each attention map with refalign's forward pass.
'''),
        code(r'''
VIT_NAMES = {"ln1": "layernorm_before", "q": "attention.attention.query", "k": "attention.attention.key",
             "v": "attention.attention.value", "out": "attention.output.dense", "ln2": "layernorm_after",
             "fc1": "intermediate.dense", "fc2": "output.dense"}
CLIP_NAMES = {"ln1": "layer_norm1", "q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj",
              "out": "self_attn.out_proj", "ln2": "layer_norm2", "fc1": "mlp.fc1", "fc2": "mlp.fc2"}

def transformer_layer(x, P, lp, names, cfg, act):
    """One pre-LN layer: (T, D) -> (T, D), and its attention probabilities (heads, T, T)."""
    T, D = x.shape
    nh = cfg.num_attention_heads
    dh = D // nh
    h = layer_norm(x, P[lp + names["ln1"] + ".weight"], P[lp + names["ln1"] + ".bias"], cfg.layer_norm_eps)
    q, k, v = (linear(h, lp + names[t], P).reshape(T, nh, dh).transpose(1, 0, 2) for t in "qkv")
    probs = softmax(q @ k.transpose(0, 2, 1) / np.sqrt(dh))
    x = x + linear((probs @ v).transpose(1, 0, 2).reshape(T, D), lp + names["out"], P)
    h = layer_norm(x, P[lp + names["ln2"] + ".weight"], P[lp + names["ln2"] + ".bias"], cfg.layer_norm_eps)
    return x + linear(act(linear(h, lp + names["fc1"], P)), lp + names["fc2"], P), probs

towers = {"ViT": (x_vit, PV, "vision_model.encoder.layer.", VIT_NAMES, cv, gelu, ref_vit),
          "CLIP": (x_clip, PC, "vision_model.encoder.layers.", CLIP_NAMES, cc, quick_gelu, ref_clip)}
hand = {}
for label, (x, P, prefix, names, cfg, act, ref) in towers.items():
    states, maps = [x], []
    for layer in range(cfg.num_hidden_layers):
        x, pr = transformer_layer(x, P, f"{prefix}{layer}.", names, cfg, act)
        assert np.allclose(x, ref.hidden_states[layer + 1][0], rtol=0, atol=1e-9), (label, layer)
        assert np.allclose(pr, ref.attentions[layer][0], rtol=0, atol=1e-9), (label, layer)
        states.append(x); maps.append(pr)
    hand[label] = (states, np.stack(maps))                       # maps: (layers, heads, T, T)
    err = max(np.abs(s - r[0]).max() for s, r in zip(states, ref.hidden_states))
    print(f"{label:4s}: {cfg.num_hidden_layers} layers by hand = refalign's hidden states (max |diff| {err:.1e})")
'''),
        md(r'''
## 5 · Where the class token looks

Row 0 of an attention map is what the **class token** reads from: its weights over the 50 tokens. Leaving out its
weight on itself and laying the 49 patch weights back on the 7 × 7 grid gives a heat map over the picture — one per
head and per layer. Each map has its own colour scale; the title gives the share of the class token's attention
that goes to the patches at all (the rest it keeps on itself). Whether the trained towers look at the triangle,
the cell after the pictures measures.
'''),
        code(r'''
def draw_class_attention(maps, picture, title):
    L_, nh = maps.shape[:2]
    fig, axes = plt.subplots(L_, nh, figsize=(1.75 * nh, 1.85 * L_), squeeze=False)
    for layer in range(L_):
        for head in range(nh):
            ax = axes[layer, head]
            cls_row = maps[layer, head, 0]                       # (T,): the class token's weights
            ax.imshow(picture)
            ax.imshow(cls_row[1:].reshape(g, g), cmap="inferno", alpha=0.6, interpolation="nearest",
                      extent=(-0.5, picture.shape[1] - 0.5, picture.shape[0] - 0.5, -0.5))
            ax.set_title(f"L{layer} h{head}: {1 - cls_row[0]:.0%} on patches", fontsize=7)
            ax.set_xticks([]); ax.set_yticks([])
        axes[layer, 0].set_ylabel(f"layer {layer}")
    fig.suptitle(title, fontsize=9)
    plt.tight_layout(); plt.show()

draw_class_attention(hand["ViT"][1], vit_uint8, "ViT (tiny-vtde): class token → patches, per layer (rows) and head")
'''),
        code(r'''
draw_class_attention(hand["CLIP"][1], clip_uint8, "CLIP vision (tiny-altclip): class token → patches")
'''),
        md(r'''
Which patches hold the shape? The background of a shapes picture is one light tint, so a pixel far from the
border's median colour is part of the shape; a patch counts as *on the shape* if at least a quarter of its pixels
are. The cell compares the share of the class token's patch attention that lands on those patches (averaged over
the heads of the last layer) with the share of the grid they cover. In both trained towers the shape patches
receive more than three times their share (asserted), on a picture neither model trained on.
'''),
        code(r'''
def on_shape(picture):
    border = np.concatenate([picture[0], picture[-1], picture[:, 0], picture[:, -1]]).astype(float)
    far = np.abs(picture.astype(float) - np.median(border, axis=0)).sum(-1) > 60    # (H, W) shape pixels
    return far.reshape(g, p, g, p).mean(axis=(1, 3)).reshape(-1) >= 0.25           # (N,) patches on the shape

shape_share = {}
for label, picture in (("ViT", vit_uint8), ("CLIP", clip_uint8)):
    mask = on_shape(picture)
    last = hand[label][1][-1, :, 0, 1:]                          # last layer, every head, class token -> patches
    last = last / last.sum(-1, keepdims=True)                    # share of the patch attention
    shape_share[label] = (last[:, mask].sum(-1).mean(), mask.mean())
    print(f"{label:4s}: {mask.sum()} of {g * g} patches on the shape ({mask.mean():.0%} of the grid) receive "
          f"{shape_share[label][0]:.0%} of the class token's patch attention in the last layer (mean over heads)")

if TRAINED:
    for label, (attention_share, area_share) in shape_share.items():
        assert attention_share > 3 * area_share, label
'''),
        md(r'''
## 6 · How the two towers end

After the last layer the towers part ways:

| | ViT (VisionTextDualEncoder) | CLIP vision (AltCLIP) |
|---|---|---|
| before the first layer | nothing | `pre_layrnorm` over every token |
| `last_hidden_state` | final `layernorm` over every token | the last layer's output, no LayerNorm |
| `pooler_output` | `tanh(dense(·))` of the class token (after the final LayerNorm) | `post_layernorm` of the class token |
| image features | `visual_projection` (no bias) of `pooler_output` | `visual_projection` (no bias) of `pooler_output` |

So ViT's `hidden_states[-1]` is *before* its final LayerNorm and differs from its `last_hidden_state`, whereas for
CLIP they are the same array. The image features (`model.get_image_features`) are the projected pooled vector; the
model L2-normalises them before comparing with the text.
'''),
        code(r'''
vit_states = hand["ViT"][0]
last_vit = layer_norm(vit_states[-1], PV["vision_model.layernorm.weight"], PV["vision_model.layernorm.bias"],
                      cv.layer_norm_eps)                          # (T, D), every token
pooled_vit = np.tanh(linear(last_vit[0], "vision_model.pooler.dense", PV))   # the class token: (D,) -> (P,)
features_vit = pooled_vit @ PV["visual_projection.weight"].T      # (P,) -> (projection_dim,), no bias
print("ViT : last_hidden_state", last_vit.shape, "| pooler", pooled_vit.shape, "| image features", features_vit.shape)

assert np.allclose(last_vit, ref_vit.last_hidden_state[0], rtol=0, atol=1e-9)
assert not np.allclose(ref_vit.hidden_states[-1], ref_vit.last_hidden_state)   # the final LN is after hidden_states
assert np.allclose(pooled_vit, ref_vit.pooler_output[0], rtol=0, atol=1e-9)
assert np.allclose(features_vit, vtde.get_image_features(pixels_vit)[0], rtol=0, atol=1e-9)
'''),
        code(r'''
clip_states = hand["CLIP"][0]
pooled_clip = layer_norm(clip_states[-1][0], PC["vision_model.post_layernorm.weight"],
                         PC["vision_model.post_layernorm.bias"], cc.layer_norm_eps)   # the class token only: (D,)
features_clip = pooled_clip @ PC["visual_projection.weight"].T    # (D,) -> (projection_dim,), no bias
print("CLIP: last_hidden_state", clip_states[-1].shape, "| pooler", pooled_clip.shape,
      "| image features", features_clip.shape)

assert np.array_equal(ref_clip.last_hidden_state, ref_clip.hidden_states[-1])     # no final LN over the tokens
assert np.allclose(clip_states[-1], ref_clip.last_hidden_state[0], rtol=0, atol=1e-9)
assert np.allclose(pooled_clip, ref_clip.pooler_output[0], rtol=0, atol=1e-9)
assert np.allclose(features_clip, altclip.get_image_features(pixels_clip)[0], rtol=0, atol=1e-9)
'''),
        md(r'''
## End to end: does the picture match its caption?

Finally the whole models, with their own text towers, score the picture against the shapes task's twelve
captions: each model L2-normalises our image features and the caption embeddings, and the softmax of the scaled
cosines gives probabilities. Both trained models put "a blue triangle" first for this held-out picture (the cell
asserts it).
'''),
        code(r'''
captions = shapes.captions("en")
results = {}
for label, model, proc, features in (("ViT (tiny-vtde)", vtde, proc_vit, features_vit),
                                     ("CLIP (tiny-altclip)", altclip, proc_clip, features_clip)):
    out = model(**proc(text=captions, images=PICTURE, padding=True, dtype=np.float64))
    assert np.allclose(out.image_embeds[0], features / np.linalg.norm(features), rtol=0, atol=1e-9)
    probs_e2e = softmax(out.logits_per_image[0])
    results[label] = probs_e2e
    best = probs_e2e.argsort()[::-1][:3]
    print(f"{label:20s}", " | ".join(f"{captions[i]} {probs_e2e[i]:.1%}" for i in best))

if TRAINED:   # only the trained checkpoints are expected to know what they see
    for label, probs_e2e in results.items():
        assert captions[probs_e2e.argmax()] == "a blue triangle", label
'''),
    ]
