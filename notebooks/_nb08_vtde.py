"""Notebook 8: VisionTextDualEncoder (ViT + RoBERTa, the bundled tiny-vtde), step by step."""

NAME = "08_vision_text_dual_encoder.ipynb"


def cells(md, code):
    return [
        md(r'''
# 8 · VisionTextDualEncoder: two pretrained towers and two projections

A **VisionTextDualEncoder** (VTDE) is less a model than a recipe: take an image encoder and a text encoder that were
pretrained separately, put one linear map *without bias* on top of each so that both land in a shared space of
`projection_dim` numbers, and learn a single scalar, the **logit scale**. Then train the pair CLIP-style on matching
image–caption pairs. Checkpoints such as `clip-italian` are built this way.

This notebook goes through the bundled **tiny-vtde** checkpoint (a ViT image tower + a RoBERTa text tower):

1. how `config.json` picks the two towers, and how the tokenizer (byte-level BPE) and image processor are picked
   from the files in the folder;
2. which **pooled output** each tower hands to its projection;
3. the two projections, the normalisation, the logit scale and the contrastive loss, by hand;
4. a similarity picture on fresh renders of coloured shapes;
5. the **golden-file workflow** for a VTDE port: a faithful port passes, two classic bugs fail, and `compare` names
   the tensor where each one starts.

Every hand computation is asserted equal to refalign's (`refalign/models/vision_text_dual_encoder.py`,
`refalign/models/projected.py`, `refalign/auto.py`).
'''),
        md(r'''
**Which weights?** Always the small `tiny-vtde` folder that ships with refalign (`weights/tiny-vtde`). Its
`MADE_BY.json` says how it was made; the setup cell prints it. The trained version comes from `tools/train_tiny.py`:
a small ViT and a small RoBERTa trained only on pictures of one coloured shape with English captions such as
"a red circle". Sizes (layers, widths, vocabulary, image size) are read
from the checkpoint's files, never written into the cells.
'''),
        code(r'''
import json
import os
import re
import shutil
import sys
import tempfile

import numpy as np
import matplotlib.pyplot as plt
import refalign
from refalign.loading.hub import resolve_weights

%matplotlib inline
plt.rcParams.update({"figure.dpi": 80, "font.size": 9})
np.set_printoptions(precision=4, suppress=True, linewidth=110)

WEIGHTS = resolve_weights("tiny-vtde")                 # the bundled folder; never the network
ASSETS = os.path.join(os.path.dirname(refalign.__file__), "assets")
sys.path.insert(0, os.path.abspath(os.path.join(os.pardir, "tools")))   # the repository's tools/ folder:
import shapes                                                            # the coloured-shapes task

def read_json(name):
    with open(os.path.join(WEIGHTS, name), encoding="utf-8") as f:
        return json.load(f)

made_by = read_json("MADE_BY.json")
TRAINED = made_by.get("tool") == "tools/train_tiny.py"
print("weights:", WEIGHTS)
print("made by:", made_by.get("tool"), "->", "trained on the coloured-shapes task" if TRAINED else
      "NOT trained (a placeholder): every computation below is exact, but the scores mean nothing")
'''),
        md(r'''
## 1 · `config.json` picks the towers

The top-level `model_type` picks the *family* (refalign's `refalign.auto.MODELS` table). Inside, `vision_config` and
`text_config` are complete tower configs, each with its **own** `model_type`: that is what decides which tower code
runs. The pair is free — any supported image tower with any supported text tower.
'''),
        code(r'''
from refalign.auto import MODELS, model_type_of
from refalign.models.vision_text_dual_encoder import TEXT_TOWERS, VISION_TOWERS, VisionTextDualEncoderConfig

config_json = read_json("config.json")
v_type, t_type = config_json["vision_config"]["model_type"], config_json["text_config"]["model_type"]
print("model_type              ", repr(config_json["model_type"]), "->", MODELS[model_type_of(WEIGHTS)])
print("vision_config.model_type", repr(v_type), "->", VISION_TOWERS[v_type].__name__)
print("text_config.model_type  ", repr(t_type), "->", TEXT_TOWERS[t_type].__name__)
print("projection_dim          ", config_json["projection_dim"])
print()
print("supported image towers:", {k: c.__name__ for k, c in VISION_TOWERS.items()}, "+ 'clip' (its vision part)")
print("supported text towers: ", {k: c.__name__ for k, c in TEXT_TOWERS.items()})
'''),
        md(r'''
`refalign.AutoModel` reads the same file and builds the family's model; its config holds one tower config of the
class the table names. The class then decides the forward function: `ViTConfig` / `DeiTConfig` run
`towers/vit.py`, `CLIPVisionConfig` runs `towers/clip_vision.py`, and `BertConfig` / `RobertaConfig` both run
`towers/bert.py` — RoBERTa is BERT plus one rule about position ids (below).
'''),
        code(r'''
model = refalign.AutoModel.from_pretrained(WEIGHTS)            # float32
vcfg, tcfg = model.config.vision_config, model.config.text_config
print(model)
print(model.config.describe())

assert f"{type(model).__module__}:{type(model).__name__}" == MODELS[config_json["model_type"]]
assert type(vcfg) is VISION_TOWERS[v_type] and type(tcfg) is TEXT_TOWERS[t_type]
assert vcfg.num_hidden_layers == config_json["vision_config"]["num_hidden_layers"]
assert tcfg.num_hidden_layers == config_json["text_config"]["num_hidden_layers"]
'''),
        md(r'''
The same two tables decide for any other checkpoint. Here are a few made-up `config.json` fragments. A vision part
that is a *whole* CLIP config (`"model_type": "clip"`) is reduced to its own `vision_config`, as transformers 4
did; a tower type outside the tables is refused by name, never guessed.
'''),
        code(r'''
from refalign.errors import UnsupportedModelError
from refalign.models.vision_text_dual_encoder import DeiTConfig
from refalign.towers.bert import BertConfig, RobertaConfig
from refalign.towers.clip_vision import CLIPVisionConfig

examples = {
    "DeiT + BERT": {"vision_config": {"model_type": "deit"}, "text_config": {"model_type": "bert"}},
    "CLIP vision + XLM-R": {"vision_config": {"model_type": "clip_vision_model"},
                            "text_config": {"model_type": "xlm-roberta"}},
    "whole CLIP config + RoBERTa": {"vision_config": {"model_type": "clip", "vision_config": {"patch_size": 32},
                                                      "text_config": {}},
                                    "text_config": {"model_type": "roberta"}},
    "Swin + BERT": {"vision_config": {"model_type": "swin"}, "text_config": {"model_type": "bert"}},
}
picked = {}
for name, d in examples.items():
    try:
        d = VisionTextDualEncoderConfig.prepare(d, "example")
        classes = VisionTextDualEncoderConfig.section_classes(d)
        picked[name] = (classes["vision_config"], classes["text_config"])
        print(f"{name:28} -> {classes['vision_config'].__name__} + {classes['text_config'].__name__}"
              f"   (vision_config now {d['vision_config']})")
    except UnsupportedModelError as e:
        print(f"{name:28} -> UnsupportedModelError: {e}")

assert picked["DeiT + BERT"] == (DeiTConfig, BertConfig)
assert picked["CLIP vision + XLM-R"] == (CLIPVisionConfig, RobertaConfig)
assert picked["whole CLIP config + RoBERTa"] == (CLIPVisionConfig, RobertaConfig)
assert "Swin + BERT" not in picked
'''),
        md(r'''
### The tokenizer and the image processor come from the files

The family itself names neither: `refalign.AutoProcessor` asks `AutoTokenizer` and `AutoImageProcessor`, which read

* `tokenizer_config.json`'s `tokenizer_class`; without one, the first file present decides (`vocab.txt` → BERT's
  WordPiece, `vocab.json` → RoBERTa's byte-level BPE, `sentencepiece.bpe.model` → XLM-R's unigram, and a lone
  `tokenizer.json` by its `model.type`);
* `preprocessor_config.json`'s `image_processor_type`.
'''),
        code(r'''
from refalign.auto import IMAGE_PROCESSORS, TOKENIZER_FILES, TOKENIZER_JSON_MODELS, TOKENIZERS

tok_cfg, pre_cfg, tok_json = read_json("tokenizer_config.json"), read_json("preprocessor_config.json"), \
    read_json("tokenizer.json")
print("files:", sorted(f for f in os.listdir(WEIGHTS) if not f.startswith(".")))
print("tokenizer_class      ", repr(tok_cfg["tokenizer_class"]), "->", TOKENIZERS[tok_cfg["tokenizer_class"]])
by_files = next(cls for f, cls in TOKENIZER_FILES if os.path.isfile(os.path.join(WEIGHTS, f)))
print("  without it, by files ->", by_files, "| tokenizer.json model.type", repr(tok_json["model"]["type"]), "->",
      TOKENIZER_JSON_MODELS[tok_json["model"]["type"]])
ip_type = pre_cfg["image_processor_type"]
print("image_processor_type ", repr(ip_type), "->", IMAGE_PROCESSORS[ip_type])

processor = refalign.AutoProcessor.from_pretrained(WEIGHTS)
tok, ip = processor.tokenizer, processor.image_processor
print(processor)
assert type(tok).__name__ == TOKENIZERS[tok_cfg["tokenizer_class"]].split(":")[1] == by_files
assert type(ip).__name__ == IMAGE_PROCESSORS[ip_type].split(":")[1]
'''),
        md(r'''
**Byte-level BPE, by hand.** RoBERTa's tokenizer never meets an unknown character: a caption is cut into words
(a space belongs to the word after it), each word is written as UTF-8 bytes, and each byte is shown as one printable
symbol — the space byte becomes `Ġ`. Starting from one symbol per byte, the pair of neighbours that comes **first
in the merge list** is glued together, again and again, until no neighbouring pair is in the list. Our captions are
plain ASCII letters and spaces, so a short regular expression does the word split here (refalign's tokenizer uses
GPT-2's full pattern).
'''),
        code(r'''
from refalign.tokenizers.bpe import bytes_to_unicode

byte_symbol = bytes_to_unicode()
vocab = tok_json["model"]["vocab"]                                          # token -> id
merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in tok_json["model"]["merges"]]
rank = {pair: r for r, pair in enumerate(merges)}
print(len(vocab), "tokens,", len(merges), "merges; the space byte is shown as", repr(byte_symbol[ord(" ")]))

def bpe(word):
    symbols = [byte_symbol[b] for b in word.encode("utf-8")]
    while len(symbols) > 1:
        r, i = min((rank.get(pair, np.inf), i) for i, pair in enumerate(zip(symbols, symbols[1:])))
        if r == np.inf:                                                    # no neighbouring pair is a merge
            break
        symbols[i:i + 2] = [symbols[i] + symbols[i + 1]]                  # lowest rank, leftmost first
    return symbols

def tokenize_by_hand(text):
    words = re.findall(r" ?[A-Za-z]+", text)
    assert "".join(words) == text, "only letters and single spaces in these captions"
    return [piece for w in words for piece in bpe(w)]

captions = shapes.captions("en")
for text in captions[:4]:
    print(f"{text!r:20} {tokenize_by_hand(text)}")
for text in captions:
    assert tokenize_by_hand(text) == tok.tokenize(text), text
'''),
        md(r'''
The ids are the pieces looked up in the vocabulary, between `<s>` and `</s>`; a batch is padded with `<pad>`. The one
rule where RoBERTa differs from BERT: **position ids** count from `pad_token_id + 1` over the real tokens, and padding
sits at position `pad_token_id` (BERT simply uses 0, 1, 2, …).
'''),
        code(r'''
from refalign.towers.bert import position_ids

enc = processor(text=captions, padding="longest")
ids, mask = enc["input_ids"], enc["attention_mask"]
by_hand = np.full(ids.shape, vocab["<pad>"])
for row, text in enumerate(captions):
    pieces = ["<s>"] + tokenize_by_hand(text) + ["</s>"]
    by_hand[row, :len(pieces)] = [vocab[p] for p in pieces]
assert np.array_equal(by_hand, ids) and np.array_equal(mask, (by_hand != vocab["<pad>"]).astype(np.int64))

short = int(mask.sum(1).argmin())
hand_positions = np.where(mask == 1, np.cumsum(mask, axis=1) + tcfg.pad_token_id, tcfg.pad_token_id)
print(f"{captions[short]!r}: ids {ids[short]}")
print(f"{'':{len(repr(captions[short]))}}  positions {hand_positions[short]}  (pad_token_id = {tcfg.pad_token_id})")
assert np.array_equal(hand_positions, position_ids(tcfg, ids))
'''),
        md(r'''
**The image processor** (`ViTImageProcessor` here) squashes the whole picture to the tower's square size with PIL's
bilinear resize (no crop: the aspect ratio is not kept), rescales bytes to [0, 1] and normalises with mean and std
0.5, so the pixels end up in [−1, 1].
'''),
        code(r'''
photo = refalign.load_image(os.path.join(ASSETS, "shape.png"))
resized = photo.resize((ip.size["width"], ip.size["height"]), resample=ip.resample)
x = (np.asarray(resized).astype(np.float64) * ip.rescale_factor).astype(np.float32)   # rescale in float64
x = (x - np.float32(ip.image_mean)) / np.float32(ip.image_std)                      # normalise in float32
pixels_by_hand = x.transpose(2, 0, 1)[None]                                         # (1, 3, H, W)
print(f"{photo.size} -> {pixels_by_hand.shape}, range [{pixels_by_hand.min():.3f}, {pixels_by_hand.max():.3f}]")
assert np.array_equal(pixels_by_hand, processor(images=[photo])["pixel_values"])
assert pixels_by_hand.shape[-1] == vcfg.image_size
'''),
        md(r'''
## 2 · What each tower hands to its projection

Each tower returns a `last_hidden_state` (one vector per token or patch) and a **`pooler_output`** (one vector per
input). The projections read the pooler output — and what that is depends on the tower:

| tower | `pooler_output` |
|---|---|
| ViT / DeiT | `tanh(dense(last_hidden_state[:, 0]))`: dense + tanh on the class token, after ViT's final LayerNorm |
| BERT / RoBERTa | `tanh(dense(last_hidden_state[:, 0]))`: the same on `[CLS]` / `<s>` |
| CLIP vision | `post_layernorm(last_hidden_state[:, 0])`: a LayerNorm of the class token, no dense, no tanh |

We run a batch of four fresh renders of the held-out "test" split with their four captions through both towers and
rebuild the pooled outputs from the last hidden states.
'''),
        code(r'''
pairs = [("red", "circle"), ("green", "square"), ("blue", "triangle"), ("yellow", "square")]
rng = np.random.default_rng([8, 1])                        # fresh renders, held-out "test" split
images = [shapes.render(colour, shape, rng, "test") for colour, shape in pairs]
texts = [shapes.caption(colour, shape) for colour, shape in pairs]
inputs = processor(text=texts, images=images, padding="longest")
print({k: v.shape for k, v in inputs.items()})

P = model.params
vis = model.vision_model(inputs["pixel_values"], output_hidden_states=True)
txt = model.text_model(inputs["input_ids"], inputs["attention_mask"], output_hidden_states=True)
print("vision: hidden_states", len(vis.hidden_states), "x", vis.hidden_states[0].shape,
      "| last_hidden_state", vis.last_hidden_state.shape, "| pooler_output", vis.pooler_output.shape)
print("text:   hidden_states", len(txt.hidden_states), "x", txt.hidden_states[0].shape,
      "| last_hidden_state", txt.last_hidden_state.shape, "| pooler_output", txt.pooler_output.shape)
'''),
        md(r'''
**ViT.** Its `hidden_states[-1]` is the last layer's output *before* the final LayerNorm; `last_hidden_state` is
after it. The pooler then reads token 0, the class token, through a dense layer and a tanh.
'''),
        code(r'''
def layer_norm(x, gain, bias, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gain + bias

def dense(x, name):                                        # torch layout: weight is (out, in)
    return x @ P[name + ".weight"].T + P[name + ".bias"]

v_last = layer_norm(vis.hidden_states[-1], P["vision_model.layernorm.weight"], P["vision_model.layernorm.bias"],
                    vcfg.layer_norm_eps)
v_pooled = np.tanh(dense(v_last[:, 0], "vision_model.pooler.dense"))        # (B, T, D) -> (B, D) -> (B, D_pool)
print("class token", v_last[:, 0].shape, "-> pooled", v_pooled.shape)
assert np.allclose(v_last, vis.last_hidden_state, rtol=0, atol=1e-5)
assert np.allclose(v_pooled, vis.pooler_output, rtol=0, atol=1e-5)
'''),
        md(r'''
**RoBERTa.** Token 0 of every caption is `<s>` (RoBERTa's `[CLS]`); its pooler is the same dense + tanh.
'''),
        code(r'''
assert (inputs["input_ids"][:, 0] == vocab["<s>"]).all()
t_pooled = np.tanh(dense(txt.last_hidden_state[:, 0], "text_model.pooler.dense"))   # (B, L, H) -> (B, H)
print("<s> rows", txt.last_hidden_state[:, 0].shape, "-> pooled", t_pooled.shape)
assert np.allclose(t_pooled, txt.pooler_output, rtol=0, atol=1e-5)

raw = txt.last_hidden_state[:, 0]
print("how far the pooled output is from the raw <s> row: max |difference| =",
      f"{np.abs(t_pooled - raw).max():.3f} (raw row scale {np.abs(raw).max():.3f})")
'''),
        md(r'''
**CLIP vision, for comparison.** A VTDE built on a CLIP image tower pools differently: no dense and no tanh, just
CLIP's `post_layernorm` on the class token — and CLIP's `last_hidden_state` has no final LayerNorm over every token.
This checkpoint has no CLIP tower, so we borrow the CLIP-style vision tower of the bundled AltCLIP checkpoint
(refalign runs it with the same `towers/clip_vision.py`), with its own image processor.
'''),
        code(r'''
altclip = refalign.AutoModel.from_pretrained("tiny-altclip")
ccfg, AP = altclip.config.vision_config, altclip.params
assert isinstance(ccfg, CLIPVisionConfig)
clip_pixels = refalign.AutoProcessor.from_pretrained("tiny-altclip")(images=images)["pixel_values"]
clip_out = altclip.vision_model(clip_pixels)
c_pooled = layer_norm(clip_out.last_hidden_state[:, 0], AP["vision_model.post_layernorm.weight"],
                      AP["vision_model.post_layernorm.bias"], ccfg.layer_norm_eps)
print(f"CLIP vision ({ccfg.num_hidden_layers} layers, hidden {ccfg.hidden_size}): class token",
      clip_out.last_hidden_state[:, 0].shape, "-> post_layernorm", c_pooled.shape)
assert np.allclose(c_pooled, clip_out.pooler_output, rtol=0, atol=1e-5)
assert not any(k.startswith("vision_model.pooler.") for k in AP)          # no dense + tanh pooler in a CLIP tower
'''),
        md(r'''
## 3 · Two projections without bias, the logit scale and the loss

The projections are plain matrices (the checkpoint has no bias for them): `visual_projection` maps the image pooled
output and `text_projection` the text pooled output to `projection_dim` numbers. Both are L2-normalised, and a pair's
score is its cosine times **`exp(logit_scale)`** — the checkpoint stores the *logarithm* of the scale
(training starts it at the config's `logit_scale_init_value`, 2.6592 = ln(1/0.07), a scale of ≈ 14.3; the cell
prints where this checkpoint's ended up).

    logits_per_text  = exp(logit_scale) · text_embeds @ image_embeds.T      [n_texts, n_images]
    logits_per_image = logits_per_text.T
'''),
        code(r'''
Wv, Wt = P["visual_projection.weight"], P["text_projection.weight"]
assert "visual_projection.bias" not in P and "text_projection.bias" not in P
print("visual_projection", Wv.shape, "| text_projection", Wt.shape)
print(f"logit_scale {float(model.logit_scale):.4f} -> scale exp(logit_scale) = {float(np.exp(model.logit_scale)):.2f}"
      f"   (config's initial value {config_json['logit_scale_init_value']})")

image_features = v_pooled @ Wv.T                                  # (B_i, D_pool) -> (B_i, projection_dim)
text_features = t_pooled @ Wt.T                                   # (B_t, H) -> (B_t, projection_dim)
assert np.allclose(image_features, model.get_image_features(inputs["pixel_values"]), rtol=0, atol=1e-5)
assert np.allclose(text_features, model.get_text_features(inputs["input_ids"], inputs["attention_mask"]),
                   rtol=0, atol=1e-5)

image_embeds = image_features / np.linalg.norm(image_features, axis=1, keepdims=True)
text_embeds = text_features / np.linalg.norm(text_features, axis=1, keepdims=True)
scale = np.exp(model.logit_scale)
logits_per_text = scale * text_embeds @ image_embeds.T          # (B_t, P) @ (P, B_i) -> (B_t, B_i)
logits_per_image = logits_per_text.T
print("logits_per_text (rows: captions, columns: images)")
print(logits_per_text)
'''),
        md(r'''
**The contrastive loss.** Caption *i* belongs with image *i*. Each row of `logits_per_text` is a softmax over the
images, and the loss of that direction is the mean of −log p(right image); the same over the columns gives the
image → text direction; the loss is the average of the two. A model that could not tell the pairs apart would score
ln 4 ≈ 1.386 on this batch; for the trained checkpoint the cell asserts a loss below that, and that each caption's
highest logit is its own image's.
'''),
        code(r'''
def log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))

n = len(texts)
text_to_image = -log_softmax(logits_per_text)[np.arange(n), np.arange(n)].mean()
image_to_text = -log_softmax(logits_per_image)[np.arange(n), np.arange(n)].mean()
loss = (text_to_image + image_to_text) / 2
print(f"text->image {text_to_image:.3g}   image->text {image_to_text:.3g}   loss {loss:.3g}"
      f"   (ln {n} = {np.log(n):.4f})")

out = model(**inputs, return_loss=True)
tol = 1e-5 * float(np.abs(out.logits_per_text).max())            # logits are ~scale in size: a relative 1e-5
assert np.allclose(image_embeds, out.image_embeds, rtol=0, atol=1e-5)
assert np.allclose(text_embeds, out.text_embeds, rtol=0, atol=1e-5)
assert np.allclose(logits_per_text, out.logits_per_text, rtol=0, atol=tol)
assert np.allclose(logits_per_image, out.logits_per_image, rtol=0, atol=tol)
assert np.isclose(loss, out.loss, rtol=1e-5, atol=1e-6)
if TRAINED:                               # it tells these pairs apart: each caption's best image is its own
    assert loss < np.log(n) and (logits_per_text.argmax(1) == np.arange(n)).all()
'''),
        code(r'''
fig, axes = plt.subplots(1, n + 1, figsize=(11, 2.6), gridspec_kw={"width_ratios": [1] * n + [1.6]})
for ax, im, text in zip(axes, images, texts):
    thumb = im.copy(); thumb.thumbnail((120, 120))
    ax.imshow(thumb); ax.axis("off"); ax.set_title(text, fontsize=8)
m = axes[-1].imshow(logits_per_text, cmap="viridis")
axes[-1].set_xticks(range(n), [f"img {j}" for j in range(n)], fontsize=7)
axes[-1].set_yticks(range(n), texts, fontsize=7)
for i in range(n):
    for j in range(n):
        bright = logits_per_text[i, j] > logits_per_text.mean()            # dark text on the bright cells
        axes[-1].text(j, i, f"{logits_per_text[i, j]:.1f}", ha="center", va="center", fontsize=7,
                      color="k" if bright else "w")
axes[-1].set_title(f"logits_per_text, loss {float(out.loss):.2g}", fontsize=8)
plt.tight_layout(); plt.show()
'''),
        md(r'''
## 4 · A similarity picture

Six fresh renders of the held-out "test" split (sizes, rotations and image sizes the training never drew) against
all twelve captions. `logits_per_image` has one row per image; a softmax over each row gives P(caption | image).
The colour scale is logarithmic, so that the runners-up show too. With the trained checkpoint each row's darkest
cell is inside the red box: the cell asserts that the most probable caption is the right one for every render
whenever `MADE_BY.json` says the weights are trained, and prints the probability the right caption gets. An
untrained checkpoint gives nearly flat rows.
'''),
        code(r'''
probe = [("red", "triangle"), ("green", "circle"), ("blue", "square"), ("yellow", "triangle"), ("blue", "circle"),
         ("red", "square")]
rng = np.random.default_rng([80, 1])
renders = [shapes.render(colour, shape, rng, "test") for colour, shape in probe]
enc = processor(text=captions, images=renders, padding="longest")
logits = model(**enc).logits_per_image                             # (6 images, 12 captions)
z = logits - logits.max(1, keepdims=True)
probs = np.exp(z) / np.exp(z).sum(1, keepdims=True)
assert np.allclose(probs, refalign.similarity(renders, captions, model=model), rtol=0, atol=1e-5)
from matplotlib.colors import LogNorm

fig = plt.figure(figsize=(11, 3.6))
grid = fig.add_gridspec(len(probe), 2, width_ratios=[1, 9], wspace=0.02, hspace=0.1)
for r, im in enumerate(renders):
    ax = fig.add_subplot(grid[r, 0]); thumb = im.copy(); thumb.thumbnail((64, 64))
    ax.imshow(thumb); ax.axis("off")
ax = fig.add_subplot(grid[:, 1])
m = ax.imshow(np.clip(probs, 1e-10, 1), cmap="Blues", norm=LogNorm(vmin=1e-10, vmax=1), aspect="auto")
ax.set_xticks(range(len(captions)), captions, rotation=35, ha="right"); ax.set_yticks([])
for r, (colour, shape) in enumerate(probe):
    ax.add_patch(plt.Rectangle((captions.index(shapes.caption(colour, shape)) - 0.5, r - 0.5), 1, 1, fill=False,
                               ec="crimson", lw=1.5))
fig.colorbar(m, ax=ax, fraction=0.03, pad=0.01, label="P(caption | image), log scale")
ax.set_title("softmax over the 12 captions for each render (red box = the right caption)")
plt.show()

predicted = [captions[j] for j in probs.argmax(1)]
right = probs[np.arange(len(probe)), [captions.index(shapes.caption(c, s)) for c, s in probe]]
print("predicted:", predicted)
print("P(right caption):", right)
if TRAINED:
    assert predicted == [shapes.caption(colour, shape) for colour, shape in probe]
'''),
        md(r'''
## 5 · Golden files for a VTDE port

Porting a VTDE means porting two towers, two poolers, two projections and a head, and a final score that is off
says nothing about *where*. A **golden file** holds every intermediate of one forward pass, in forward order: the
inputs, each text layer, `text.last_hidden_state` and **`text.pooler_output`** (what feeds `text_projection`), each
vision layer, `vision.last_hidden_state` and **`vision.pooler_output`**, then the embeddings, both logit matrices
and the loss. We write one in **float64**; refalign also records, per tensor, how far its own float32 path lands
from it (the golden's *noise* figures), which become the budgets a float32 port is held to.
'''),
        code(r'''
from refalign.golden import compare, make_golden, read_golden
from refalign.models.contrastive import contrastive_loss

workdir = tempfile.mkdtemp(prefix="refalign-vtde-golden-")       # files go to a temporary folder
home = os.getcwd()
os.chdir(workdir)                                                  # (short, stable names in the reports below)
gold_images = [photo, renders[0]]
gold_texts = ["a blue triangle", shapes.caption(*probe[0])]
golden_path = make_golden(WEIGHTS, images=gold_images, texts=gold_texts,
                          out="golden64.safetensors", dtype="float64")
golden, meta = read_golden(golden_path)
print(f"{len(golden)} tensors, {os.path.getsize(golden_path) / 1e3:.0f} kB, model_type {meta['model_type']!r}, "
      f"dtype {meta['dtype']}")
for name, t in golden.items():
    print(f"  {name:26} {str(t.shape):18} {t.dtype}")
'''),
        md(r'''
**A faithful port.** Our stand-in for "your port" is refalign run in **float32** on the same inputs. `compare`
checks names, then shapes, dtypes and values; each float32 tensor is held to ten times the float32 noise the golden
recorded for it. This stand-in *is* the float32 path that noise was measured on, so it uses a tenth of each budget
at most; an independent port (another summation order, another BLAS) will use a different share, and the factor ten
is the margin left for that.
'''),
        code(r'''
port_path = make_golden(WEIGHTS, images=gold_images, texts=gold_texts,
                        out="port32.safetensors", dtype="float32")
port, _ = read_golden(port_path)
result_ok = compare(golden_path, port_path)
print(result_ok.format())
assert result_ok.ok and result_ok.first_failure is None
assert max(r.budget_used for r in result_ok.reports if r.status == "OK") <= 0.1 * (1 + 1e-6)
'''),
        md(r'''
**Bug 1: the raw `<s>` row instead of the pooler.** ALIGN projects the raw `[CLS]` hidden state (notebook 2), so a
port that reuses ALIGN's head for a VTDE skips the dense + tanh pooler. Every tower tensor is right; the tensor
handed to `text_projection` is not, and neither is anything after it. The port dumps what it projects under the name
`text.pooler_output`.
'''),
        code(r'''
Wt32, scale32 = model.params["text_projection.weight"], np.exp(model.logit_scale)    # the float32 port's weights

def l2(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)

bug1 = dict(port)
bug1["text.pooler_output"] = port["text.last_hidden_state"][:, 0]                  # the bug: no dense + tanh
bug1["text_embeds"] = l2(bug1["text.pooler_output"] @ Wt32.T)
bug1["logits_per_text"] = scale32 * bug1["text_embeds"] @ port["image_embeds"].T
bug1["logits_per_image"] = bug1["logits_per_text"].T
bug1["loss"] = contrastive_loss(bug1["logits_per_text"])
result1 = compare(golden_path, bug1)
print(result1.format())
assert result1.first_failure == "text.pooler_output"
assert {r.name for r in result1.reports if r.failed} == {"text.pooler_output", "text_embeds", "logits_per_text",
                                                          "logits_per_image", "loss"}
'''),
        md(r'''
**Bug 2: the logit scale used as it is stored.** `logit_scale` is a logarithm; a port that multiplies the cosines by
it directly (instead of by `exp(logit_scale)`) has every tower and both embeddings right, and only the logits — and
the loss after them — wrong.
'''),
        code(r'''
bug2 = dict(port)
bug2["logits_per_text"] = model.logit_scale * port["text_embeds"] @ port["image_embeds"].T   # the bug: no exp
bug2["logits_per_image"] = bug2["logits_per_text"].T
bug2["loss"] = contrastive_loss(bug2["logits_per_text"])
result2 = compare(golden_path, bug2)
print(result2.format())
assert result2.first_failure == "logits_per_text"
assert {r.name for r in result2.reports if r.failed} == {"logits_per_text", "logits_per_image", "loss"}
'''),
        md(r'''
The share of its budget each tensor used, in forward order, on a log scale (exact matches — the token ids and the
mask, which must match exactly, and here the pixels too — are grey stubs at the bottom). The faithful port sits
below the dashed line everywhere; each bug jumps far above it at the tensor where it starts, and stays there
downstream.
'''),
        code(r'''
runs = [("faithful float32 port", result_ok), ("bug 1: raw <s> row projected", result1),
        ("bug 2: logit_scale without exp", result2)]
fig, axes = plt.subplots(len(runs), 1, figsize=(10, 5.6), sharex=True, sharey=True)
for ax, (title, result) in zip(axes, runs):
    reports = [r for r in result.reports if r.status in ("OK", "NOT OK")]
    used = np.array([max(r.budget_used, 3e-4) for r in reports])          # exact matches: a stub at the bottom
    colours = ["crimson" if r.failed else "silver" if r.budget_used == 0 else "seagreen" for r in reports]
    ax.bar(range(len(reports)), used, bottom=1e-4, color=colours)
    ax.axhline(1.0, color="k", ls="--", lw=1); ax.set_yscale("log"); ax.set_ylim(1e-4, 1e9)
    ax.set_title(f"{title}: first failure = {result.first_failure}", fontsize=9, loc="left")
    ax.set_ylabel("budget used")
axes[-1].set_xticks(range(len(reports)), [r.name for r in reports], rotation=90, fontsize=7)
plt.tight_layout(); plt.show()
os.chdir(home)
shutil.rmtree(workdir)                                             # remove the temporary files
'''),
        md(r'''
**In your own port:**
`refalign golden --weights <your VTDE folder> --dtype float64 --image ... --text ... -o golden.safetensors`
(or `make_golden(..., dtype="float64")`) writes the golden; dump your port's tensors under the same names into a
`.npz` or `.safetensors` file and run `refalign compare golden.safetensors my_dump.npz`. Dump the tensor you *feed*
each projection as `text.pooler_output` / `vision.pooler_output`: that is where a wrong pooler shows up first.
'''),
    ]
