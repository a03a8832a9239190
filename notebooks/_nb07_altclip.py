"""Notebook 7: AltCLIP end to end (the bundled tiny-altclip), one image and the same captions in three languages."""

NAME = "07_altclip_languages.ipynb"


def cells(md, code):
    return [
        md(r'''
# 7 · AltCLIP end to end, across languages

**AltCLIP** keeps CLIP's image tower and replaces CLIP's English text encoder with **XLM-RoBERTa** (XLM-R), a text
encoder that reads about a hundred languages with a single SentencePiece vocabulary. The aim is one image space that
answers captions in any of those languages.

This notebook runs the bundled **tiny-altclip** checkpoint on one picture (a blue triangle) and on the *same*
captions written in English, French and Chinese:

1. the captions' **tokens** (SentencePiece unigram pieces) side by side, and their **ids with padding**;
2. the **text tower**: the XLM-R encoder with RoBERTa's position ids, then AltCLIP's own head — `pre_LN` (a
   LayerNorm) and `transformation` (a Linear) over every token, the `<s>` row as the pooled output, and
   `text_projection`. We redo the head by hand from the encoder's last hidden state;
3. the **image tower** in brief (notebook 6 covers the vision transformer in detail);
4. how close the embeddings of **one caption in three languages** are, and the **image-to-caption logits**
   `exp(logit_scale) × cosine`, by hand;
5. the **zero-shot answer in each language**.

Every hand computation is asserted against refalign (`refalign/models/altclip.py`, `refalign/models/projected.py`,
`refalign/towers/bert.py`).
'''),
        md(r'''
**Which weights?** Always the small `tiny-altclip` folder that ships with refalign (`weights/tiny-altclip`). Its
`MADE_BY.json` says how it was made, and the setup cell prints it. The trained version comes from
`tools/train_tiny.py`: a small CLIP image tower and a small XLM-R with a small unigram vocabulary of its own,
trained only on pictures of one coloured shape, captioned "a red circle", "un cercle rouge", "一个红色的圆" and so on
(`tools/shapes.py`). Sizes are read from the config throughout, so the computations also run on another AltCLIP
folder you put in `WEIGHTS` (`BAAI/AltCLIP`, for instance); the checks of what the model *learned* run only on the
trained tiny checkpoint.
'''),
        code(r'''
import json
import os
import sys

import numpy as np
import matplotlib.pyplot as plt
import refalign
from refalign.loading.hub import resolve_weights

%matplotlib inline
plt.rcParams.update({"figure.dpi": 80, "font.size": 9})
np.set_printoptions(precision=4, suppress=True, linewidth=110)

WEIGHTS = resolve_weights("tiny-altclip")                # the bundled folder; never the network
ASSETS = os.path.join(os.path.dirname(refalign.__file__), "assets")
sys.path.insert(0, os.path.abspath(os.path.join(os.pardir, "tools")))   # the repository's tools/ folder:
import shapes                                                            # the coloured-shapes task

made_by_file = os.path.join(WEIGHTS, "MADE_BY.json")         # how refalign's bundled checkpoints were made
made_by = {}
if os.path.isfile(made_by_file):
    with open(made_by_file, encoding="utf-8") as f:
        made_by = json.load(f)
TRAINED = made_by.get("tool") == "tools/train_tiny.py"
print("weights:", WEIGHTS)
print("made by:", made_by.get("tool"), "->", "trained on the coloured-shapes task" if TRAINED else
      "NOT the trained tiny checkpoint: every computation below is exact, but the checks of what the model\n"
      "learned are skipped (and on random weights the scores mean nothing)")

model = refalign.AutoModel.from_pretrained(WEIGHTS)          # float32
processor = refalign.AutoProcessor.from_pretrained(WEIGHTS)
tok = processor.tokenizer
tcfg, vcfg = model.config.text_config, model.config.vision_config
print(model)
for key, value in model.config.describe().items():
    print(f"  {key:15} {value}")
print(" ", tok)
'''),
        md(r'''
## 1 · One caption, three languages: pieces and ids

`shapes.captions(lang)` gives the twelve captions of the task in class order (four colours × three shapes), so the
i-th English, French and Chinese captions are translations of one another. French puts the colour after the shape;
Chinese has no spaces at all.

The tokenizer is XLM-R's: a SentencePiece **unigram** model. Text is split on whitespace, each word gets a `▁` in
front, and each word is cut into the vocabulary pieces whose log-probabilities add up to the most (notebook 5 redoes
that search by hand). Here are the pieces of a few classes, side by side:
'''),
        code(r'''
LANGS = ("en", "fr", "zh")
captions = {lang: shapes.captions(lang) for lang in LANGS}
CLASS_NAMES = [f"{colour} {shape}" for colour, shape in shapes.CLASSES]
TARGET = shapes.CLASSES.index(("blue", "triangle"))           # what refalign/assets/shape.png shows

shown_classes = [TARGET, shapes.CLASSES.index(("red", "circle")), shapes.CLASSES.index(("green", "square"))]
for k in shown_classes:
    print(f"class {k}: {CLASS_NAMES[k]}")
    for lang in LANGS:
        text = captions[lang][k]
        print(f"  {lang}  {text!r:26} -> {tok.tokenize(text)}")

pieces = {lang: [tok.tokenize(t) for t in captions[lang]] for lang in LANGS}
n_unk = sum(tok.unk_token in p for lang in LANGS for p in pieces[lang])
print(f"\nvocabulary: {len(tok)} tokens (config: {tcfg.vocab_size}); "
      f"captions (of {len(LANGS) * len(CLASS_NAMES)}) holding <unk>: {n_unk}")
for lang in LANGS:
    print(f"pieces per caption, {lang}: {sorted({len(p) for p in pieces[lang]})}")
in_langs = {}
for lang in LANGS:
    for p in pieces[lang]:
        for piece in p:
            in_langs.setdefault(piece, set()).add(lang)
print("pieces used by more than one language:", {p: sorted(ls) for p, ls in in_langs.items() if len(ls) > 1})

assert len(tok) == tcfg.vocab_size
if TRAINED:                                    # what the paragraph below says about this tokenizer
    assert n_unk == 0
    assert all(p == ["▁" + w for w in t.split()] for p, t in zip(pieces["en"], captions["en"]))
    assert all((("▁" + w) in p) == (w not in ("cercle", "carré"))              # French: whole words but two
               for p, t in zip(pieces["fr"], captions["fr"]) for w in t.split())
    assert all(len(p) == 2 and p[0] == "▁" + t[:t.index("的") + 1]             # Chinese: "一个<colour>的" + shape
               for p, t in zip(pieces["zh"], captions["zh"]))
    assert [p for p, ls in in_langs.items() if len(ls) > 1] == ["▁triangle"]
'''),
        md(r'''
This tokenizer was trained on the task's captions only, so its vocabulary is tiny and fits them closely: every
English word is a piece of its own; in French `triangle` and the colours are whole words too, but `cercle` and
`carré` are cut into smaller pieces; and in Chinese the whole "a … colour" prefix (一个蓝色的, "a blue …") is a
single piece, followed by the shape word. No caption needs `<unk>`. The same caption is therefore two to five pieces
long depending on the language, and the three languages share a single piece, `▁triangle` (English and French
spell it alike). Whatever ties "a blue triangle" to "一个蓝色的三角形" must come from training, not from the
vocabulary.
'''),
        md(r'''
The ids: `<s>` at the start, `</s>` at the end, the pieces' ids in between; a batch is padded to its longest caption
with `<pad>`, and the attention mask marks the real tokens. We assemble the ids ourselves from the pieces and
compare with the tokenizer's output, exactly.
'''),
        code(r'''
rows = [(lang, k) for k in shown_classes for lang in LANGS]          # 3 classes x 3 languages
texts = [captions[lang][k] for lang, k in rows]
enc = tok(texts, padding=True)
ids, mask = enc["input_ids"], enc["attention_mask"]                   # [B, L] int64 each

by_hand = [[tok.bos_token_id] + tok.convert_tokens_to_ids(tok.tokenize(t)) + [tok.eos_token_id] for t in texts]
L = max(map(len, by_hand))
padded = np.array([r + [tok.pad_token_id] * (L - len(r)) for r in by_hand])
assert np.array_equal(padded, ids)
assert np.array_equal((padded != tok.pad_token_id).astype(ids.dtype), mask)
print("special ids: <s> =", tok.bos_token_id, " <pad> =", tok.pad_token_id, " </s> =", tok.eos_token_id,
      " <unk> =", tok.unk_token_id)
print("input_ids", ids.shape)
print(ids)
print("attention_mask")
print(mask)
'''),
        md(r'''
In the picture each row is one caption and each cell one token id. Pieces that occur in more than one language get
a colour of their own (one colour per shared piece), so the overlap between the languages shows at a glance.
(Matplotlib's default font has no Chinese glyphs, so the rows name the class in English; the pieces are printed
above.)
'''),
        code(r'''
specials = {tok.bos_token_id, tok.eos_token_id}
langs_of = {}
for (lang, _), row, m in zip(rows, ids, mask):
    for i in row[m == 1]:
        langs_of.setdefault(int(i), set()).add(lang)
shared = sorted(i for i, ls in langs_of.items() if len(ls) > 1 and i not in specials)
palette = plt.get_cmap("tab10")

fig, ax = plt.subplots(figsize=(1.0 + 0.55 * L, 0.42 * len(rows) + 0.8))
for r, (row, m) in enumerate(zip(ids, mask)):
    for c, (i, real) in enumerate(zip(row, m)):
        if not real:
            colour = "0.85"
        elif int(i) in specials:
            colour = "0.35"
        elif int(i) in shared:
            colour = palette(shared.index(int(i)) % 10)
        else:
            colour = "white"
        ax.add_patch(plt.Rectangle((c, r), 1, 1, facecolor=colour, edgecolor="0.6", lw=0.5))
        ax.text(c + 0.5, r + 0.5, str(i), ha="center", va="center", fontsize=7,
                color="white" if int(i) in specials and real else "black")
ax.set_xlim(0, L); ax.set_ylim(len(rows), 0)
ax.set_xticks(np.arange(L) + 0.5, range(L)); ax.set_xlabel("position")
ax.set_yticks(np.arange(len(rows)) + 0.5,
              [f"{lang}: {t}" if lang != "zh" else f"zh: ({CLASS_NAMES[k]})" for (lang, k), t in zip(rows, texts)])
ax.tick_params(length=0)
ax.set_title("token ids (dark: <s> / </s>, grey: <pad>, coloured: a piece used by more than one language)",
             fontsize=8)
plt.tight_layout(); plt.show()
print("pieces shared across languages:", {tok.convert_ids_to_tokens(i): sorted(langs_of[i]) for i in shared})
'''),
        md(r'''
## 2 · The text tower

### RoBERTa's position ids

XLM-R is BERT's encoder with one different rule: the position ids. BERT numbers the positions 0, 1, 2, …; RoBERTa
(fairseq) counts only the *real* tokens and starts after the padding id: position = (number of non-pad tokens up
to here) + `pad_token_id` for a real token, and `pad_token_id` itself for a pad. So the first real token sits at
`pad_token_id + 1`, and a caption's real tokens get the same positions however much padding follows them.
'''),
        code(r'''
from refalign.towers.bert import position_ids

pad = tcfg.pad_token_id
real = (ids != pad).astype(np.int64)
positions = np.cumsum(real, axis=1) * real + pad                  # [B, L]
assert np.array_equal(positions, position_ids(tcfg, ids))
assert pad == tok.pad_token_id                                     # the tokenizer and the model agree on <pad>
print("pad_token_id =", pad, "| max_position_embeddings =", tcfg.max_position_embeddings)
for (lang, k), p, m in list(zip(rows, positions, mask))[:3]:
    print(f"{lang}: positions {p}   (mask {m})")
'''),
        md(r'''
### The embeddings and the encoder

The encoder's input is the sum of three table lookups — word, position (with the ids above) and token type (XLM-R
has one type, all zeros) — followed by a LayerNorm. That is `hidden_states[0]` of the text model; then come the
transformer layers (BERT's post-LN layers, notebook 2). AltCLIP's text model returns the *encoder's* hidden states,
so `hidden_states[-1]` is the encoder's last hidden state, the input of AltCLIP's head.
'''),
        code(r'''
from refalign.models.altclip import ENCODER, TEXT             # "text_model.roberta.", "text_model."

P = model.params
E = ENCODER + "embeddings."

def layer_norm(x, weight, bias, eps):                             # over the last axis, biased variance
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * weight + bias

emb = (P[E + "word_embeddings.weight"][ids]                        # [B, L] -> [B, L, H]
       + P[E + "position_embeddings.weight"][positions]
       + P[E + "token_type_embeddings.weight"][np.zeros_like(ids)])
emb = layer_norm(emb, P[E + "LayerNorm.weight"], P[E + "LayerNorm.bias"], tcfg.layer_norm_eps)

text_out = model.text_model(ids, mask, output_hidden_states=True)
print(len(text_out.hidden_states), "hidden states (embeddings + one per layer), each", text_out.hidden_states[0].shape)
assert emb.dtype == np.float32
np.testing.assert_allclose(emb, text_out.hidden_states[0], rtol=0, atol=1e-5)

# with BERT's positions 0..L-1 instead, the encoder's input would be another:
bert_like = layer_norm(P[E + "word_embeddings.weight"][ids] + P[E + "position_embeddings.weight"][np.arange(L)]
                       + P[E + "token_type_embeddings.weight"][0], P[E + "LayerNorm.weight"], P[E + "LayerNorm.bias"],
                       tcfg.layer_norm_eps)
print("max |difference| with BERT-style positions:", float(np.abs(bert_like - emb).max()))
'''),
        md(r'''
The padding does not leak into the real tokens: the attention mask hides the pad columns, and the position ids of
the real tokens do not depend on the padding. A caption encoded alone and the same caption inside the padded batch
give the same encoder states on its real tokens:
'''),
        code(r'''
short = int(np.argmin(mask.sum(axis=1)))                          # the caption with the most padding
n_real = int(mask[short].sum())
alone = model.text_model(ids[short:short + 1, :n_real], mask[short:short + 1, :n_real], output_hidden_states=True)
print(f"{texts[short]!r}: {n_real} real tokens, {L - n_real} pads in the batch")
in_batch = text_out.hidden_states[-1][short, :n_real]
np.testing.assert_allclose(alone.hidden_states[-1][0], in_batch, rtol=0, atol=1e-5)
print("max |difference| of the encoder's last states:", float(np.abs(alone.hidden_states[-1][0] - in_batch).max()))
'''),
        md(r'''
### AltCLIP's head: `pre_LN`, `transformation`, the `<s>` row, `text_projection`

Here AltCLIP differs from CLIP and from ALIGN. XLM-R's own tanh pooler is not used. Instead:

1. `pre_LN`, a LayerNorm, and `transformation`, a Linear with bias from the encoder width to `project_dim`, are
   applied to **every** token; the result is the text model's `last_hidden_state`;
2. the **pooled output** is the row of the first token, `<s>`, of that result;
3. `text_projection`, a Linear **without** bias from `project_dim` to `projection_dim`, gives the text features
   (`get_text_features`); the model's `text_embeds` are those, L2-normalised.

We do all four by hand from the encoder's last hidden state, in float32 and again in float64.
'''),
        code(r'''
def text_head(h, params, eps):
    """The encoder's last hidden state [B, L, H] -> (last_hidden_state [B, L, D], pooled [B, D], features [B, P])."""
    x = layer_norm(h, params[TEXT + "pre_LN.weight"], params[TEXT + "pre_LN.bias"], eps)        # [B, L, H]
    x = x @ params[TEXT + "transformation.weight"].T + params[TEXT + "transformation.bias"]     # -> [B, L, D]
    pooled = x[:, 0]                                                                           # <s>: [B, D]
    return x, pooled, pooled @ params["text_projection.weight"].T                              # -> [B, P]

h = text_out.hidden_states[-1]
x, pooled, feats = text_head(h, P, tcfg.layer_norm_eps)
print("encoder", h.shape, "-> pre_LN + transformation", x.shape, "-> <s> row", pooled.shape,
      "-> text_projection", feats.shape)

assert feats.dtype == np.float32
assert np.array_equal(text_out.pooler_output, text_out.last_hidden_state[:, 0])
np.testing.assert_allclose(x, text_out.last_hidden_state, rtol=0, atol=1e-5)
np.testing.assert_allclose(pooled, text_out.pooler_output, rtol=0, atol=1e-5)
np.testing.assert_allclose(feats, model.get_text_features(ids, mask), rtol=0, atol=1e-5)

# the same in float64, against the model loaded in float64
model64 = refalign.AutoModel.from_pretrained(WEIGHTS, dtype=np.float64)
out64 = model64.text_model(ids, mask, output_hidden_states=True)
x64, pooled64, feats64 = text_head(out64.hidden_states[-1], model64.params, tcfg.layer_norm_eps)
assert feats64.dtype == np.float64
np.testing.assert_allclose(x64, out64.last_hidden_state, rtol=0, atol=1e-9)
np.testing.assert_allclose(feats64, model64.get_text_features(ids, mask), rtol=0, atol=1e-9)
print("float32 vs float64 features: max |difference|", float(np.abs(feats - feats64).max()))
'''),
        md(r'''
The rows of the padding positions are computed too (every token goes through `pre_LN` and `transformation`), but
only the `<s>` row is kept, so they never reach the embedding.

## 3 · The image side, in brief

The image tower is CLIP's vision transformer (notebook 6 goes through it). The processor (CLIP's) resizes the
picture so that its shortest edge has the crop's size, and keeps the centre square; the tower's pooled output is its
class token after `post_layernorm`, and `visual_projection` (no bias) maps it to the shared space. Besides
`shape.png` (a held-out render of the task) we render a few fresh pictures of other classes from the held-out
("test") split.
'''),
        code(r'''
image_classes = [("blue", "triangle"), ("red", "circle"), ("green", "square"), ("yellow", "triangle"),
                 ("blue", "circle"), ("red", "square")]
images = {"shape.png": refalign.load_image(os.path.join(ASSETS, "shape.png"))}
image_labels = [TARGET]
for seed, (colour, shape) in enumerate(image_classes[1:]):
    images[f"{colour} {shape}"] = shapes.render(colour, shape, np.random.default_rng([seed, 1]), "test")
    image_labels.append(shapes.CLASSES.index((colour, shape)))
pixels = processor(images=list(images.values()))["pixel_values"]        # [N, 3, S, S] float32
print({name: im.size for name, im in images.items()}, "->", pixels.shape)

# what the tower sees: the crop, with the normalisation undone for display
ip = processor.image_processor
seen = pixels.transpose(0, 2, 3, 1) * np.array(ip.image_std) + np.array(ip.image_mean)
fig, axes = plt.subplots(1, len(images), figsize=(1.7 * len(images), 2.0))
for ax, name, im in zip(axes, images, seen):
    ax.imshow(np.clip(im, 0, 1)[::2, ::2]); ax.set_title(name, fontsize=8); ax.axis("off")
fig.suptitle(f"the {vcfg.image_size}x{vcfg.image_size} crops the image tower sees", fontsize=9)
plt.tight_layout(); plt.show()
'''),
        code(r'''
V = "vision_model."
vision_out = model.vision_model(pixels)
cls = vision_out.last_hidden_state[:, 0]                                           # class token: [N, D_v]
img_pooled = layer_norm(cls, P[V + "post_layernorm.weight"], P[V + "post_layernorm.bias"], vcfg.layer_norm_eps)
img_feats = img_pooled @ P["visual_projection.weight"].T                            # [N, D_v] -> [N, P]
print("vision", vision_out.last_hidden_state.shape, "-> class token", cls.shape, "-> projection", img_feats.shape)
np.testing.assert_allclose(img_pooled, vision_out.pooler_output, rtol=0, atol=1e-5)
np.testing.assert_allclose(img_feats, model.get_image_features(pixels), rtol=0, atol=1e-5)
'''),
        md(r'''
## 4 · The shared space

### One caption in three languages

Now all the captions: 12 classes × 3 languages, in one padded batch. We normalise the text features by hand and
compare them with the model's `text_embeds`; the cosine of two captions is then the dot product of their rows.
'''),
        code(r'''
all_rows = [(lang, k) for lang in LANGS for k in range(len(CLASS_NAMES))]      # language-major: en 0..11, fr, zh
all_texts = [captions[lang][k] for lang, k in all_rows]
inputs = processor(text=all_texts, images=list(images.values()), padding=True)
out = model(**inputs)
print({k: v.shape for k, v in inputs.items()})

h_all = model.text_model(inputs["input_ids"], inputs["attention_mask"], output_hidden_states=True).hidden_states[-1]
txt_feats = text_head(h_all, P, tcfg.layer_norm_eps)[2]
txt_emb = txt_feats / np.linalg.norm(txt_feats, axis=1, keepdims=True)          # [n_texts, P], unit rows
img_emb = img_feats / np.linalg.norm(img_feats, axis=1, keepdims=True)          # [n_images, P]
np.testing.assert_allclose(txt_emb, out.text_embeds, rtol=0, atol=1e-5)
np.testing.assert_allclose(img_emb, out.image_embeds, rtol=0, atol=1e-5)

text_cos = txt_emb @ txt_emb.T                                                  # [n_texts, n_texts]
n = len(CLASS_NAMES)
for a in range(len(LANGS)):
    for b in range(a + 1, len(LANGS)):
        block = text_cos[a * n:(a + 1) * n, b * n:(b + 1) * n]                 # lang a (rows) x lang b (columns)
        found = int((block.argmax(axis=1) == np.arange(n)).sum())
        off = block[~np.eye(n, dtype=bool)]
        print(f"{LANGS[a]} vs {LANGS[b]}: translation is the nearest caption for {found:2}/{n};  cosine of "
              f"translations {np.diag(block).min():.4f} to {np.diag(block).max():.4f}, of other pairs {off.mean():.3f} "
              f"on average")
        if TRAINED:                            # the trained model puts a caption and its translations together
            assert found == n and np.diag(block).min() > 0.99

# within one language: captions that share the colour, or the shape, or neither
colour_of = np.array([c for c, _ in shapes.CLASSES]); shape_of = np.array([s for _, s in shapes.CLASSES])
same_colour = (colour_of[:, None] == colour_of[None]) & ~np.eye(n, dtype=bool)
same_shape = (shape_of[:, None] == shape_of[None]) & ~np.eye(n, dtype=bool)
neither = ~(colour_of[:, None] == colour_of[None]) & ~(shape_of[:, None] == shape_of[None])
en = text_cos[:n, :n]
mean_cos = {"same colour": en[same_colour].mean(), "same shape": en[same_shape].mean(), "neither": en[neither].mean()}
print("English captions, mean cosine:", {k: round(float(v), 3) for k, v in mean_cos.items()})
if TRAINED:
    assert mean_cos["same colour"] > mean_cos["same shape"] > mean_cos["neither"]
'''),
        code(r'''
fig, ax = plt.subplots(figsize=(7.2, 6.4))
im = ax.imshow(text_cos, cmap="coolwarm", vmin=-1, vmax=1)
for edge in (n - 0.5, 2 * n - 0.5):
    ax.axhline(edge, color="k", lw=0.8); ax.axvline(edge, color="k", lw=0.8)
labels = [f"{lang} {CLASS_NAMES[k]}" for lang, k in all_rows]                   # class names in English (font)
ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=6)
ax.set_yticks(range(len(labels)), labels, fontsize=6)
ax.set_title("cosine between caption embeddings (blocks: en, fr, zh)")
fig.colorbar(im, ax=ax, shrink=0.7)
plt.tight_layout(); plt.show()
'''),
        md(r'''
The three blocks on the diagonal (English with English, and so on) and the six blocks off it look the same: for the
trained checkpoint a caption and its two translations are practically one vector (cosines above 0.99, asserted
above), and each caption's nearest neighbour in another language is its translation. Inside a block the structure
is the task's: captions of the same colour are closer, on average, than captions of the same shape, and those
closer than captions that share nothing (the printed means). The colour carries more of the text embedding than
the shape — a hint of where the model's mistakes will be.
'''),
        md(r'''
### Image to caption: `exp(logit_scale) × cosine`

The logits are the cosines between image and caption embeddings times `exp(logit_scale)`, a learned scalar stored
as its logarithm (its inverse is the softmax *temperature*). We compute them by hand and compare with the model's
`logits_per_image` (and its transpose `logits_per_text`).
'''),
        code(r'''
scale = np.exp(model.logit_scale)
print(f"logit_scale = {float(model.logit_scale):.4f}  ->  exp(logit_scale) = {float(scale):.3f}")
cos = img_emb @ txt_emb.T                                                       # [n_images, n_texts]
logits = scale * cos
np.testing.assert_allclose(logits, out.logits_per_image, rtol=1e-5, atol=1e-5)
np.testing.assert_allclose(logits.T, out.logits_per_text, rtol=1e-5, atol=1e-5)

answers = np.stack([logits[:, b * n:(b + 1) * n].argmax(axis=1) for b in range(len(LANGS))])   # [langs, images]
mistaken = {name: [CLASS_NAMES[a] for a in answers[:, r]]
            for r, name in enumerate(images) if (answers[:, r] != image_labels[r]).any()}
print("rows whose brightest cell (per language block) is not the image's class:", mistaken)
if TRAINED:
    assert (answers == answers[0]).all()               # the same answer in all three languages, for every image
    assert mistaken == {}                               # every picture here gets its own class, in every language
    # the errors the training tool recorded on held-out renders (MADE_BY.json), read back as classes
    evaluation = made_by["evaluation_refalign"]
    swaps = set()
    for lang, errors in evaluation["errors"].items():
        index = {c: k for k, c in enumerate(captions[lang])}
        for error in errors:
            truth, answer = (shapes.CLASSES[index[c]] for c in error.split(" -> "))
            assert truth[0] == answer[0], error            # the colour right, the shape wrong
            swaps.add(f"{truth[0]} {truth[1]} -> {answer[1]}")
    print(f"MADE_BY.json: {evaluation['images']} held-out renders; mistakes (any language): {sorted(swaps)}")

fig, ax = plt.subplots(figsize=(11, 3.0))
im = ax.imshow(logits, cmap="viridis", aspect="auto")
for edge in (n - 0.5, 2 * n - 0.5):
    ax.axvline(edge, color="w", lw=1)
ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=6)
ax.set_yticks(range(len(images)), list(images), fontsize=7)
for r, k in enumerate(image_labels):                        # outline each image's own class, in every language
    for b in range(len(LANGS)):
        ax.add_patch(plt.Rectangle((b * n + k - 0.5, r - 0.5), 1, 1, fill=False, edgecolor="r", lw=1.2))
ax.set_title("logits_per_image = exp(logit_scale) x cosine (red: the image's own class)")
fig.colorbar(im, ax=ax, pad=0.01)
plt.tight_layout(); plt.show()
'''),
        md(r'''
Each row repeats itself three times: an image scores a caption and its translations alike, so the three language
blocks look the same. In each block the brightest cell of every row is the red outline, the image's own class
(asserted above). The small checkpoint is not perfect, though: `MADE_BY.json` lists the errors it made on the
held-out renders of its evaluation (read back above), and each one keeps the colour and gets the shape wrong — the
kind of mistake the caption cosines suggested.
'''),
        md(r'''
## 5 · The zero-shot answer, per language

Zero-shot classification asks the model to pick, for an image, one caption among the candidates: a softmax over
the candidates' logits. We do it separately for each language — the twelve English captions, then the twelve French,
then the twelve Chinese — by hand from the logits above, and with `refalign.similarity`, which tokenizes each
language's captions on its own (so with a different padding than our 36-caption batch).
'''),
        code(r'''
def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)

probs = {}
for b, lang in enumerate(LANGS):
    probs[lang] = softmax(logits[:, b * n:(b + 1) * n])                          # [n_images, 12]
    library = refalign.similarity(list(images.values()), captions[lang], model=WEIGHTS)
    np.testing.assert_allclose(probs[lang], library, rtol=0, atol=1e-5)

print(f"{'image':18}" + "".join(f"{lang:>30}" for lang in LANGS))
for r, name in enumerate(images):
    print(f"{name:18}" + "".join(f"{captions[lang][probs[lang][r].argmax()]:>24} {probs[lang][r].max():.2f}"
                                 for lang in LANGS))
correct = {lang: int((probs[lang].argmax(axis=1) == np.array(image_labels)).sum()) for lang in LANGS}
print("\nright answers per language:", {lang: f"{c}/{len(images)}" for lang, c in correct.items()})
runner_up = {lang: int(np.argsort(probs[lang][0])[-2]) for lang in LANGS}
print("shape.png's runner-up:", {lang: captions[lang][k] for lang, k in runner_up.items()})

if TRAINED:                                 # the trained checkpoint picks the blue triangle in every language
    for lang in LANGS:
        assert captions[lang][probs[lang][0].argmax()] == shapes.caption("blue", "triangle", lang), lang
        assert (probs[lang].max(axis=1) > 0.5).all()    # each winner takes more than half
        assert correct[lang] == len(images)
        assert runner_up[lang] == runner_up[LANGS[0]]       # shape.png's runner-up: one class in every language
        wrong = probs[lang].argmax(axis=1) != np.array(image_labels)
        assert all(colour_of[a] == colour_of[k]                # every mistake keeps the colour
                   for a, k in zip(probs[lang].argmax(axis=1)[wrong], np.array(image_labels)[wrong]))
gap = max(float(np.abs(probs[a] - probs[b]).max()) for a in LANGS for b in LANGS)
print(f"largest difference between two languages' probabilities: {gap:.4f}")
if TRAINED:
    assert gap < 0.05
'''),
        code(r'''
fig, axes = plt.subplots(1, len(LANGS), figsize=(10, 2.8), sharey=True)
for ax, lang in zip(axes, LANGS):
    p = probs[lang][0]
    ax.bar(range(n), p, color=["crimson" if k == TARGET else "tab:blue" for k in range(n)])
    ax.set_xticks(range(n), CLASS_NAMES, rotation=90, fontsize=7)
    ax.set_title(f"{lang}: P(caption | shape.png)", fontsize=9); ax.set_ylim(0, 1)
axes[0].set_ylabel("probability")
plt.tight_layout(); plt.show()
'''),
        md(r'''
In every language `shape.png` is answered "a blue triangle" — in French "un triangle bleu", in Chinese
"一个蓝色的三角形" — as asserted above; the runner-up, far behind, is the same class in every language (printed, and
asserted). On the fresh renders the three languages give the same
answer, the right one for every picture (the printed count). The softmax sharpens the differences: multiplied by the learned scale
(printed above), a difference of a fraction in cosine becomes a gap of several logits, so that for every picture
here the winning caption takes most of the probability (more than half, asserted; the values are printed above).
The three languages even agree on how sure the model is: their probabilities differ by less than 0.05 (asserted).

**Summary.** AltCLIP's text side is an XLM-R encoder (BERT plus RoBERTa's position ids) followed by a head of its
own — `pre_LN` and `transformation` on every token, the `<s>` row, then `text_projection` — and its image side is
CLIP's. Everything after the two towers is CLIP's contrastive head: L2-normalised embeddings, cosines times
`exp(logit_scale)`. Nothing in the model knows which language a caption is in; only the shared vocabulary and the
training pairs tie the languages together.
'''),
    ]
