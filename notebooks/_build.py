"""Generate the step-through notebooks from the Python source below (and, with --execute, run them and save the
outputs, so readers on GitHub see the pictures without running anything).

    python notebooks/_build.py              # write notebooks/*.ipynb without outputs
    python notebooks/_build.py --execute    # write them executed (what is committed); needs nbclient + ipykernel

Edit the cells here, not in the .ipynb files: the notebooks are regenerated from this file.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = os.path.dirname(os.path.abspath(__file__))


def md(text: str):
    return new_markdown_cell(text.strip("\n"))


def code(text: str):
    return new_code_cell(text.strip("\n"))


# The first code cell of every notebook: imports, pictures, and which weights we run on.
SETUP = r'''
import os
import numpy as np
import matplotlib.pyplot as plt
import refalign
from refalign.errors import WeightsNotFoundError
from refalign.loading.hub import resolve_weights

%matplotlib inline
plt.rcParams.update({"figure.dpi": 80, "font.size": 9})
np.set_printoptions(precision=4, suppress=True, linewidth=110)

try:
    WEIGHTS = resolve_weights(None)      # align-base if you have it: $REFALIGN_WEIGHTS, weights/align-base, HF cache
except WeightsNotFoundError:
    WEIGHTS = resolve_weights("tiny")    # otherwise the tiny checkpoint bundled with refalign
IS_TINY = os.path.realpath(WEIGHTS) == os.path.realpath(resolve_weights("tiny"))
WEIGHTS_DIR = WEIGHTS if os.path.isdir(WEIGHTS) else os.path.dirname(WEIGHTS)
ASSETS = os.path.join(os.path.dirname(refalign.__file__), "assets")

print("weights:", WEIGHTS)
if IS_TINY:
    print("Using the bundled TINY checkpoint: align-base's architecture shrunk, trained only on pictures of\n"
          "one coloured shape ('a red circle', 'a blue triangle', ...). Every computation below is exact; its\n"
          "scores mean something for such pictures and captions, nothing for photos. Put the real weights in\n"
          "weights/align-base (see weights/README.md) and re-run.")
else:
    print("Not the tiny checkpoint: running on the weights above (align-base).")
'''

WEIGHTS_NOTE = r'''
**Which weights?** The next cell looks for the real `kakaobrain/align-base` checkpoint on disk (never on the network)
and falls back to the *tiny* checkpoint that ships with refalign: the same architecture, shrunk, and trained only on
pictures of one coloured shape with captions like "a red circle" (`tools/train_tiny.py`). Everything in this notebook
runs on either; it prints which one it uses.
'''


# =============================================================================================================
# 01 — tokenizer
# =============================================================================================================
def nb_tokenizer():
    return [
        md(r'''
# 1 · From a caption to token ids

ALIGN's text tower is BERT (`bert-base-uncased`), and BERT does not read letters: it reads integers, one per
*token*, looked up in a vocabulary of 30,522 entries. This notebook rebuilds, by hand and in plain Python, the path
from a caption to those integers:

1. **clean** the text (control characters out, every kind of whitespace becomes a space),
2. put spaces around **CJK ideographs**, so each becomes a word of its own,
3. **lowercase** and **strip accents**,
4. split off **punctuation**,
5. cut each word into vocabulary pieces with greedy **WordPiece**,
6. add `[CLS]` / `[SEP]`, **pad** to a fixed length and build the **attention mask**.

After each step we check our version against refalign's tokenizer (`refalign.BertTokenizer`), which in turn is
tested against Hugging Face's.
'''),
        md(WEIGHTS_NOTE + r'''
(For this notebook it hardly matters: the tiny checkpoint carries BERT's real vocabulary.)
'''),
        code(SETUP + r'''
import unicodedata
'''),
        code(r'''
processor = refalign.AlignProcessor.from_pretrained(WEIGHTS)
tok = processor.tokenizer
print(type(tok).__name__)
'''),
        md(r'''
## The vocabulary

The vocabulary is a plain text file, one token per line; a token's id is its line number (counting from 0).
Pieces that continue a word start with `##`. A handful of special tokens sit at fixed places.
'''),
        code(r'''
with open(os.path.join(WEIGHTS_DIR, "vocab.txt"), encoding="utf-8") as f:
    vocab = {line.rstrip("\n"): i for i, line in enumerate(f)}
id_to_token = {i: t for t, i in vocab.items()}

print(len(vocab), "tokens")
for t in ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "cat", "cats", "##s", "photo"]:
    print(f"{t:>8} -> {vocab[t]}")
'''),
        md(r'''
## Step 1 · Clean

Characters of Unicode category "C" (control, format such as the zero-width space, unassigned...) are dropped,
and so are NUL and the replacement character `U+FFFD`. Tab, newline and carriage return count as whitespace, not
control. Every whitespace character — including the no-break space `U+00A0` — becomes a plain space.
'''),
        code(r'''
def is_whitespace(ch):
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"

def is_control(ch):
    return ch not in "\t\n\r" and unicodedata.category(ch).startswith("C")

def clean(text):
    kept = [ch for ch in text if ord(ch) not in (0, 0xFFFD) and not is_control(ch)]
    return "".join(" " if is_whitespace(ch) else ch for ch in kept)

messy = "A\u00a0photo\tof\u200b a\ncat"
print(repr(messy), "->", repr(clean(messy)))
'''),
        md(r'''
## Step 2 · CJK ideographs become words of their own

Chinese (and Japanese kanji, Korean hanja) is written without spaces, so BERT puts a space on both sides of every
CJK ideograph. Hiragana, katakana and hangul are *not* in these blocks and stay glued to their neighbours.
'''),
        code(r'''
CJK_BLOCKS = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
              (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)]

def is_cjk(ch):
    return any(lo <= ord(ch) <= hi for lo, hi in CJK_BLOCKS)

def split_cjk(text):
    return "".join(f" {ch} " if is_cjk(ch) else ch for ch in text)

print(repr(split_cjk("東京の猫")))      # "Tokyo's cat": の is hiragana, the others are ideographs
'''),
        md(r'''
## Step 3 · Lowercase and strip accents

The text is split on whitespace, and each word is lowercased. Accents are removed by decomposing each character
(Unicode NFD: `ö` becomes `o` followed by a *combining diaeresis*) and dropping the combining marks (category `Mn`).
'''),
        code(r'''
def lower_strip_accents(word):
    decomposed = unicodedata.normalize("NFD", word.lower())
    return "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")

for ch in unicodedata.normalize("NFD", "ö"):
    print(f"U+{ord(ch):04X} {unicodedata.category(ch)} {unicodedata.name(ch)}")
print("Schrödinger's ->", lower_strip_accents("Schrödinger's"))
print("Crème brûlée   ->", lower_strip_accents("Crème brûlée"))
'''),
        md(r'''
## Step 4 · Punctuation is split off

Every punctuation character becomes a token of its own. "Punctuation" means Unicode category `P*`, plus all
non-alphanumeric printable ASCII characters (so `$`, `+`, `^` and `` ` `` count too, although Unicode files them
as symbols). Emoji are symbols (`So`), not punctuation, so they stay words.
'''),
        code(r'''
def is_punctuation(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")

def split_punctuation(word):
    out, current = [], ""
    for ch in word:
        if is_punctuation(ch):
            if current:
                out.append(current)
            out.append(ch)
            current = ""
        else:
            current += ch
    return out + ([current] if current else [])

def basic_tokenize(text):
    words = split_cjk(clean(text)).split()
    return [piece for w in words for piece in split_punctuation(lower_strip_accents(w))]

print(basic_tokenize("Schrödinger's cat, 100% (not) dead!"))
'''),
        md(r'''
## Step 5 · WordPiece, greedy longest match first

Each word is now cut into vocabulary pieces. Start at the first character and take the **longest** prefix that is
in the vocabulary; then continue from where it ended, looking up `##` + the rest; and so on. If at some point no
prefix at all is in the vocabulary, the *whole word* becomes `[UNK]` (also when the word is longer than 100
characters). Here is the search, attempt by attempt, for "unaffable":
'''),
        code(r'''
def wordpiece(word, vocab, trace=None):
    if len(word) > 100:
        return ["[UNK]"]
    pieces, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start:
            candidate = ("##" if start > 0 else "") + word[start:end]
            found = candidate in vocab
            if trace is not None:
                trace.append((candidate, found))
            if found:
                break
            end -= 1
        if end == start:                 # not even one character matched
            return ["[UNK]"]
        pieces.append(candidate)
        start = end
    return pieces

trace = []
print(wordpiece("unaffable", vocab, trace))
print("  ".join(f"{c}{'✓' if ok else '✗'}" for c, ok in trace))
'''),
        md(r'''
Now the whole tokenizer is `basic_tokenize` followed by `wordpiece` on each word. Let us run it on a few hard
cases and check that it agrees with refalign's `tokenize()`.
'''),
        code(r'''
def tokenize_by_hand(text):
    return [piece for word in basic_tokenize(text) for piece in wordpiece(word, vocab)]

examples = ["unaffable", "Schrödinger's cat", "tokenization", "東京の猫", "a cat 😺 on a mat",
            "Crème brûlée, naïve café!", messy]
for text in examples:
    mine, theirs = tokenize_by_hand(text), tok.tokenize(text)
    print(f"{text!r:32} {mine}")
    assert mine == theirs, (text, mine, theirs)
'''),
        md(r'''
The picture shows how each example was cut. Note "schrodinger" in four pieces, the ideograph 猫 (cat, U+732B) that
is not in BERT's vocabulary and becomes `[UNK]`, and the emoji that becomes `[UNK]` too.
'''),
        code(r'''
from matplotlib.font_manager import FontProperties, findfont, get_font
from matplotlib.patches import Rectangle

glyphs = get_font(findfont(FontProperties())).get_charmap()
def shown(s):            # matplotlib's default font has no CJK glyphs: draw those as code points
    return "".join(ch if ord(ch) in glyphs else f"{{U+{ord(ch):04X}}}" for ch in s)

fig, ax = plt.subplots(figsize=(10, 3.2))
right = 0.0
for row, text in enumerate(examples[:6]):
    x = 0.0
    for word in basic_tokenize(text):
        for k, piece in enumerate(wordpiece(word, vocab)):
            label = shown(piece)
            width = 0.4 + 0.14 * len(label)
            color = "silver" if piece == "[UNK]" else plt.cm.Pastel2.colors[k % 6]
            ax.add_patch(Rectangle((x, -row - 0.38), width, 0.76, facecolor=color, edgecolor="k"))
            ax.text(x + width / 2, -row, label, ha="center", va="center", fontsize=8)
            x += width
        x += 0.3                                     # a gap between words
    right = max(right, x)
    ax.text(-0.2, -row, shown(repr(text)), ha="right", va="center")
ax.set_xlim(-5, right + 0.1); ax.set_ylim(-5.5, 0.5); ax.axis("off")
ax.set_title("one box per token; a word's pieces touch, words are apart; grey = [UNK]")
plt.show()
'''),
        md(r'''
## Step 6 · Special tokens, ids, padding and the attention mask

BERT wants `[CLS]` first and `[SEP]` last. Looking each piece up in the vocabulary gives the ids. ALIGN's processor
then pads every caption to **64** tokens with `[PAD]` (id 0), and returns an **attention mask** (1 for a real token,
0 for padding, so the model ignores the padding) and **token type ids** (all 0: a caption is a single segment).
'''),
        code(r'''
captions = ["a photo of a cat", "Schrödinger's cat", "a cup of coffee on a wooden table", "東京の猫 😺"]
enc = processor(text=captions)
for name, arr in enc.items():
    print(f"{name:15} {arr.shape} {arr.dtype}")

by_hand = np.zeros((len(captions), 64), dtype=np.int64)
for row, text in enumerate(captions):
    pieces = ["[CLS]"] + tokenize_by_hand(text) + ["[SEP]"]
    by_hand[row, :len(pieces)] = [vocab[p] for p in pieces]

print(by_hand[:, :12])
assert np.array_equal(by_hand, enc["input_ids"])
assert np.array_equal(enc["attention_mask"], (by_hand != vocab["[PAD]"]).astype(np.int64))
assert not enc["token_type_ids"].any()
'''),
        code(r'''
fig, ax = plt.subplots(figsize=(10, 2.2))
ax.imshow(enc["attention_mask"], cmap="Greens", vmin=0, vmax=1.4, aspect="auto")
for row in range(len(captions)):
    n = int(enc["attention_mask"][row].sum())
    ax.text(n + 0.5, row, f"{n} tokens, then {64 - n} × [PAD]", va="center", fontsize=8)
ax.set_yticks(range(len(captions)), [shown(repr(c)) for c in captions])
ax.set_xlabel("position (0 … 63)")
ax.set_title("attention_mask: green = real token (1), white = padding (0)")
plt.show()
'''),
        md(r'''
Going back from ids to text with `decode` shows what the model actually sees: lowercase, no accents, and
`[UNK]` where the vocabulary had nothing.
'''),
        code(r'''
for row, m in zip(enc["input_ids"], enc["attention_mask"]):
    print(repr(tok.decode(row[m == 1])))
print([id_to_token[int(i)] for i in enc["input_ids"][3] if i != vocab["[PAD]"]])
'''),
        md(r'''
**Summary.** Caption → clean → CJK split → lowercase + strip accents → punctuation split → greedy WordPiece →
`[CLS] … [SEP]` → ids, padded to 64, with a mask. Next notebook: what the text tower does with these ids.
'''),
    ]


# =============================================================================================================
# 02 — text tower
# =============================================================================================================
def nb_text_tower():
    return [
        md(r'''
# 2 · The text tower: BERT, opened up

This notebook follows two captions through ALIGN's text tower: the **embeddings**, one **attention layer** taken
apart (queries, keys, values, scores, mask, softmax — with pictures of the attention maps), the **feed-forward
network**, and finally how the hidden state of the `[CLS]` token becomes the text embedding (`text_projection`:
768 → 640 for align-base).

We compute in float64 so that our hand-written NumPy and refalign's implementation can be compared tightly; every
step is asserted against `refalign.towers.bert`.
'''),
        md(WEIGHTS_NOTE),
        code(SETUP + r'''
from refalign.towers import bert
from refalign.ops import erf
'''),
        code(r'''
model = refalign.AlignModel.from_pretrained(WEIGHTS, dtype=np.float64)
processor = refalign.AlignProcessor.from_pretrained(WEIGHTS)
P, cfg = model.params, model.config.text_config
print(model)
print(f"layers={cfg.num_hidden_layers} hidden={cfg.hidden_size} heads={cfg.num_attention_heads} "
      f"ffn={cfg.intermediate_size} act={cfg.hidden_act} projection_dim={model.config.projection_dim}")
'''),
        md(r'''
## The input

Two captions of different lengths, padded to the longer one (instead of the processor's usual 64, so that the
pictures stay readable). The second row has padding, and we will see the mask at work.
'''),
        code(r'''
captions = ["two dogs playing in the snow", "a photo of a cat"]
enc = processor(text=captions, padding="longest")
ids, mask, types = enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]
B, L = ids.shape
with open(os.path.join(WEIGHTS_DIR, "vocab.txt"), encoding="utf-8") as f:
    id_to_token = [line.rstrip("\n") for line in f]                     # line number = token id
tokens = [id_to_token[i] for i in ids[1]]
print("input_ids", ids.shape)
print(ids)
print(mask)
print(tokens)

# the reference: refalign's own forward pass, keeping every intermediate
ref = model.text_model(ids, mask, types, output_hidden_states=True, output_attentions=True)
print("last_hidden_state", ref.last_hidden_state.shape, "| hidden_states:", len(ref.hidden_states),
      "| attentions:", len(ref.attentions), ref.attentions[0].shape)
'''),
        md(r'''
## Embeddings

Each token gets the sum of three learned vectors: its **word** embedding (row `id` of a 30522 × H table), a
**position** embedding (row 0, 1, 2, … — BERT knows word order only through these) and a **token type**
embedding (row 0 for every token here). A LayerNorm then rescales each token's vector to mean 0 and variance 1
before applying a learned gain and bias.
'''),
        code(r'''
def layer_norm(x, gain, bias, eps=cfg.layer_norm_eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gain + bias

e = "text_model.embeddings."
x = P[e + "word_embeddings.weight"][ids]                    # (B, L) -> (B, L, H)
x = x + P[e + "position_embeddings.weight"][:L]             # (L, H), the same for every caption
x = x + P[e + "token_type_embeddings.weight"][types]
x0 = layer_norm(x, P[e + "LayerNorm.weight"], P[e + "LayerNorm.bias"])
print("embeddings", x0.shape)

assert np.allclose(x0, ref.hidden_states[0], rtol=0, atol=1e-6)
'''),
        md(r'''
## One attention layer, opened up

Every token's vector is projected three ways: a **query** ("what am I looking for?"), a **key** ("what do I
contain?") and a **value** ("what do I pass on?"). The H dimensions are split into `heads` independent heads of
`d = H / heads` dimensions each, so each head can attend to something different.
'''),
        code(r'''
lp = "text_model.encoder.layer.0."
H, heads = cfg.hidden_size, cfg.num_attention_heads
d = H // heads

def dense(x, name):                        # torch layout: weight is (out, in)
    return x @ P[name + ".weight"].T + P[name + ".bias"]

def split_heads(t):                        # (B, L, H) -> (B, heads, L, d)
    return t.reshape(B, L, heads, d).transpose(0, 2, 1, 3)

Q = split_heads(dense(x0, lp + "attention.self.query"))
K = split_heads(dense(x0, lp + "attention.self.key"))
V = split_heads(dense(x0, lp + "attention.self.value"))
print("Q, K, V", Q.shape, "  (batch, heads, tokens, head_dim)")
'''),
        md(r'''
**Scores.** Query *i* against key *j*: their dot product, divided by √d so that the scores do not grow with the
head size. **Mask.** Padding keys get the most negative float added, so that after the softmax their weight is
exactly 0 — no real token ever looks at padding. **Softmax** over the keys turns each row into weights that sum
to 1.
'''),
        code(r'''
scores = Q @ K.transpose(0, 1, 3, 2) / np.sqrt(d)                        # (B, heads, L, L)
mask_bias = (1.0 - mask[:, None, None, :]) * np.finfo(np.float64).min    # (B, 1, 1, L): 0 or -1.8e308
masked = scores + mask_bias

def softmax(z):
    z = z - z.max(-1, keepdims=True)                                      # no overflow in exp
    ez = np.exp(z)
    return ez / ez.sum(-1, keepdims=True)

probs = softmax(masked)
print("probs", probs.shape, "| row sums:", probs.sum(-1)[1, 0, :3], "| weight on padding:", probs[1][..., mask[1] == 0].max())

assert np.allclose(probs, ref.attentions[0], rtol=0, atol=1e-6)
'''),
        code(r'''
n_real = int(mask[1].sum())
fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
panels = [("scores  QKᵀ/√d", scores[1, 0]), ("+ mask (padding keys → −∞)", np.where(mask[1] == 1, scores[1, 0], np.nan)),
          ("softmax → attention weights", probs[1, 0])]
for ax, (title, m) in zip(axes, panels):
    im = ax.imshow(m, cmap="viridis")
    ax.set_title(title)
    ax.set_xticks(range(L), tokens, rotation=90); ax.set_yticks(range(L), tokens)
    fig.colorbar(im, ax=ax, shrink=0.7)
axes[0].set_ylabel("query token"); axes[1].set_xlabel("key token (grey = masked)")
fig.suptitle(f"layer 0, head 0, caption {captions[1]!r}")
plt.tight_layout(); plt.show()
'''),
        md(r'''
All heads of this layer side by side, for the first caption (each row of a map sums to 1; each map has its own
colour scale). With the real weights some heads look at the previous or next token, some at `[CLS]`/`[SEP]`, some
at related words. The tiny checkpoint learned from twelve three-word captions only, and its heads show it: in
this layer most queries give one single key more than half of their weight (the printout counts them per head), a
word that collects the attention rather than a pattern that follows the sentence.
'''),
        code(r'''
cols = min(heads, 6)
rows = -(-heads // cols)
fig, axes = plt.subplots(rows, cols, figsize=(2.1 * cols, 2.5 * rows), squeeze=False)
for h, ax in enumerate(axes.flat):
    if h < heads:
        ax.imshow(probs[0, h], cmap="magma")                          # colour scale per map
        ax.set_title(f"head {h}")
    ax.set_xticks([]); ax.set_yticks([])
toks0 = [id_to_token[i] for i in ids[0]]
axes[0, 0].set_yticks(range(L), toks0, fontsize=7)
fig.suptitle(f"layer 0 attention maps for {captions[0]!r}")
plt.tight_layout(); plt.show()
real = mask[0] == 1
top = probs[0][:, real][:, :, real].max(-1)                           # (heads, real queries): largest weight
print("per head, the share of queries that give one key over half their weight:", (top > 0.5).mean(-1))
if IS_TINY:
    assert (top > 0.5).mean() > 0.5
'''),
        md(r'''
**Weighted values, output projection, residual, LayerNorm.** Each token's new vector is the attention-weighted sum
of the values; the heads are concatenated back to H dimensions, projected by another dense layer, added to the
layer's input (the residual connection) and normalised (BERT normalises *after* the residual: "post-LN").
'''),
        code(r'''
context = (probs @ V).transpose(0, 2, 1, 3).reshape(B, L, H)          # (B, heads, L, d) -> (B, L, H)
attn_out = dense(context, lp + "attention.output.dense")
x_attn = layer_norm(attn_out + x0, P[lp + "attention.output.LayerNorm.weight"], P[lp + "attention.output.LayerNorm.bias"])
print("after attention", x_attn.shape)
'''),
        md(r'''
## The feed-forward network

Each token, on its own, goes through two dense layers: H → I (4× wider) with a **GELU** in between, then back to
H; again a residual and a LayerNorm. GELU is x·Φ(x), Φ the normal CDF, i.e. `0.5·x·(1 + erf(x/√2))` — NumPy has no
`erf`, so we borrow refalign's.
'''),
        code(r'''
def gelu(z):
    return 0.5 * z * (1.0 + erf(z / np.sqrt(2.0)))

hidden = gelu(dense(x_attn, lp + "intermediate.dense"))                # (B, L, H) -> (B, L, I)
ffn_out = dense(hidden, lp + "output.dense")                           # (B, L, I) -> (B, L, H)
x1 = layer_norm(ffn_out + x_attn, P[lp + "output.LayerNorm.weight"], P[lp + "output.LayerNorm.bias"])
print("intermediate", hidden.shape, "-> layer output", x1.shape)

# our hand-stepped layer equals refalign's layer (and the model's first hidden state after the embeddings)
lib_x1, lib_probs = bert.encoder_layer(P, lp, x0, mask_bias, cfg, bert.activation(cfg.hidden_act))
assert np.allclose(x1, lib_x1, rtol=0, atol=1e-6)
assert np.allclose(x1, ref.hidden_states[1], rtol=0, atol=1e-6)
print("max |hand - refalign| =", np.abs(x1 - lib_x1).max())
'''),
        code(r'''
z = np.linspace(-4, 4, 200)
fig, ax = plt.subplots(figsize=(4.2, 2.6))
ax.plot(z, gelu(z), label="GELU"); ax.plot(z, np.maximum(z, 0), "--", label="ReLU")
ax.axhline(0, color="k", lw=0.5); ax.legend(); ax.set_title("GELU: a smooth ReLU that dips below 0")
plt.show()
'''),
        md(r'''
## All the layers, then the `[CLS]` row becomes the text embedding

The remaining layers are the same recipe with their own weights. After the last one, ALIGN takes the hidden state
of the **first token**, `[CLS]`, and applies one dense layer, `text_projection`, to reach the shared
image–text space (640-d for align-base). (BERT's own tanh "pooler" is in the checkpoint but ALIGN does not use it.)
'''),
        code(r'''
act = bert.activation(cfg.hidden_act)
h = x1
for n in range(1, cfg.num_hidden_layers):
    h, _ = bert.encoder_layer(P, f"text_model.encoder.layer.{n}.", h, mask_bias, cfg, act)
assert np.allclose(h, ref.last_hidden_state, rtol=0, atol=1e-6)

cls = h[:, 0, :]                                                       # (B, H)
text_features = cls @ P["text_projection.weight"].T + P["text_projection.bias"]
print("CLS rows", cls.shape, "-> text features", text_features.shape)

assert np.allclose(text_features, model.get_text_features(ids, mask, types), rtol=0, atol=1e-6)
'''),
        md(r'''
**The mask really works.** The cat caption was padded; run alone, without padding, it must give the same embedding.
'''),
        code(r'''
alone = processor(text=[captions[1]], padding="longest")
print("padded length", L, "-> alone", alone["input_ids"].shape[1])
f_alone = model.get_text_features(alone["input_ids"], alone["attention_mask"], alone["token_type_ids"])
assert np.allclose(f_alone[0], text_features[1], rtol=0, atol=1e-9)
'''),
        md(r'''
Finally the embeddings are L2-normalised, and the cosine similarity between captions is their dot product.
With align-base, related captions come out close. The tiny checkpoint was trained to tell twelve shape captions
apart, and it spreads them over its space: in the matrix below only "a red circle" and "a red square" are close;
the other pairs range from unrelated (about 0) to opposed (negative), and "a photo of a cat", a caption it never
read, is just one more point.
'''),
        code(r'''
more = ["a red circle", "a red square", "a blue circle", "a blue triangle", "a photo of a cat"]
e2 = processor(text=more)
f = model.get_text_features(e2["input_ids"], e2["attention_mask"], e2["token_type_ids"])
f = f / np.linalg.norm(f, axis=1, keepdims=True)
cos = f @ f.T

fig, ax = plt.subplots(figsize=(5, 4))
im = ax.imshow(cos, cmap="coolwarm", vmin=-1, vmax=1)
ax.set_xticks(range(len(more)), more, rotation=40, ha="right"); ax.set_yticks(range(len(more)), more)
for i in range(len(more)):
    for j in range(len(more)):
        ax.text(j, i, f"{cos[i, j]:.2f}", ha="center", va="center", fontsize=7)
fig.colorbar(im); ax.set_title("cosine similarity of text embeddings")
plt.show()
assert np.allclose(np.diag(cos), 1.0)
if IS_TINY:
    off = cos - 2 * np.eye(len(more))                                    # the diagonal out of the way
    assert np.unravel_index(off.argmax(), off.shape) in [(0, 1), (1, 0)] and off[0, 1] > 0.5
    assert np.sort(off, axis=None)[-3] < 0.2                             # every other pair: 0 or below
'''),
    ]


# =============================================================================================================
# 03 — vision tower
# =============================================================================================================
def nb_vision_tower():
    return [
        md(r'''
# 3 · The vision tower: EfficientNet, opened up

ALIGN sees images through **EfficientNet-B7**: a stem convolution, then a long stack of **MBConv** blocks in
stages that halve the resolution while adding channels, then an average over space. This notebook follows one real
photo through it:

* preprocessing (resize, crop, rescale), with the images at each step,
* the **stem**,
* one **MBConv block** taken apart: expansion, depthwise convolution (with its lopsided stride-2 padding),
  squeeze-and-excitation, projection, and a residual block,
* feature maps stage by stage, and the pooling that gives the image embedding.

We compute in float64; every hand-written step is asserted against `refalign.towers.efficientnet`.
'''),
        md(WEIGHTS_NOTE),
        code(SETUP + r'''
from PIL import Image
from refalign.towers import efficientnet
from refalign.towers.efficientnet import block_specs
'''),
        code(r'''
model = refalign.AlignModel.from_pretrained(WEIGHTS, dtype=np.float64)
ip = refalign.EfficientNetImageProcessor.from_pretrained(WEIGHTS_DIR)    # the image half of AlignProcessor
P, cfg = model.params, model.config.vision_config
print(model)
print(ip)
'''),
        md(r'''
## Preprocessing

ALIGN's image processor **resizes** to 346 × 346 (bilinear — the aspect ratio is *not* kept, so the photo gets
squashed), **center-crops** 289 × 289, and **rescales** the bytes 0…255 to −1…1 (`x / 127.5 − 1`). There is no
mean/std normalisation for align-base.
'''),
        code(r'''
photo = refalign.load_image(os.path.join(ASSETS, "chelsea.jpg"))       # upright RGB PIL image
print("original", photo.size, photo.mode)
assert ip.do_resize and ip.do_center_crop and ip.do_rescale and not ip.do_normalize and not ip.include_top

size, crop = ip.size, ip.crop_size
resized = photo.resize((size["width"], size["height"]), resample=ip.resample)
arr = np.asarray(resized)                                              # (346, 346, 3) uint8
top, left = (arr.shape[0] - crop["height"]) // 2, (arr.shape[1] - crop["width"]) // 2
cropped = arr[top:top + crop["height"], left:left + crop["width"]]     # (289, 289, 3)
pixels = cropped.astype(np.float64) * ip.rescale_factor - (1.0 if ip.rescale_offset else 0.0)
pixel_values = pixels.transpose(2, 0, 1)[None]                         # (1, 3, 289, 289): NCHW
print("resized", arr.shape, "-> cropped", cropped.shape, "-> pixel_values", pixel_values.shape,
      f"range [{pixel_values.min():.3f}, {pixel_values.max():.3f}]")

assert np.array_equal(pixel_values, ip(images=[photo], dtype=np.float64)["pixel_values"])
'''),
        code(r'''
fig, axes = plt.subplots(1, 4, figsize=(13, 3.2))
axes[0].imshow(photo); axes[0].set_title(f"original {photo.size[0]}×{photo.size[1]}")
axes[1].imshow(resized); axes[1].set_title(f"resized {size['width']}×{size['height']} (squashed)")
axes[1].add_patch(plt.Rectangle((left, top), crop["width"], crop["height"], fill=False, ec="yellow", lw=2))
axes[2].imshow(cropped); axes[2].set_title(f"center crop {crop['width']}×{crop['height']}")
for a in axes[:3]:
    a.axis("off")
axes[3].hist(pixel_values.ravel(), bins=60, color="gray"); axes[3].set_title("pixel values after rescale")
plt.tight_layout(); plt.show()
'''),
        code(r'''
# the reference: refalign's forward pass with every intermediate (hidden_states[0] = stem, then one per block)
ref = model.vision_model(pixel_values, output_hidden_states=True)
specs = block_specs(cfg)
print(len(specs), "MBConv blocks in", len(cfg.in_channels), "stages; last feature map", ref.last_hidden_state.shape)
'''),
        md(r'''
## The stem

A 3 × 3 convolution with stride 2 takes the 3 colour channels to the first feature channels and halves the
resolution. A quirk of transformers' implementation, which refalign keeps: the padding is one row at the
**bottom** and one column at the **right** only, whatever the image size (289 + 1 = 290 → 144 outputs). Then **batch norm** (with the running statistics learned in training) and the **swish**
activation `x · sigmoid(x)`. Convolutions in EfficientNet have no bias: the batch norm supplies it.

We write the convolution as a sum over the 9 kernel taps: for tap (i, j), a strided view of the padded input,
multiplied by that tap's weights and summed over input channels.
'''),
        code(r'''
eps = cfg.batch_norm_eps

def batch_norm(x, name):
    g, b = P[name + ".weight"], P[name + ".bias"]
    mean, var = P[name + ".running_mean"], P[name + ".running_var"]
    return ((x - mean[:, None, None]) / np.sqrt(var[:, None, None] + eps)) * g[:, None, None] + b[:, None, None]

def swish(x):
    return x * 0.5 * (1.0 + np.tanh(0.5 * x))       # x · sigmoid(x), written so it never overflows

def taps(xp, k, stride, ho, wo):                     # the strided window of every kernel tap
    for i in range(k):
        for j in range(k):
            yield i, j, xp[:, :, i:i + stride * (ho - 1) + 1:stride, j:j + stride * (wo - 1) + 1:stride]

w = P["vision_model.embeddings.convolution.weight"]                   # (C_out, 3, 3, 3)
xp = np.pad(pixel_values, ((0, 0), (0, 0), (0, 1), (0, 1)))           # bottom/right only: 289 -> 290
ho = (xp.shape[2] - 3) // 2 + 1
stem = np.zeros((1, w.shape[0], ho, ho))
for i, j, view in taps(xp, 3, 2, ho, ho):
    stem += np.einsum("oc,bchw->bohw", w[:, :, i, j], view)
stem = swish(batch_norm(stem, "vision_model.embeddings.batchnorm"))
print("stem", pixel_values.shape, "->", stem.shape)

assert np.allclose(stem, efficientnet.stem(pixel_values, P, cfg), rtol=0, atol=1e-6)
assert np.allclose(stem, ref.hidden_states[0], rtol=0, atol=1e-6)
'''),
        code(r'''
fig, axes = plt.subplots(1, 4, figsize=(9, 2.4))
for c, ax in enumerate(axes):
    ax.imshow(stem[0, c], cmap="gray"); ax.set_title(f"stem channel {c}"); ax.axis("off")
plt.tight_layout(); plt.show()
'''),
        md(r'''
## One MBConv block, opened up

We take the first block that has everything: an **expansion**, a **stride-2** depthwise convolution with a 5 × 5
kernel, squeeze-and-excitation, and a projection. (It is the first block of its stage, so it has no residual; we
look at a residual block right after.)

**1 · Expand.** A 1 × 1 convolution — a matrix product over channels at every pixel — widens the channels by the
expansion ratio (6), then batch norm and swish.
'''),
        code(r'''
spec = next(s for s in specs if s.stride == 2 and s.expand and s.kernel_size == 5)
print(spec)
bp = f"vision_model.encoder.blocks.{spec.index}."
x_in = ref.hidden_states[spec.index]                                  # the block's input: previous block's output
print("block input", x_in.shape)

def conv1x1(x, name):                                                 # weight (C_out, C_in, 1, 1)
    return np.einsum("oc,bchw->bohw", P[name][:, :, 0, 0], x)

h = swish(batch_norm(conv1x1(x_in, bp + "expansion.expand_conv.weight"), bp + "expansion.expand_bn"))
print("expanded", h.shape)
'''),
        md(r'''
**2 · Depthwise convolution.** Each channel is convolved with its own k × k kernel (no mixing across channels).
With stride 2, transformers (following TensorFlow's "SAME") pads **k//2 − 1 before and k//2 after**: for k = 5,
one row on top and two at the bottom (likewise left/right). A symmetric padding of 2 gives the *same output size*
but samples the image one pixel off — a classic porting bug. The picture shows which input pixels the output
windows are centred on, in one dimension.
'''),
        code(r'''
k = spec.kernel_size
pad = efficientnet.depthwise_padding(k, 2, spec.adjust_padding)
print("padding (top, bottom, left, right):", pad, "   symmetric would be:", efficientnet.depthwise_padding(k, 2, False))

n = 12                                                                 # a 1-D strip of 12 input pixels
fig, axes = plt.subplots(2, 1, figsize=(8, 2.2), sharex=True)
for ax, (before, after), label in zip(axes, [(pad[0], pad[1]), (k // 2, k // 2)],
                                      ["transformers / ALIGN (lopsided)", "symmetric (wrong here)"]):
    for p in range(-before, n + after):
        ax.add_patch(plt.Rectangle((p - 0.45, -0.45), 0.9, 0.9, facecolor="lightgray" if 0 <= p < n else "white",
                                   ec="k", hatch=None if 0 <= p < n else "//"))
    n_out = (n + before + after - k) // 2 + 1
    centres = [2 * o + k // 2 - before for o in range(n_out)]
    ax.plot(centres, [0] * n_out, "o", color="crimson")
    ax.set_ylim(-0.6, 0.6); ax.set_yticks([]); ax.set_title(f"{label}: pad {before} before, {after} after; "
                                                            f"window centres {centres}", fontsize=9)
axes[1].set_xticks(range(-3, n + 3)); axes[1].set_xlabel("input position (hatched = zero padding)")
plt.tight_layout(); plt.show()
'''),
        code(r'''
def depthwise(x, weight, stride, pad):
    t, b, l, r = pad
    xp = np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)))
    kk = weight.shape[-1]
    ho, wo = (xp.shape[2] - kk) // stride + 1, (xp.shape[3] - kk) // stride + 1
    out = np.zeros(x.shape[:2] + (ho, wo))
    for i, j, view in taps(xp, kk, stride, ho, wo):
        out += weight[None, :, 0, i, j, None, None] * view             # one scalar per channel and tap
    return out

dw_w = P[bp + "depthwise_conv.depthwise_conv.weight"]                 # (C, 1, k, k)
dw = depthwise(h, dw_w, spec.stride, pad)
print("depthwise", h.shape, "->", dw.shape)
assert np.allclose(dw, efficientnet.depthwise_conv2d(h, dw_w, spec.stride, pad), rtol=0, atol=1e-6)

wrong = depthwise(h, dw_w, spec.stride, (k // 2,) * 4)
print("same shape with symmetric padding:", wrong.shape == dw.shape,
      "| but max difference:", np.abs(wrong - dw).max())
assert wrong.shape == dw.shape and not np.allclose(wrong, dw, atol=1e-3)

h = swish(batch_norm(dw, bp + "depthwise_conv.depthwise_norm"))
'''),
        md(r'''
**3 · Squeeze-and-excitation.** The block asks, per channel, "how much does this channel matter for *this*
image?": average each channel over space (squeeze), pass the vector through a tiny bottleneck (reduce → swish →
expand, with biases), and a sigmoid turns the result into one **gate** in (0, 1) per channel, which rescales that
channel.
'''),
        code(r'''
s = h.mean(axis=(2, 3))                                               # (1, C): squeeze
s = swish(s @ P[bp + "squeeze_excite.reduce.weight"][:, :, 0, 0].T + P[bp + "squeeze_excite.reduce.bias"])
gates = 1 / (1 + np.exp(-(s @ P[bp + "squeeze_excite.expand.weight"][:, :, 0, 0].T
                          + P[bp + "squeeze_excite.expand.bias"])))    # (1, C): excite
print("bottleneck", s.shape, "-> gates", gates.shape)
h_se = h * gates[:, :, None, None]

fig, ax = plt.subplots(figsize=(10, 2.4))
ax.bar(range(gates.shape[1]), gates[0], color="teal")
ax.set_xlabel("channel"); ax.set_ylabel("gate"); ax.set_ylim(0, 1)
ax.set_title(f"squeeze-and-excitation gates of block {spec.index} for this photo")
plt.show()
'''),
        md(r'''
**4 · Project.** A 1 × 1 convolution back down to the block's output channels, then batch norm — and *no*
activation (a "linear bottleneck"). This block is the first of its stage (it changes resolution and width), so
there is no residual.
'''),
        code(r'''
out = batch_norm(conv1x1(h_se, bp + "projection.project_conv.weight"), bp + "projection.project_bn")
print(f"block {spec.index}: {x_in.shape} -> {out.shape}")

assert np.allclose(out, efficientnet.mbconv_block(x_in, P, spec, cfg), rtol=0, atol=1e-6)
assert np.allclose(out, ref.hidden_states[spec.index + 1], rtol=0, atol=1e-6)
'''),
        md(r'''
**The residual.** Every other block of a stage keeps the shape (stride 1, same channels), and adds its input to its
output. Here is a whole residual block in one function, made of the pieces above.
'''),
        code(r'''
def mbconv(x, spec):
    bp = f"vision_model.encoder.blocks.{spec.index}."
    h = x
    if spec.expand:
        h = swish(batch_norm(conv1x1(h, bp + "expansion.expand_conv.weight"), bp + "expansion.expand_bn"))
    pad = efficientnet.depthwise_padding(spec.kernel_size, spec.stride, spec.adjust_padding)
    h = swish(batch_norm(depthwise(h, P[bp + "depthwise_conv.depthwise_conv.weight"], spec.stride, pad),
                         bp + "depthwise_conv.depthwise_norm"))
    s = swish(h.mean(axis=(2, 3)) @ P[bp + "squeeze_excite.reduce.weight"][:, :, 0, 0].T + P[bp + "squeeze_excite.reduce.bias"])
    g = 1 / (1 + np.exp(-(s @ P[bp + "squeeze_excite.expand.weight"][:, :, 0, 0].T + P[bp + "squeeze_excite.expand.bias"])))
    h = batch_norm(conv1x1(h * g[:, :, None, None], bp + "projection.project_conv.weight"), bp + "projection.project_bn")
    return h + x if spec.residual else h

res_spec = next(s for s in specs if s.residual)
x_r = ref.hidden_states[res_spec.index]
y_r = mbconv(x_r, res_spec)
print(res_spec)
print(f"block {res_spec.index}: {x_r.shape} -> {y_r.shape}; the residual adds back |x| ~ {np.abs(x_r).mean():.3f}")
assert np.allclose(y_r, efficientnet.mbconv_block(x_r, P, res_spec, cfg), rtol=0, atol=1e-6)
assert np.allclose(mbconv(x_in, spec), out, rtol=0, atol=1e-6)
'''),
        md(r'''
## Feature maps, stage by stage

The output of each stage's last block, one channel each (the one that varies most over this photo). The maps get
smaller — 144 → 72 → 36 → 18 → 9 for a 289 input — while the channels grow; the later ones respond to larger and
more abstract patterns (with real weights, that is).
'''),
        code(r'''
last_of_stage = {s.stage: s.index for s in specs}
maps = [("stem", ref.hidden_states[0])] + [(f"stage {st}", ref.hidden_states[i + 1]) for st, i in last_of_stage.items()]
fig, axes = plt.subplots(1, len(maps), figsize=(2 * len(maps), 2.6))
for ax, (name, fm) in zip(axes, maps):
    c = int(fm[0].std(axis=(1, 2)).argmax())
    ax.imshow(fm[0, c], cmap="inferno"); ax.axis("off")
    ax.set_title(f"{name}\n{fm.shape[1]}×{fm.shape[2]}×{fm.shape[3]}  (ch {c})", fontsize=8)
plt.tight_layout(); plt.show()
'''),
        md(r'''
## Pooling to the embedding

The last feature map (640 channels × 9 × 9 for align-base) is averaged over space: one number per channel. That
vector *is* ALIGN's image embedding — unlike the text side there is no projection layer; the image tower's last
block already outputs `projection_dim` channels. (refalign checks the quirk that transformers' pooler uses
`hidden_dim` as an average-pooling kernel, which covers the whole 9 × 9 map.)
'''),
        code(r'''
last = ref.last_hidden_state
image_features = last.mean(axis=(2, 3))                               # (1, C, 9, 9) -> (1, C)
print(last.shape, "->", image_features.shape)
assert image_features.shape[1] == model.config.projection_dim
assert np.allclose(image_features, model.get_image_features(pixel_values), rtol=0, atol=1e-6)

emb = image_features[0] / np.linalg.norm(image_features[0])
fig, ax = plt.subplots(figsize=(10, 2.2))
ax.bar(range(emb.size), emb, color="slateblue", width=1.0)
ax.set_title(f"the L2-normalised image embedding ({emb.size} numbers)"); ax.set_xlabel("dimension")
plt.show()
'''),
    ]


# =============================================================================================================
# 04 — end to end
# =============================================================================================================
def nb_end_to_end():
    return [
        md(r'''
# 4 · End to end: similarity, zero-shot classification, and golden files

The two towers meet here. An image and a caption each become a vector in the same space; ALIGN normalises both and
scores a pair by their cosine similarity divided by a learned **temperature**. A softmax over several captions
turns the scores into probabilities: that is zero-shot classification.

The second half is for people **porting ALIGN** to another runtime: how to write a *golden file* with every
intermediate tensor, and how `refalign.golden.compare` points at the first layer where a port goes wrong.
'''),
        md(WEIGHTS_NOTE),
        code(SETUP + r'''
import shutil
import sys
import tempfile
from refalign.golden import compare, make_golden, read_golden

sys.path.insert(0, os.path.abspath(os.path.join(os.pardir, "tools")))   # the repository's tools/ folder:
import shapes                                                            # the shapes task the tiny models learned
'''),
        code(r'''
model = refalign.AlignModel.from_pretrained(WEIGHTS)            # float32, the everyday precision
processor = refalign.AlignProcessor.from_pretrained(WEIGHTS)
print(model, "| temperature =", float(model.temperature))

paths = {"shape": os.path.join(ASSETS, "shape.png"), "cat": os.path.join(ASSETS, "chelsea.jpg"),
         "coffee": os.path.join(ASSETS, "coffee.jpg")}
rng = np.random.default_rng([4, 1])                              # fresh renders of the held-out "test" split
images = {"shape.png": refalign.load_image(paths["shape"])}
for colour, shape in [("red", "circle"), ("green", "square"), ("yellow", "circle")]:
    images[f"{colour} {shape}"] = shapes.render(colour, shape, rng, "test")
images["cat photo"] = refalign.load_image(paths["cat"])
print({name: im.size for name, im in images.items()})
'''),
        md(r'''
## Similarity by hand

`model(...)` does it all at once; here are the same numbers by hand: image features, text features, L2 norm, dot
products, divided by the temperature.
'''),
        code(r'''
texts = ["a red circle", "a green square", "a blue triangle", "a yellow circle", "a photo of a cat"]
inputs = processor(text=texts, images=list(images.values()))
print({k: v.shape for k, v in inputs.items()})
out = model(**inputs)

img = model.get_image_features(inputs["pixel_values"])                          # (n_images, D)
txt = model.get_text_features(inputs["input_ids"], inputs["attention_mask"], inputs["token_type_ids"])  # (n_texts, D)
img = img / np.linalg.norm(img, axis=1, keepdims=True)
txt = txt / np.linalg.norm(txt, axis=1, keepdims=True)
logits = img @ txt.T / model.temperature                                        # (n_images, n_texts)
print("logits_per_image", logits.shape)
print(logits)

assert np.allclose(logits, out.logits_per_image, rtol=1e-5, atol=1e-4)
assert np.allclose(logits.T, out.logits_per_text, rtol=1e-5, atol=1e-4)
'''),
        md(r'''
A softmax over each image's row gives a probability per caption.
'''),
        code(r'''
def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)

probs = softmax(logits)
fig, axes = plt.subplots(2, len(images), figsize=(3.2 * len(images), 5), gridspec_kw={"height_ratios": [1.3, 1]})
for col, (name, im) in enumerate(images.items()):
    thumb = im.copy(); thumb.thumbnail((200, 200))               # small pictures keep the notebook small
    axes[0, col].imshow(thumb); axes[0, col].axis("off"); axes[0, col].set_title(name)
    axes[1, col].barh(range(len(texts)), probs[col], color="tab:blue")
    axes[1, col].set_yticks(range(len(texts)), texts if col == 0 else [""] * len(texts))
    axes[1, col].set_xlim(0, 1); axes[1, col].invert_yaxis()
fig.suptitle("P(caption | image)" + ("  — the tiny checkpoint: trained on shapes only" if IS_TINY else ""))
plt.tight_layout(); plt.show()

if IS_TINY:                                                       # each shape's own caption first
    assert [texts[j] for j in probs[:4].argmax(1)] == ["a blue triangle", "a red circle", "a green square",
                                                       "a yellow circle"]
    assert texts[probs[4].argmax()] != "a photo of a cat"

# the one-call API gives the same probabilities
assert np.allclose(refalign.similarity(list(images.values()), texts, model=model), softmax(out.logits_per_image), atol=1e-6)
assert np.allclose(probs, softmax(out.logits_per_image), atol=1e-5)
'''),
        md(r'''
The tiny checkpoint knows twelve captions and pictures like its training ones, and nothing else. It gives the four
shapes their captions — the green square only narrowly, because "a photo of a cat", a caption it never read,
happens to land near "a green square" — and for the cat photo it picks a shape caption: it has no way to say "none
of these". A model only knows what it was trained on; align-base learned from hundreds of millions of image–text
pairs.
'''),
        md(r'''
## Zero-shot classification

`refalign.classify` puts each label into a template and ranks the labels by probability. Its default template is
the zero-shot pipeline's "This is a photo of {}."; the tiny checkpoint only ever read captions of the form
"a red circle", so we pass `template="a {}"` and the twelve colour–shape labels. Same computation as above:
'''),
        code(r'''
labels = [f"{colour} {shape}" for colour, shape in shapes.CLASSES]
ranked = refalign.classify(paths["shape"], labels, template="a {}", model=model)
for r in ranked[:5]:
    print(f"{r['score']:.3f}  {r['label']}")

enc = processor(text=[f"a {label}" for label in labels], images=[paths["shape"]])
t = model.get_text_features(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
i = model.get_image_features(enc["pixel_values"])
p = softmax((i / np.linalg.norm(i)) @ (t / np.linalg.norm(t, axis=1, keepdims=True)).T / model.temperature)[0]
assert [r["label"] for r in ranked] == [labels[j] for j in np.argsort(-p, kind="stable")]
if IS_TINY:
    assert ranked[0]["label"] == "blue triangle"                  # what shape.png shows
assert np.allclose([r["score"] for r in ranked], np.sort(p)[::-1], atol=1e-5)
'''),
        md(r'''
## Golden files, for people porting ALIGN

Porting an EfficientNet-B7 and a BERT to C++, Rust or a phone, you will get *something* wrong:
a padding, a transposed weight, an epsilon. A final score that is off says nothing about *where*. A **golden file**
holds every intermediate tensor of one forward pass in forward order — token ids, pixels, each text layer, each
vision block, the embeddings, the logits — so that your port can dump the same tensors and compare them one by one.

`make_golden` (the `refalign golden` command) writes one:
'''),
        code(r'''
workdir = tempfile.mkdtemp(prefix="refalign-golden-")
os.chdir(workdir)                                                  # keep the files out of the repository
golden_path = make_golden(WEIGHTS, images=[paths["shape"], paths["cat"]],
                          texts=["a blue triangle", "a photo of a cat"], out="golden.safetensors", dtype="float32")
golden, meta = read_golden(golden_path)
print(f"{len(golden)} tensors, {os.path.getsize(golden_path) / 1e6:.1f} MB; metadata keys: {sorted(meta)}")
for name, t in golden.items():
    print(f"  {name:26} {str(t.shape):22} {t.dtype}")
'''),
        md(r'''
**A faithful port.** Our stand-in for "your port" is refalign itself run in **float64** — different precision,
hence slightly different numbers. `compare` checks each tensor against a tolerance suited to the less precise of
the two (float32 here) and passes.
'''),
        code(r'''
port_path = make_golden(WEIGHTS, images=[paths["shape"], paths["cat"]],
                        texts=["a blue triangle", "a photo of a cat"], out="port64.safetensors", dtype="float64")
result = compare(golden_path, port_path)
print(result.format())
assert result.ok and result.first_failure is None
'''),
        md(r'''
**One wrong tensor.** Now we disturb a single value of one tensor — the output of the first text layer — and ask
again. `compare` flags it, says where the worst element is and how much of its tolerance it used.
'''),
        code(r'''
candidate = {name: t.copy() for name, t in golden.items()}
target = "text.hidden_states.01"
candidate[target][0, 2, 5] += 0.05 * np.abs(candidate[target]).max()
result = compare(golden_path, candidate)
print(result.format())
assert not result.ok and result.first_failure == target
'''),
        md(r'''
**A real porting bug.** A wrong value in the middle of a real port does not stay alone: it spreads to everything
after it. Suppose a port uses *symmetric* padding in the first stride-2 depthwise convolution (the bug from
notebook 3). We run the vision tower block by block with that mistake and recompute everything downstream: every
tensor from that block on is wrong — down to the image embeddings, the logits and the loss — and `compare`'s
**first failure in forward order** is exactly the block to fix.
'''),
        code(r'''
import dataclasses
from refalign.towers import efficientnet
from refalign.towers.efficientnet import block_specs
from refalign.models.align import align_loss

cfg = model.config.vision_config
bad = next(s for s in block_specs(cfg) if s.stride == 2 and s.adjust_padding)
print("the bug is in block", bad.index, "(kernel", bad.kernel_size, ")")

buggy = {name: t.copy() for name, t in golden.items()}
h = efficientnet.stem(golden["inputs.pixel_values"], model.params, cfg)
for spec in block_specs(cfg):
    if spec.index == bad.index:
        spec = dataclasses.replace(spec, adjust_padding=False)      # the bug: symmetric padding
    h = efficientnet.mbconv_block(h, model.params, spec, cfg)
    buggy[f"vision.hidden_states.{spec.index + 1:02d}"] = h
buggy["vision.last_hidden_state"] = h
buggy["vision.image_features"] = feats = h.mean(axis=(2, 3))
buggy["image_embeds"] = emb = feats / np.linalg.norm(feats, axis=1, keepdims=True)
buggy["logits_per_text"] = lpt = golden["text_embeds"] @ emb.T / model.temperature
buggy["logits_per_image"] = lpt.T
buggy["loss"] = align_loss(lpt)

result = compare(golden_path, buggy)
print(result.format())
assert result.first_failure == f"vision.hidden_states.{bad.index + 1:02d}"
assert all(r.status == "OK" for r in result.reports if r.name.startswith(("inputs.", "text.")))
failed = {r.name for r in result.reports if r.failed}
assert {"vision.last_hidden_state", "image_embeds", "logits_per_image", "logits_per_text", "loss"} <= failed
'''),
        md(r'''
The share of its tolerance each tensor used, in forward order, on a log scale (exact matches are drawn at the
bottom): everything before the bug sits below the dashed line, everything from the bug on far above it — except
the text embeddings, which never see the image.
'''),
        code(r'''
reports = [r for r in result.reports if r.status in ("OK", "NOT OK")]
used = np.array([max(r.budget_used, 1e-12) for r in reports])
fig, ax = plt.subplots(figsize=(11, 3))
ax.bar(range(len(reports)), used, color=["crimson" if r.failed else "seagreen" for r in reports])
ax.axhline(1.0, color="k", ls="--", lw=1); ax.set_yscale("log")
ax.set_xticks(range(len(reports)), [r.name for r in reports], rotation=90, fontsize=6)
ax.set_ylabel("share of tolerance used"); ax.set_title("compare(): first failure = the block with the bug")
plt.show()
os.chdir(os.path.dirname(workdir))                                 # leave the temporary folder, and remove it
shutil.rmtree(workdir)
'''),
        md(r'''
**In your own port:** write a golden with `refalign golden --image ... --text ... -o golden.safetensors` (or
`make_golden`), dump your tensors under the same names into a `.npz` or `.safetensors` file, and run
`refalign compare golden.safetensors my_dump.npz` in your CI. A partial dump (say, only the text tower) can be
checked with `allow_missing=True` / `--allow-missing`.
'''),
    ]


# Notebooks 5-8 (the new families) each live in their own module next to this file: NAME and cells(md, code).
NEW_FAMILY_MODULES = ("_nb05_tokenizers", "_nb06_vision_transformer", "_nb07_altclip", "_nb08_vtde")


def _module_notebooks() -> dict:
    import importlib
    sys.path.insert(0, HERE)
    found = {}
    for name in NEW_FAMILY_MODULES:
        module = importlib.import_module(name)
        found[module.NAME] = (lambda m=module: m.cells(md, code))
    return found


NOTEBOOKS = {
    "01_tokenizer.ipynb": nb_tokenizer,
    "02_text_tower.ipynb": nb_text_tower,
    "03_vision_tower.ipynb": nb_vision_tower,
    "04_end_to_end.ipynb": nb_end_to_end,
    **_module_notebooks(),
}

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def build(name: str):
    nb = new_notebook(cells=NOTEBOOKS[name]())
    for n, cell in enumerate(nb.cells):
        cell.id = f"cell-{n:02d}"                     # stable ids: rebuilding gives no spurious diffs
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def tidy(nb) -> None:
    """Drop run-specific noise (timings, ids of widgets) so that re-executing gives small diffs."""
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nb.metadata.pop("widgets", None)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--execute", action="store_true", help="run each notebook and save it with its outputs")
    ap.add_argument("names", nargs="*", help="only these notebooks (default: all)")
    args = ap.parse_args(argv)
    for name in args.names or NOTEBOOKS:
        nb = build(name)
        path = os.path.join(HERE, name)
        if args.execute:
            import nbclient
            start = time.perf_counter()
            nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                    resources={"metadata": {"path": HERE}}).execute()
            tidy(nb)
            print(f"{name}: executed in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        nbformat.validate(nb)
        nbformat.write(nb, path)
        print(f"wrote {path} ({os.path.getsize(path) / 1e3:.0f} kB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
