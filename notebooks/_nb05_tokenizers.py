"""Notebook 05: the three tokenizers of the bundled checkpoints, side by side (cells for notebooks/_build.py)."""

NAME = "05_tokenizers.ipynb"


def cells(md, code):
    return [
        md(r'''
# 5 · Tokenizers side by side: WordPiece, byte-level BPE, SentencePiece unigram

The three families refalign runs read text with three different tokenizers:

| checkpoint | family | tokenizer | algorithm | files |
|---|---|---|---|---|
| `tiny` | ALIGN (BERT text tower) | `BertTokenizer` | WordPiece | `vocab.txt` |
| `tiny-vtde` | VisionTextDualEncoder (RoBERTa text tower) | `RobertaTokenizer` | byte-level BPE | `vocab.json`, `merges.txt` |
| `tiny-altclip` | AltCLIP (XLM-R text tower) | `XLMRobertaTokenizer` | SentencePiece unigram | `sentencepiece.bpe.model` / `tokenizer.json` |

We send the same captions through all three: a few captions of the shapes task the tiny models are trained on,
and some harder ones (accents, Chinese and Japanese, an emoji, runs of spaces, full-width letters). For each
tokenizer we rebuild every step by hand in plain Python, using only the tokenizer's *data* (the vocabulary, the
merge ranks, the piece scores, the normalisation rules) read through refalign, and assert that our ids equal
refalign's exactly. Notebook 1 goes through WordPiece in more detail; here it is the baseline for the other two.
'''),
        code(r'''
import json
import os
import struct
import sys
import unicodedata

import numpy as np
import matplotlib.pyplot as plt
import regex                                       # like `re`, plus \p{L}, \p{N} and \X (grapheme clusters)
from matplotlib.font_manager import FontProperties, findfont, get_font
from matplotlib.patches import Rectangle

import refalign
from refalign.loading.hub import resolve_weights
from refalign.tokenizers import load_vocab
from refalign.tokenizers.bpe import bytes_to_unicode, load_merges_txt, load_tokenizer_json, load_vocab_json
from refalign.tokenizers.sentencepiece_model import read_sentencepiece_model
from refalign.tokenizers.unigram import load_unigram_tokenizer_json

sys.path.insert(0, os.path.abspath(os.path.join(os.pardir, "tools")))   # the repository's tools/ folder:
import shapes                                                            # the shapes task's captions

%matplotlib inline
plt.rcParams.update({"figure.dpi": 80, "font.size": 9})
np.set_printoptions(precision=4, suppress=True, linewidth=110)

DIRS = {name: resolve_weights(name) for name in ("tiny", "tiny-vtde", "tiny-altclip")}
TOKENIZERS = {name: refalign.AutoTokenizer.from_pretrained(name) for name in DIRS}
for name, tok in TOKENIZERS.items():
    with open(os.path.join(DIRS[name], "MADE_BY.json"), encoding="utf-8") as f:
        made_by = json.load(f)
    print(f"{name:13} {type(tok).__name__:20} {len(tok):6} tokens   made by {made_by['tool']}")

glyphs = get_font(findfont(FontProperties())).get_charmap()
def shown(s):            # matplotlib's default font has no CJK or emoji glyphs: draw those as code points
    return "".join(ch if ord(ch) in glyphs else f"{{U+{ord(ch):04X}}}" for ch in s)
'''),
        md(r'''
## The captions

Three captions of the shapes task (English, French, Chinese) and four harder ones. The reference is what each
library tokenizer returns for the whole batch, `tokenizer(texts, padding=True)["input_ids"]`, with the padding cut
off again using the attention mask.
'''),
        code(r'''
CAPTIONS = [
    shapes.caption("red", "circle", "en"),
    shapes.caption("blue", "square", "fr"),
    shapes.caption("green", "triangle", "zh"),
    "Crème brûlée, naïve café!",          # accents and punctuation
    "東京の猫 😺",                          # CJK ideographs, a hiragana, an emoji
    "a   blue \u3000 triangle",            # a run of spaces and an ideographic space (U+3000)
    "ＡＢＣ ① ﬁne",                        # full-width letters, a circled digit, the "fi" ligature
]

def library_ids(tok, texts):
    enc = tok(texts, padding=True)
    return [row[mask == 1].tolist() for row, mask in zip(enc["input_ids"], enc["attention_mask"])]

REFERENCE = {name: library_ids(tok, CAPTIONS) for name, tok in TOKENIZERS.items()}
for text in CAPTIONS:
    print(repr(text))
'''),
        md(r'''
---
## 1 · WordPiece (`tiny`: BERT uncased)

**Basic tokenisation** first: control characters are dropped and every whitespace becomes a space; each CJK
ideograph gets spaces around it; the text is split on whitespace; accents are stripped (Unicode NFD, then the
combining marks of category `Mn` are dropped) and letters lower-cased; every punctuation character becomes a word
of its own. (Notebook 1 takes these apart one by one.)
'''),
        code(r'''
wp_tok = TOKENIZERS["tiny"]
wp_vocab = load_vocab(os.path.join(DIRS["tiny"], "vocab.txt"))     # token -> line number
assert wp_vocab == wp_tok.vocab
print(len(wp_vocab), "tokens;", {t: wp_vocab[t] for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]")})

CJK = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
       (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)]

def is_punctuation(ch):          # Unicode P*, plus every non-alphanumeric printable ASCII character
    return (ch.isascii() and ch.isprintable() and not ch.isalnum() and ch != " ") \
        or unicodedata.category(ch).startswith("P")

def basic_tokenize(text):
    text = "".join(ch for ch in text if ch in "\t\n\r" or not unicodedata.category(ch).startswith("C"))
    text = "".join(" " if ch in "\t\n\r" or unicodedata.category(ch) == "Zs" else ch for ch in text)
    text = "".join(f" {ch} " if any(a <= ord(ch) <= b for a, b in CJK) else ch for ch in text)
    words = []
    for word in text.split():
        word = "".join(c for c in unicodedata.normalize("NFD", word) if unicodedata.category(c) != "Mn").lower()
        current = ""
        for ch in word:                                # punctuation: a word of its own
            if is_punctuation(ch):
                words += [current, ch] if current else [ch]
                current = ""
            else:
                current += ch
        if current:
            words.append(current)
    return words

for text in CAPTIONS:
    print(f"{text!r:32} {basic_tokenize(text)}")
'''),
        md(r'''
Then **WordPiece**, greedy longest-match-first: from the start of a word take the longest prefix that is in the
vocabulary, continue from where it ended with `##` + the longest prefix of the rest, and so on. If at some position
not even one character matches, the *whole word* becomes `[UNK]`. The trace for "brulee" shows every attempt:
'''),
        code(r'''
def wordpiece(word, trace=None):
    if len(word) > 100:
        return ["[UNK]"]
    pieces, start = [], 0
    while start < len(word):
        for end in range(len(word), start, -1):
            candidate = ("##" if start else "") + word[start:end]
            if trace is not None:
                trace.append((candidate, candidate in wp_vocab))
            if candidate in wp_vocab:
                break
        else:                                          # nothing matched, not even one character
            return ["[UNK]"]
        pieces.append(candidate)
        start = end
    return pieces

trace = []
print(wordpiece("brulee", trace))
print("  ".join(f"{c}{'✓' if ok else '✗'}" for c, ok in trace))
'''),
        md(r'''
`[CLS]` in front, `[SEP]` at the end, and every piece looked up in `vocab.txt`. Checked against the library for
every caption:
'''),
        code(r'''
def wordpiece_by_hand(text):
    tokens = ["[CLS]"] + [p for w in basic_tokenize(text) for p in wordpiece(w)] + ["[SEP]"]
    return tokens, [wp_vocab[t] for t in tokens]

WORDPIECE = {}
for text, ref in zip(CAPTIONS, REFERENCE["tiny"]):
    tokens, ids = wordpiece_by_hand(text)
    assert ids == ref, (text, ids, ref)
    assert tokens[1:-1] == wp_tok.tokenize(text)
    WORDPIECE[text] = tokens, ids
    print(f"{text!r:32} {' '.join(tokens)}")
'''),
        md(r'''
What WordPiece loses: case, accents, and everything outside its vocabulary. An ideograph missing from the
vocabulary, the emoji, and a word it cannot spell from its pieces each become a single `[UNK]`; "naïve" and
"naive" are the same word to it.
'''),
        code(r'''
unk = {text: sum(t == "[UNK]" for t in WORDPIECE[text][0]) for text in CAPTIONS}
print("[UNK] per caption:", unk)
assert WORDPIECE["Crème brûlée, naïve café!"][0] == wordpiece_by_hand("creme brulee, naive cafe!")[0]
assert WORDPIECE["東京の猫 😺"][0][-2] == "[UNK]"                            # the emoji
'''),
        md(r'''
---
## 2 · Byte-level BPE (`tiny-vtde`: RoBERTa)

Byte-level BPE never meets an unknown character: it works on the UTF-8 *bytes* of the text. Its data are two
files: `vocab.json` (token → id) and `merges.txt`, the list of learned merges "a b", one a line, in the order they
were learned. A merge's **rank** is its line number (after the `#version` header); lower ranks were learned first
and are applied first. (The directory also holds `tokenizer.json`, the same data in one file, which is what the
library reads; we check they agree.)
'''),
        code(r'''
bpe_tok = TOKENIZERS["tiny-vtde"]
bpe_vocab = load_vocab_json(os.path.join(DIRS["tiny-vtde"], "vocab.json"))
merges = load_merges_txt(os.path.join(DIRS["tiny-vtde"], "merges.txt"))
rank = {pair: r for r, pair in enumerate(merges)}       # (a, b) -> rank; a repeated pair keeps its later rank
assert bpe_vocab == bpe_tok.vocab
if bpe_tok.tokenizer_file:
    assert load_tokenizer_json(bpe_tok.tokenizer_file)[:2] == (bpe_vocab, merges)
bpe_id_to_token = {i: t for t, i in bpe_vocab.items()}

print(len(bpe_vocab), "tokens,", len(merges), "merges; the first ten:", merges[:10])
print("special tokens:", {t: bpe_vocab[t] for t in ("<s>", "<pad>", "</s>", "<unk>", "<mask>")})
'''),
        md(r'''
### Pre-tokenizer: GPT-2's regular expression

The text is first cut into words by one regular expression: English contractions (`'s`, `'t`, ...), then runs of
letters, runs of digits, or runs of other characters, each of which may take **one space in front**; then runs of
whitespace. `\s+(?!\S)` takes a run of spaces but leaves its last space to the word that follows, so " blue" keeps
its space even after a run. Merges never cross the boundary between two words.
'''),
        code(r'''
GPT2_SPLIT = regex.compile(r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+")

for text in CAPTIONS:
    words = GPT2_SPLIT.findall(text)
    assert words == refalign.tokenizers.bpe.split_words(text)
    print(f"{text!r:32} {words}")
'''),
        md(r'''
### Bytes to symbols

Each word is encoded as UTF-8, and each byte is written as **one printable character**, so that tokens are
ordinary strings. The 188 bytes that print as a visible Latin-1 character (`!`…`~`, `¡`…`¬`, `®`…`ÿ`) stand for
themselves; the 68 others (the controls, the space, DEL, the no-break space and the soft hyphen) get the characters
U+0100, U+0101, … in byte order. So the space (byte 0x20) is `Ġ` and the newline `Ċ`, and " blue" becomes `Ġblue`.
'''),
        code(r'''
printable = [b for b in range(256) if 0x21 <= b <= 0x7E or 0xA1 <= b <= 0xAC or 0xAE <= b <= 0xFF]
byte_to_symbol = {b: chr(b) for b in printable}
for n, b in enumerate(b for b in range(256) if b not in byte_to_symbol):
    byte_to_symbol[b] = chr(0x100 + n)
byte_to_symbol = dict(sorted(byte_to_symbol.items()))
assert byte_to_symbol == bytes_to_unicode()
symbol_to_byte = {s: b for b, s in byte_to_symbol.items()}

remapped = [b for b in range(256) if byte_to_symbol[b] != chr(b)]
missing = [b for b in range(256) if byte_to_symbol[b] not in bpe_vocab]
print(len(printable), "bytes stand for themselves,", len(remapped), "are remapped;",
      "space ->", byte_to_symbol[0x20], " newline ->", byte_to_symbol[0x0A])
print(len(missing), "byte symbols are not in this vocabulary:", " ".join(f"{b:02X}" for b in missing))
never_in_utf8 = {0xC0, 0xC1, *range(0xF5, 0x100)}
print("of which never in UTF-8:", " ".join(f"{b:02X}" for b in missing if b in never_in_utf8))
'''),
        md(r'''
The whole table as a 16 × 16 grid (row = high hex digit, column = low hex digit). Orange cells are the remapped
bytes. This small BPE was trained on text in which some bytes never occur, and its vocabulary lacks their symbols
(hatched): such a byte is **dropped** where it occurs, since the model has no unknown token (refalign does what the
Rust library does). Some of them cannot occur in UTF-8 at all (`C0`, `C1`, `F5`–`FF`); the others are ASCII control
characters or the lead bytes of rarely used ranges of Unicode.
'''),
        code(r'''
fig, ax = plt.subplots(figsize=(7.5, 7.5))
colours = np.ones((16, 16, 3))
colours[np.array(remapped) // 16, np.array(remapped) % 16] = (1.0, 0.75, 0.45)
ax.imshow(colours, extent=(-0.5, 15.5, 15.5, -0.5))
for b in range(256):
    r, c = divmod(b, 16)
    ax.text(c, r + 0.08, byte_to_symbol[b], ha="center", va="center", fontsize=12)
    ax.text(c - 0.44, r - 0.3, f"{b:02X}", fontsize=5.5, color="0.45", va="center")
    if b in missing:
        ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, hatch="///", edgecolor="0.6", lw=0))
ax.set_xticks(range(16), [f"_{c:X}" for c in range(16)]); ax.set_yticks(range(16), [f"{r:X}_" for r in range(16)])
ax.set_xticks(np.arange(-0.5, 16), minor=True); ax.set_yticks(np.arange(-0.5, 16), minor=True)
ax.grid(which="minor", color="0.8", lw=0.5); ax.tick_params(which="both", length=0)
ax.set_title("byte → symbol   (orange: remapped to U+0100…;  hatched: not in tiny-vtde's vocabulary)", fontsize=9)
plt.show()
'''),
        md(r'''
### The merges, one by one

A word starts as one symbol per byte (a symbol missing from the vocabulary dropped). Then, repeatedly: among all
pairs of neighbouring symbols that appear in `merges.txt`, take the one of **lowest rank** (the leftmost if it
occurs more than once) and glue it into one symbol. Stop when no neighbouring pair is a merge. The symbols left are
the tokens, looked up in `vocab.json`.
'''),
        code(r'''
def bpe(word, steps=None):
    symbols = [byte_to_symbol[b] for b in word.encode("utf-8")]
    symbols = [s for s in symbols if s in bpe_vocab]
    while len(symbols) > 1:
        candidates = [(rank[pair], i) for i, pair in enumerate(zip(symbols, symbols[1:])) if pair in rank]
        if not candidates:
            break
        r, i = min(candidates)                         # lowest rank, then leftmost
        if steps is not None:
            steps.append((list(symbols), i, r))
        symbols[i:i + 2] = [symbols[i] + symbols[i + 1]]
    return symbols

WORD = " triangle"
steps = []
pieces = bpe(WORD, steps)
for symbols, i, r in steps:
    print(f"rank {r:5}: {symbols[i]!r} + {symbols[i + 1]!r}   in {symbols}")
print("tokens:", pieces, "ids:", [bpe_vocab[p] for p in pieces])
assert [bpe_vocab[p] for p in pieces] == bpe_tok(WORD)["input_ids"][0, 1:-1].tolist()
'''),
        md(r'''
The same sequence as a picture: one row per step, the pair merged at that step outlined in red, with the merge's
rank. Ranks need not increase from one step to the next: a merge can only apply once the symbols it joins exist.
'''),
        code(r'''
def draw_merges(word, steps, final):
    rows = steps + [(final, None, None)]
    fig, ax = plt.subplots(figsize=(8, 0.42 * len(rows) + 0.6))
    for row, (symbols, i, r) in enumerate(rows):
        x = 0.0
        for k, s in enumerate(symbols):
            width = 0.35 + 0.17 * len(s)
            merging = i is not None and k in (i, i + 1)
            ax.add_patch(Rectangle((x, -row - 0.35), width, 0.7, edgecolor="red" if merging else "0.4",
                                   facecolor="mistyrose" if merging else "white", lw=1.6 if merging else 0.8))
            ax.text(x + width / 2, -row, s, ha="center", va="center", fontsize=10)
            x += width + 0.08
        label = f"rank {r}" if r is not None else "tokens: " + " ".join(str(bpe_vocab[s]) for s in symbols)
        ax.text(-0.3, -row, label, ha="right", va="center", fontsize=9)
    ax.set_xlim(-3.2, 9); ax.set_ylim(-len(rows) + 0.4, 0.6); ax.axis("off")
    ax.set_title(f"BPE merges of {word!r}, lowest rank first (red: the pair merged at that step)")
    plt.show()

draw_merges(WORD, steps, pieces)
'''),
        md(r'''
Every caption by hand: pre-tokenize, map bytes, merge, look up the ids, and put `<s>` … `</s>` around them.
'''),
        code(r'''
def bpe_by_hand(text):
    tokens = ["<s>"] + [p for word in GPT2_SPLIT.findall(text) for p in bpe(word)] + ["</s>"]
    return tokens, [bpe_vocab[t] for t in tokens]

def readable(token):     # a token's bytes as text, where they are valid UTF-8 on their own
    try:
        return bytes(symbol_to_byte[s] for s in token).decode("utf-8")
    except (KeyError, UnicodeDecodeError):
        return token

BPE = {}
for text, ref in zip(CAPTIONS, REFERENCE["tiny-vtde"]):
    tokens, ids = bpe_by_hand(text)
    assert ids == ref, (text, ids, ref)
    BPE[text] = tokens, ids
    print(f"{text!r:32} {' '.join(tokens)}")
print()
print("the emoji's tokens:", BPE["東京の猫 😺"][0][-5:-1], "= bytes",
      [" ".join(f"{symbol_to_byte[s]:02X}" for s in t) for t in BPE["東京の猫 😺"][0][-5:-1]])
for text in CAPTIONS:
    assert bpe_tok.decode(BPE[text][1], skip_special_tokens=True) == text
assert bpe(" Crème") != bpe(" creme")
'''),
        md(r'''
Nothing became unknown: a character the merges never saw is spelt byte by byte ("😺" is four bytes, `F0 9F 98 BA`),
and decoding the ids gives every caption back exactly (only a byte missing from the vocabulary, above, would be
lost). The price is length: a Chinese character costs up to three tokens; and case and accents are kept, so "Crème"
and "creme" are different tokens.

As a further check, the hand-written merge loop against the library on every distinct word of a longer text, with
digits, contractions, a control character (a byte whose symbol is not in this vocabulary) and mixed scripts:
'''),
        code(r'''
extra = ("It's 2024: the model's tokenizer didn't drop a byte\u0000 of naïve Ünïcödé text, ΕΛΛΗΝΙΚΆ, русский, "
         "עברית, हिन्दी and 한국어; prices: 3.14€ 1,000,000¥ ½ ⅔ \t tabs\n\nnewlines   spaces ")
words = sorted(set(GPT2_SPLIT.findall(extra)))
assert GPT2_SPLIT.findall(extra) == refalign.tokenizers.bpe.split_words(extra)
for w in words:
    assert [bpe_vocab[p] for p in bpe(w)] == bpe_tok(w)["input_ids"][0, 1:-1].tolist(), w
assert [i for w in GPT2_SPLIT.findall(extra) for i in (bpe_vocab[p] for p in bpe(w))] \
    == bpe_tok(extra)["input_ids"][0, 1:-1].tolist()
print(len(words), "distinct words agree; the control character's word:", bpe("\u0000 of"))
'''),
        md(r'''
---
## 3 · SentencePiece unigram (`tiny-altclip`: XLM-R)

A unigram model is a list of **pieces**, each with a **score**, the log of its probability. A word is cut into the
pieces whose scores add up to the most. The data come from `tokenizer.json` (what the library reads; the
SentencePiece model file `sentencepiece.bpe.model` holds the same pieces, see the part on ids below). Pieces that start a
word begin with `▁` (U+2581), SentencePiece's visible space.
'''),
        code(r'''
uni_tok = TOKENIZERS["tiny-altclip"]
pieces_scores, charsmap_blob, _ = load_unigram_tokenizer_json(os.path.join(DIRS["tiny-altclip"], "tokenizer.json"))
uni_pieces = [p for p, _ in pieces_scores]
uni_scores = [s for _, s in pieces_scores]
uni_id = {p: i for i, p in enumerate(uni_pieces)}       # a repeated piece keeps its later id
assert uni_pieces == uni_tok.model.pieces and uni_scores == uni_tok.model.scores

print(len(uni_pieces), "pieces; the first twelve:")
for i in range(12):
    print(f"  {i:3} {uni_pieces[i]!r:10} {uni_scores[i]:9.4f}")
top = sorted(((s, p) for p, s in pieces_scores[4:-1]), reverse=True)[:8]
print("highest-scoring learned pieces:", ", ".join(f"{p!r} {s:.2f}" for s, p in top))
'''),
        md(r'''
### The normaliser: the precompiled charsmap

Before anything else, the text is normalised by rules stored in the model itself: a **precompiled charsmap**, a
trie (a darts-clone double array) mapping byte strings to replacement strings. SentencePiece's `nmt_nfkc` rules are
Unicode NFKC plus a few of its own (tabs, no-break and ideographic spaces become plain spaces, control characters
disappear). The blob is a 4-byte length, the trie's 32-bit units, then the replacement strings, each ended by a NUL.

Finding a rule means walking the trie byte by byte. Each unit packs a label (the byte that leads to it, bits 0–7),
a "a key ends here" flag (bit 8) and the offset of its children (bits 10–30, scaled by 2⁸ if bit 9 is set). From
position `pos`, byte `c` leads to `pos ^ c`, which must carry label `c`; a key that ends there has its value (the
offset of the replacement string) in the child reached with byte 0.
'''),
        code(r'''
(trie_bytes,) = struct.unpack_from("<I", charsmap_blob, 0)
units = np.frombuffer(charsmap_blob, dtype="<u4", count=trie_bytes // 4, offset=4).tolist()
replacements = charsmap_blob[4 + 4 * (trie_bytes // 4):]
print(f"charsmap: {len(charsmap_blob)} bytes = 4 + {len(units)} units x 4 + {len(replacements)} bytes of strings")

def children(unit):
    return (unit >> 10) << ((unit >> 9 & 1) * 8)

def first_rule(data):
    """The replacement of the shortest key that starts `data` (bytes), None if no key does."""
    pos = children(units[0])
    for c in data:
        if c == 0:
            return None
        pos ^= c
        unit = units[pos]
        if unit & 0x800000FF != c:          # wrong label (bit 31 is set on leaf units only)
            return None
        pos ^= children(unit)
        if unit >> 8 & 1:                   # a key ends here: its leaf is the child with byte 0
            value = units[pos] & 0x7FFFFFFF
            return replacements[value:replacements.index(b"\0", value)].decode("utf-8")
    return None

for ch in ["Ａ", "①", "ﬁ", "㎏", "½", "™", "ｶ", "\uff9e", "\u00a0", "\u3000", "\t", "é", "a"]:
    rule = first_rule(ch.encode("utf-8"))
    assert rule == uni_tok.charsmap.transform(ch)
    print(f"U+{ord(ch):04X} {unicodedata.name(ch, 'CHARACTER TABULATION'):40} -> {rule!r}")
'''),
        md(r'''
The rules are applied per **grapheme cluster** (a character with the combining marks that follow it; regex `\X`),
as the Rust `tokenizers` library applies them: a cluster of fewer than 6 UTF-8 bytes is looked up whole (the
shortest key that starts it replaces the whole cluster); otherwise, or when no key starts it, each character is
replaced on its own. A character without a rule stays as it is. Below, full-width letters, the circled digit, the
ligature and the unit sign become their ordinary forms; an `e` followed by a combining accent becomes the single
character `é` (NFKC composes it); tabs, no-break, zero-width and ideographic spaces become plain spaces, and runs of
spaces stay (the next step removes them); a control character disappears. The half-width katakana show the cluster
rule at work: "ｶﾞ" is one cluster of 6 bytes, so it is mapped character by character and ends as "カ" plus a
*combining* voiced mark U+3099, not the single "ガ" that NFKC (and SentencePiece's own library) would give.
'''),
        code(r'''
def normalize(text):
    out = []
    for cluster in regex.findall(r"\X", text):
        if len(cluster) > 1 and len(cluster.encode("utf-8")) < 6:
            whole = first_rule(cluster.encode("utf-8"))
            if whole is not None:
                out.append(whole)
                continue
        for ch in cluster:
            rule = first_rule(ch.encode("utf-8"))
            out.append(ch if rule is None else rule)
    return "".join(out)

examples = ["ＡＢＣ ① ﬁne", "10㎏, ½ cup™", "Crème brûlée", "cafe\u0301", "ｶﾞｷﾞ (half-width)",
            "tab\there", "no\u00a0break", "zero\u200bwidth", "ctrl\u0001char", "a   blue \u3000 triangle"]
for text in examples + CAPTIONS:
    assert normalize(text) == uni_tok.charsmap.normalize(text), text
def escaped(s):          # spaces and invisible characters written as \uXXXX, so that the changes show
    return "".join(f"\\u{ord(c):04x}" if unicodedata.category(c) in ("Mn", "Zs", "Cf", "Cc") and c != " " else c
                   for c in s)

for text in examples:
    out = normalize(text)
    print(f"{escaped(text):32} -> {escaped(out):24} {'(changed)' if out != text else '(unchanged)'}")
assert normalize("ＡＢＣ ① ﬁne") == "ABC 1 fine" and normalize("cafe\u0301") == "caf\u00e9"
assert normalize("tab\there\u00a0\u3000") == "tab here  " and normalize("ctrl\u0001char") == "ctrlchar"
assert normalize("ｶﾞ") == "\u30ab\u3099" and len(regex.findall(r"\X", "ｶﾞ")) == 1 and len("ｶﾞ".encode()) == 6
'''),
        md(r'''
The normalised text is split on whitespace (so a run of spaces counts as one), and each word gets a `▁` in front:
the space becomes part of the word, as `Ġ` did for BPE, but here *every* word has one, the first included
(`add_prefix_space`). A `▁` inside a word would start a new pre-token; our captions have none.
'''),
        code(r'''
def pre_tokens(text):
    return ["\u2581" + w for w in normalize(text).split()]

for text in CAPTIONS:
    print(f"{text!r:32} {pre_tokens(text)}")
'''),
        md(r'''
### Viterbi: the best segmentation of one word

The candidates form a **lattice**: every piece of the vocabulary that equals a substring `word[i:j]` is an arc from
character position `i` to `j`, worth the piece's score. A segmentation is a path from 0 to the end, worth the sum of
its arcs; the tokenizer takes the best. Dynamic programming finds it: `best[j]` = the best score of any path that
reaches `j` = max over arcs `i → j` of `best[i] + score`. Ties keep the first arc found (earliest start, then
shortest piece). A character where no one-character piece starts gets an **unknown** arc, scored 10 below the lowest
piece score; neighbouring unknown arcs of the best path merge into one `<unk>` token.
'''),
        code(r'''
UNK = uni_tok.unk_token_id
UNK_SCORE = min(uni_scores) - 10.0
longest_piece = max(map(len, uni_pieces))

def lattice(word):
    arcs = []                                              # (start, end, id); id UNK for an unknown character
    for i in range(len(word)):
        for j in range(i + 1, min(len(word), i + longest_piece) + 1):
            if word[i:j] in uni_id:
                arcs.append((i, j, uni_id[word[i:j]]))
        if word[i] not in uni_id:
            arcs.append((i, i + 1, UNK))
    return arcs

def arc_score(piece_id):
    return UNK_SCORE if piece_id == UNK else uni_scores[piece_id]

def viterbi(word):
    n = len(word)
    best, came_by = [0.0] + [-np.inf] * n, [None] * (n + 1)
    for i, j, p in lattice(word):                          # sorted by start, then end: best[i] is final here
        if came_by[j] is None or best[i] + arc_score(p) > best[j]:
            best[j], came_by[j] = best[i] + arc_score(p), (i, j, p)
    path, j = [], n
    while j > 0:
        path.append(came_by[j])
        j = came_by[j][0]
    path.reverse()
    tokens = []                                            # (id, text); a run of unknown arcs is one token
    for i, j, p in path:
        if p == UNK and tokens and tokens[-1][0] == UNK:
            tokens[-1] = (UNK, tokens[-1][1] + word[i:j])
        else:
            tokens.append((p, word[i:j]))
    tokens = [(uni_id.get(t, UNK) if p == UNK else p, t) for p, t in tokens]
    return tokens, path, best

# a word the vocabulary does not hold whole, so that the path has a choice to make
WORD_U = next(w for w in ["\u2581triangle", "\u2581carré", "\u2581rectangles", "\u2581triangles", "\u2581circles"]
              if len(viterbi(w)[0]) > 1)
tokens, path, best = viterbi(WORD_U)
print(f"{WORD_U!r}: {len(lattice(WORD_U))} arcs; best path {[t for _, t in tokens]}, score {best[-1]:.4f}")
print("best[j] for j = 0 ..", len(WORD_U), ":", np.round(best, 3))
assert [i for i, _ in tokens] == uni_tok.model.encode(WORD_U)
'''),
        md(r'''
The lattice of that word: every arc is a vocabulary piece spanning the characters under it, labelled with the piece
and its score; longer arcs are drawn higher. The best path is drawn in red, and under each position is
`best[j]`, the score of the best path that reaches it.
'''),
        code(r'''
def draw_lattice(word):
    arcs = lattice(word)
    tokens, path, best = viterbi(word)
    n = len(word)
    def height(i, j):                                              # longer arcs higher, but not in proportion
        return 0.5 * (1 + np.log2(j - i)) + 0.12 * (i % 2)
    top = max(height(i, j) for i, j, _ in arcs)
    fig, ax = plt.subplots(figsize=(max(8, 1.1 * n), 1.6 + 1.2 * top))
    t = np.linspace(0, np.pi, 40)
    for i, j, p in sorted(arcs, key=lambda a: a in path):          # the best path drawn last, on top
        on_path = (i, j, p) in path
        h = height(i, j)
        x, y = (i + j) / 2 - (j - i) / 2 * np.cos(t), h * np.sin(t)
        ax.plot(x, y, color="red" if on_path else "0.65", lw=2.4 if on_path else 0.8, zorder=3 if on_path else 1)
        label = f"{'<unk>' if p == UNK else shown(uni_pieces[p])}\n{arc_score(p):.2f}"
        ax.text((i + j) / 2, h + 0.03, label, ha="center", va="bottom", fontsize=7,
                color="red" if on_path else "0.35", fontweight="bold" if on_path else "normal", zorder=4,
                bbox=dict(facecolor="white", edgecolor="none", pad=0.3, alpha=0.85))
    for k in range(n + 1):
        ax.plot(k, 0, "o", color="k", ms=4, zorder=5)
        ax.text(k, -0.28, f"{best[k]:.2f}", ha="center", va="top", fontsize=7, color="tab:blue")
    for k, ch in enumerate(word):
        ax.text(k + 0.5, -0.08, shown(ch), ha="center", va="top", fontsize=12)
    ax.set_xlim(-0.5, n + 0.5); ax.set_ylim(-0.6, top + 0.6); ax.axis("off")
    ax.set_title(f"unigram lattice of {word!r}: {len(arcs)} arcs (piece, score); red = best path, "
                 f"score {best[-1]:.2f}; blue = best[j]")
    plt.show()

draw_lattice(WORD_U)
'''),
        md(r'''
Each arc adds a log-probability, which is negative, so every extra piece costs something: a path of few, likely
pieces wins. For comparison, the score of spelling the word letter by letter (when every letter is a piece), and
the check that the red path's scores add up to `best` at the end:
'''),
        code(r'''
if all(ch in uni_id for ch in WORD_U):
    by_letter = sum(uni_scores[uni_id[ch]] for ch in WORD_U)
    print(f"letter by letter: {by_letter:.4f}  <  best path: {best[-1]:.4f}")
    assert by_letter <= best[-1]
scores_by_hand = sum(arc_score(p) for _, _, p in path)
assert np.isclose(scores_by_hand, best[-1], rtol=0, atol=1e-9)
'''),
        md(r'''
### Ids: fairseq's layout and the special tokens

SentencePiece numbers its own pieces `<unk>` 0, `<s>` 1, `</s>` 2, then the learned pieces. XLM-R was trained with
fairseq, which put `<s>` 0, `<pad>` 1, `</s>` 2, `<unk>` 3 first; so every learned piece's id is its SentencePiece
id **plus one**, and `<mask>` comes last. `tokenizer.json` already holds the shifted list; reading the SentencePiece
model file shows the shift:
'''),
        code(r'''
sp = read_sentencepiece_model(os.path.join(DIRS["tiny-altclip"], "sentencepiece.bpe.model"))
print("SentencePiece:", list(enumerate(sp.pieces[:6])), "normalizer", repr(sp.normalizer_name))
print("tokenizer    :", list(enumerate(uni_pieces[:7])), "...", (len(uni_pieces) - 1, uni_pieces[-1]))

assert sp.pieces[:3] == ["<unk>", "<s>", "</s>"]
assert uni_pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"] and uni_pieces[-1] == "<mask>"
assert len(uni_pieces) == len(sp.pieces) + 2
for sp_id in range(3, len(sp.pieces)):
    assert uni_pieces[sp_id + 1] == sp.pieces[sp_id]
    assert uni_scores[sp_id + 1] == sp.scores[sp_id]      # the same float32 value, written as JSON
assert sp.precompiled_charsmap == charsmap_blob
print({t: uni_tok.convert_tokens_to_ids(t) for t in ("<s>", "<pad>", "</s>", "<unk>", "<mask>")})
'''),
        md(r'''
Every caption by hand: normalise, split, `▁`, Viterbi on each word, `<s>` … `</s>` around:
'''),
        code(r'''
def unigram_by_hand(text):
    tokens = [("<s>", uni_id["<s>"])]
    for word in pre_tokens(text):
        tokens += [("<unk>" if i == UNK else t, i) for i, t in viterbi(word)[0]]
    tokens.append(("</s>", uni_id["</s>"]))
    return [t for t, _ in tokens], [i for _, i in tokens]

UNIGRAM = {}
for text, ref in zip(CAPTIONS, REFERENCE["tiny-altclip"]):
    tokens, ids = unigram_by_hand(text)
    assert ids == ref, (text, ids, ref)
    UNIGRAM[text] = tokens, ids
    print(f"{text!r:32} {' '.join(tokens)}")
'''),
        md(r'''
tiny-altclip's vocabulary is its own and small: `tools/train_tiny.py` trained it with SentencePiece on the shapes
task's captions and filler sentences in the same three languages. So every word of the task's English captions is
one piece, and characters it never saw have no piece at all: capital letters, most accented letters (è, û, ï; é and
œ are there), the Japanese characters, the emoji. The four
characters of "東京の猫" are four unknown arcs in a row on the best path, and they become **one** `<unk>`; so do the
three capitals of "ABC".
'''),
        code(r'''
assert all(len(viterbi(w)[0]) == 1 for caption in shapes.captions("en") for w in pre_tokens(caption))
assert not any(ch in uni_id for ch in "ABCDEFGHIJKLMNOPQRSTUVWXYZèûï😺") and "é" in uni_id and "œ" in uni_id
for word, unknown in [("\u2581東京の猫", "東京の猫"), ("\u2581ABC", "ABC")]:
    tokens, path, _ = viterbi(word)
    assert all(ch not in uni_id for ch in unknown)
    assert [p for _, _, p in path].count(UNK) == len(unknown) and tokens[-1] == (UNK, unknown)
    print(f"{word!r}: path {[(word[i:j], p) for i, j, p in path]} -> tokens {tokens}")
'''),
        md(r'''
---
## 4 · The three side by side

Tokens and ids of each caption, all computed by hand above and equal to the library's.
'''),
        code(r'''
RESULTS = {"WordPiece (tiny)": WORDPIECE, "BPE (tiny-vtde)": BPE, "unigram (tiny-altclip)": UNIGRAM}
for text in CAPTIONS:
    print(repr(text))
    for name, result in RESULTS.items():
        tokens, ids = result[text]
        print(f"  {name:23} {len(ids):3}  {' '.join(tokens)}")
        print(f"  {'':23} {'':3}  {ids}")
'''),
        code(r'''
lengths = np.array([[len(result[text][1]) for result in RESULTS.values()] for text in CAPTIONS])
fig, ax = plt.subplots(figsize=(10, 4))
for k, name in enumerate(RESULTS):
    ax.barh(np.arange(len(CAPTIONS)) + 0.27 * (k - 1), lengths[:, k], height=0.27, label=name)
ax.set_yticks(range(len(CAPTIONS)), [shown(repr(t)) for t in CAPTIONS]); ax.invert_yaxis()
ax.set_xlabel("tokens, <s>/</s> or [CLS]/[SEP] included")
ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.06), ncol=3, fontsize=8, frameon=False)
ax.grid(axis="x", color="0.9"); ax.set_axisbelow(True)
plt.tight_layout(); plt.show()
print(lengths)
# the shape caption: fewer unigram tokens than BPE; the French dessert: more unigram tokens than either other
assert lengths[0, 2] < lengths[0, 1] and lengths[3, 2] == lengths[3].max() > lengths[3, 1]
'''),
        md(r'''
What the comparison shows, in short:

- **WordPiece** normalises the most (lower case, no accents) and gives `[UNK]` for what its vocabulary cannot spell,
  a whole word at a time.
- **Byte-level BPE** normalises nothing and can spell anything from bytes, so it loses no information (decode
  gives every caption back; only bytes missing from its vocabulary would be dropped), at the cost of long sequences
  for text its merges did not learn, such as Chinese or an emoji.
- **Unigram** normalises with NFKC rules (full-width letters, ligatures, circled digits, odd spaces), chooses the
  most probable segmentation rather than a greedy one, and gives `<unk>` only for characters it has no piece for.

The vocabulary matters as much as the algorithm. tiny-altclip's small vocabulary covers the shape captions in fewer
tokens than the BPE, but it never saw capitals, è, û or ï, so "Crème brûlée, naïve café!" takes more
tokens there than in either other tokenizer, many of them `<unk>` (the table and the assertion above).

The three *ids* are unrelated: each number only means something to the embedding table of its own text tower.
'''),
    ]
