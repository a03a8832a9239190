"""Train the tiny checkpoints on the coloured-shapes task (tools/shapes.py) so that their scores mean something.

    .venv/bin/python tools/train_tiny.py [OUT_DIR] [--only tiny tiny-altclip tiny-vtde] [--seed 0] [--steps N]

torch + transformers (+ sentencepiece for tiny-altclip) needed; not run in CI. OUT_DIR (default
/tmp/refalign-tiny-trained) gets one folder per model, in the hub layout that save_pretrained and the processor files
give, each ending with MADE_BY.json (the recipe, the versions, what it learned and the accuracy refalign measured):

  tiny          ALIGN with tools/make_checkpoint.py's TINY_CONFIG architecture (EfficientNet blocks covering
                expand / no-expand, stride 1 / 2, kernel 3 / 5, residual / not; a 2-layer BERT, hidden 32, with
                bert-base-uncased's vocabulary) and align-base's processor settings (346 x 346, centre crop 289).
                config.json, model.safetensors, vocab.txt, tokenizer_config.json, preprocessor_config.json
  tiny-altclip  AltCLIP: a 4-layer CLIP vision tower (hidden 64, patch 32, 224 px) and a 2-layer XLM-R text tower
                (hidden 64, project_dim 48, projection 40) with its own SentencePiece unigram tokenizer (nmt_nfkc,
                like XLM-R's) trained here on the captions in English, French and Chinese plus filler sentences;
                BAAI/AltCLIP's processor settings. config.json, model.safetensors, sentencepiece.bpe.model,
                tokenizer.json, tokenizer_config.json, special_tokens_map.json, preprocessor_config.json
  tiny-vtde     VisionTextDualEncoder: a 4-layer ViT (hidden 64, patch 32, 224 px, ViTImageProcessor 224 x 224
                bilinear, mean / std 0.5) + a 2-layer RoBERTa (hidden 32) with the committed 5,000-token byte-level
                BPE of tests/data/tokenizer/bpe (trained with `tokenizers` on real text), projection 48. So the three
                bundled checkpoints have the three tokenizers: WordPiece, SentencePiece unigram, byte-level BPE.
                config.json, model.safetensors, vocab.json, merges.txt, tokenizer.json, tokenizer_config.json,
                special_tokens_map.json, preprocessor_config.json

Training: a pool of shape images from the "train" split of tools/shapes.py, turned into pixel_values once by the
checkpoint's own image processor (transformers, PIL backend, read from the files written into the output folder), with
a quarter of the pool replaced by fresh renders after every pass over it. Each step scores a batch of images against
the 12 class captions (36 for AltCLIP: 12 per language) with the model's own forward pass (logits_per_image, which
includes the trained temperature / logit_scale), and minimises the cross-entropy over the 12 captions of each
language. AdamW, linear warm-up then cosine decay, gradient clipping. ALIGN trains most steps on pixel_values
downscaled to half size (145 px; the EfficientNet is 4x cheaper there and ends in global average pooling), then its
last steps at its own 289 px, and its batch-norm running statistics are finally re-estimated at 289 px over the
pool (transformers' momentum 0.99 would otherwise leave them equal to the last batch's). A validation set from the
"train" split (its own seed) is scored in torch while training; the held-out "test" split is only used by the final
evaluation, which runs refalign (tools/eval_tiny.py) on the saved folder.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "data", "tokenizer"))

import shapes  # noqa: E402

DEFAULT_OUT = "/tmp/refalign-tiny-trained"
MODELS = ("tiny", "tiny-altclip", "tiny-vtde")
TOOL = "tools/train_tiny.py"


@dataclass
class Recipe:
    """How one model is trained."""
    steps: int                  # optimiser steps in all
    batch: int                  # images per step (scored against every caption)
    lr: float
    pool: int                   # training images held at once (pixel_values, float16)
    refresh: float = 0.1        # share of the pool re-rendered after each pass over it
    warmup: int = 100
    weight_decay: float = 0.05
    low_res: int | None = None  # train the first steps on pixel_values downscaled to this side (ALIGN)
    full_res_steps: int = 0     # ... and the last ones at the processor's own size
    val_every: int = 100
    fan_in: str = "all"         # which towers' Linear layers get fan_in_init: "all", "text", "vision" or "none"


RECIPES = {
    # the EfficientNet learns colour within 250 steps, then sits at loss ln 3 (shape at chance) until ~900
    "tiny": Recipe(steps=4000, batch=32, lr=2e-3, pool=4096, refresh=0.1, warmup=100, low_res=145,
                   full_res_steps=300, val_every=250, fan_in="text"),
    # with CLIP's own init (fan_in "none") 4000 steps left it at 85% on the held-out split and 7000 at 88-96%
    # (squares and triangles at unseen rotations confused); 6000 steps with fan-in init of the vision tower only:
    # 92-98%; of the whole model (this recipe): 98-100% (tools/eval_tiny.py, four seeds)
    "tiny-altclip": Recipe(steps=6000, batch=64, lr=1e-3, pool=6144, refresh=0.1, warmup=100, val_every=500,
                           fan_in="all"),
    "tiny-vtde": Recipe(steps=4000, batch=64, lr=1e-3, pool=6144, refresh=0.1, warmup=100, val_every=500),
}

# ------------------------------------------------------------------------------------------------ settings files
ALTCLIP_PREPROCESSOR_CONFIG = {   # BAAI/AltCLIP's preprocessor_config.json
    "crop_size": {"height": 224, "width": 224},
    "do_center_crop": True,
    "do_convert_rgb": True,
    "do_normalize": True,
    "do_rescale": True,
    "do_resize": True,
    "feature_extractor_type": "CLIPFeatureExtractor",
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_processor_type": "CLIPImageProcessor",
    "image_std": [0.26862954, 0.26130258, 0.27577711],
    "processor_class": "AltCLIPProcessor",
    "resample": 3,
    "rescale_factor": 0.00392156862745098,
    "size": {"shortest_edge": 224},
}
VTDE_PREPROCESSOR_CONFIG = {   # what transformers' ViTImageProcessor(...).save_pretrained writes for these settings
    "do_normalize": True,
    "do_rescale": True,
    "do_resize": True,
    "image_mean": [0.5, 0.5, 0.5],
    "image_processor_type": "ViTImageProcessor",
    "image_std": [0.5, 0.5, 0.5],
    "resample": 2,
    "rescale_factor": 0.00392156862745098,
    "size": {"height": 224, "width": 224},
}
BPE_FIXTURE = os.path.join(ROOT, "tests", "data", "tokenizer", "bpe")   # RoBERTa-shaped, 5,000 tokens
BPE_FILES = ("vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def _write_json(path: str, data: dict) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True, ensure_ascii=False)
        f.write("\n")


# ------------------------------------------------------------------------------------ AltCLIP's own tokenizer
TOKENIZER_PIECES = 400   # requested SentencePiece size (hard_vocab_limit off: fewer if the text cannot fill it)

_FILLER = {   # colours and shapes beyond the task's, and sentence frames, so that the tokenizer has some variety
    "en": (("red", "green", "blue", "yellow", "orange", "purple", "pink", "black", "white", "grey", "brown"),
           ("circle", "square", "triangle", "star", "hexagon", "rectangle", "oval", "diamond", "pentagon", "heart"),
           ("a {c} {s}", "a photo of a {c} {s}", "a picture of a small {c} {s}", "a big {c} {s} on a light background",
            "the {s} is {c}", "there is a {c} {s} in the middle of the image")),
    "fr": (("rouge", "vert", "bleu", "jaune", "orange", "violet", "rose", "noir", "blanc", "gris", "marron"),
           ("cercle", "carré", "triangle", "octogone", "hexagone", "rectangle", "ovale", "losange", "pentagone", "cœur"),
           ("un {s} {c}", "une photo d'un {s} {c}", "une image d'un petit {s} {c}", "un grand {s} {c} sur un fond clair",
            "le {s} est {c}", "il y a un {s} {c} au milieu de l'image")),
    "zh": (("红色", "绿色", "蓝色", "黄色", "橙色", "紫色", "粉色", "黑色", "白色", "灰色", "棕色"),
           ("圆", "正方形", "三角形", "星形", "六边形", "长方形", "椭圆", "菱形", "五边形", "心形"),
           ("一个{c}的{s}", "一张{c}的{s}的照片", "一个小的{c}{s}", "浅色背景上的一个大的{c}{s}", "这个{s}是{c}的",
            "图片中间有一个{c}的{s}")),
}


def tokenizer_sentences() -> list[str]:
    """The SentencePiece training text: the task's 36 captions, then every filler frame x colour x shape."""
    lines = [c for lang in shapes.LANGUAGES for c in shapes.captions(lang)]
    for colours, shape_words, frames in _FILLER.values():
        lines += [frame.format(c=c, s=s) for frame in frames for c in colours for s in shape_words]
    return lines


def train_sentencepiece(vocab_size: int = TOKENIZER_PIECES) -> bytes:
    """A serialized SentencePiece unigram model with XLM-R's settings (nmt_nfkc, <unk>=0 <s>=1 </s>=2, no <pad>)."""
    import io
    import sentencepiece as spm
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(tokenizer_sentences()), model_writer=model, model_type="unigram",
        vocab_size=vocab_size, hard_vocab_limit=False, normalization_rule_name="nmt_nfkc", character_coverage=1.0,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, num_threads=1, shuffle_input_sentence=False, input_sentence_size=0,
        minloglevel=2)
    return model.getvalue()


def write_altclip_tokenizer(out: str) -> int:
    """sentencepiece.bpe.model, tokenizer.json, tokenizer_config.json and special_tokens_map.json in BAAI/AltCLIP's
    layout (as tests/data/tokenizer/make_unigram_fixture.py writes them); returns the vocabulary size."""
    from transformers import AddedToken, XLMRobertaTokenizer
    import make_unigram_fixture as fixture
    with tempfile.TemporaryDirectory() as tmp:
        source, saved = os.path.join(tmp, "source"), os.path.join(tmp, "saved")
        os.makedirs(source)
        with open(os.path.join(source, "sentencepiece.bpe.model"), "wb") as f:
            f.write(train_sentencepiece())
        mask = AddedToken("<mask>", lstrip=True, rstrip=False, normalized=False, special=True)
        tok = XLMRobertaTokenizer.from_pretrained(source, mask_token=mask, model_max_length=512)
        tok.save_pretrained(saved)
        shutil.copy(os.path.join(source, "sentencepiece.bpe.model"), out)
        shutil.copy(os.path.join(saved, "tokenizer.json"), out)
    for name, data in (("tokenizer_config.json", fixture.TOKENIZER_CONFIG),
                       ("special_tokens_map.json", fixture.SPECIAL_TOKENS_MAP)):
        with open(os.path.join(out, name), "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, ensure_ascii=False)
            f.write("\n")
    return len(tok)


# ---------------------------------------------------------------------------------------------- the models
def fan_in_init(module) -> None:
    """Every Linear weight re-drawn with std 1 / sqrt(fan_in) (biases stay 0). transformers' BERT / ViT init (std
    0.02) is meant for width 768: at width 32-64 the attention and MLP outputs are ~50x smaller than the residual
    stream, so the [CLS] token hardly sees the other tokens, every image (caption) embeds alike, and contrastive
    training collapses to the constant solution (loss ln 12) within a few steps."""
    import torch
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.Linear):
                m.weight.normal_(0.0, m.weight.shape[1] ** -0.5)


def _fan_in(model, which: str) -> None:
    """fan_in_init on the towers a recipe names ("all", "text", "vision", "none")."""
    if which not in ("all", "text", "vision", "none"):
        raise ValueError(f"fan_in must be all, text, vision or none, got {which!r}")
    if which == "all":
        fan_in_init(model)   # both towers and the projections
    elif which != "none":
        fan_in_init(getattr(model, f"{which}_model"))


def build(kind: str, out: str, fan_in: str = "all"):
    """(untrained model, languages) for one checkpoint, after writing its tokenizer and processor files to `out`
    (the training reads them back through transformers, so it sees exactly what a user of the folder sees)."""
    import torch
    import transformers
    os.makedirs(out, exist_ok=True)
    if kind == "tiny":
        import make_checkpoint
        shutil.copyfile(make_checkpoint.vocab_path(), os.path.join(out, "vocab.txt"))
        _write_json(os.path.join(out, "tokenizer_config.json"), make_checkpoint.TOKENIZER_CONFIG)
        _write_json(os.path.join(out, "preprocessor_config.json"), make_checkpoint.PREPROCESSOR_CONFIG)
        model = transformers.AlignModel(transformers.AlignConfig(**make_checkpoint.TINY_CONFIG))
        _fan_in(model, fan_in)
        with torch.no_grad():   # the config's init temperature 1.0 makes softmax over cosines nearly flat
            model.temperature.fill_(0.07)
        return model, ("en",)
    if kind == "tiny-altclip":
        vocab = write_altclip_tokenizer(out)
        _write_json(os.path.join(out, "preprocessor_config.json"), ALTCLIP_PREPROCESSOR_CONFIG)
        config = transformers.AltCLIPConfig(
            projection_dim=40,
            text_config=dict(vocab_size=vocab, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                             intermediate_size=128, project_dim=48),
            vision_config=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=4, num_attention_heads=4,
                               patch_size=32, image_size=224))
        model = transformers.AltCLIPModel(config)
        _fan_in(model, fan_in)
        return model, shapes.LANGUAGES
    if kind == "tiny-vtde":
        for name in BPE_FILES:
            shutil.copyfile(os.path.join(BPE_FIXTURE, name), os.path.join(out, name))
        _write_json(os.path.join(out, "preprocessor_config.json"), VTDE_PREPROCESSOR_CONFIG)
        with open(os.path.join(BPE_FIXTURE, "vocab.json"), encoding="utf-8") as f:
            vocab_size = len(json.load(f))
        vision = transformers.ViTConfig(hidden_size=64, num_hidden_layers=4, num_attention_heads=4,
                                        intermediate_size=128, patch_size=32, image_size=224)
        text = transformers.RobertaConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2,
                                          num_attention_heads=4, intermediate_size=64, max_position_embeddings=514,
                                          type_vocab_size=1, pad_token_id=1, bos_token_id=0, eos_token_id=2)
        config = transformers.VisionTextDualEncoderConfig.from_vision_text_configs(vision, text, projection_dim=48)
        model = transformers.VisionTextDualEncoderModel(config=config)
        _fan_in(model, fan_in)
        return model, ("en",)
    raise ValueError(f"unknown model {kind!r} (one of {MODELS})")


# ---------------------------------------------------------------------------------------------- the data
def render_pixels(processor, labels: list[int], rng: np.random.Generator):
    """pixel_values (float16) of fresh "train"-split renders of the given classes, by the checkpoint's processor."""
    import torch
    chunks = []
    for start in range(0, len(labels), 64):
        images = [shapes.render(*shapes.CLASSES[c], rng, "train") for c in labels[start:start + 64]]
        chunks.append(processor(images=images, return_tensors="pt")["pixel_values"].to(torch.float16))
    return torch.cat(chunks)


class Pool:
    """Training images as pixel_values (float16, the checkpoint's own processor) and their class indices; a part
    of it is replaced by fresh renders of the "train" split on request."""

    def __init__(self, processor, size: int, rng: np.random.Generator):
        import torch
        self.processor, self.rng = processor, rng
        self._next_label = 0
        labels = self._labels(size)
        self.pixels = render_pixels(processor, labels, rng)
        self.labels = torch.tensor(labels)

    def _labels(self, n: int) -> list[int]:
        out = [(self._next_label + k) % len(shapes.CLASSES) for k in range(n)]
        self._next_label = (self._next_label + n) % len(shapes.CLASSES)
        return out

    def refresh(self, fraction: float) -> None:
        import torch
        n = int(round(fraction * len(self.labels)))
        where = torch.from_numpy(self.rng.choice(len(self.labels), size=n, replace=False))
        labels = self._labels(n)
        self.pixels[where] = render_pixels(self.processor, labels, self.rng)
        self.labels[where] = torch.tensor(labels)


def caption_inputs(tokenizer, languages) -> dict:
    """input_ids and attention_mask of the 12 captions of each language, languages one after the other."""
    texts = [c for lang in languages for c in shapes.captions(lang)]
    enc = tokenizer(texts, padding=True, return_tensors="pt")
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}


def language_loss(logits, labels, n_languages: int):
    """Mean over languages of the cross-entropy over that language's 12 captions."""
    import torch.nn.functional as F
    k = len(shapes.CLASSES)
    return sum(F.cross_entropy(logits[:, i * k:(i + 1) * k], labels) for i in range(n_languages)) / n_languages


def accuracy(model, texts: dict, pixels, labels, n_languages: int, side: int | None = None) -> list[float]:
    """Top-1 accuracy per language in torch, eval mode (images downscaled to `side` while training at low res)."""
    import torch
    was_training = model.training
    model.eval()
    k = len(shapes.CLASSES)
    with torch.no_grad():
        logits = torch.cat([model(**texts, pixel_values=_resize(pixels[s:s + 64].float(), side)).logits_per_image
                            for s in range(0, len(labels), 64)])
    model.train(was_training)
    return [float((logits[:, i * k:(i + 1) * k].argmax(-1) == labels).float().mean()) for i in range(n_languages)]


def _resize(pixels, side: int | None):
    import torch.nn.functional as F
    if side is None or pixels.shape[-1] == side:
        return pixels
    return F.interpolate(pixels, size=(side, side), mode="bilinear", antialias=True, align_corners=False)


def _clamp_scale(model) -> None:
    """Keep the temperature sane: CLIP caps exp(logit_scale) at 100; ALIGN's temperature >= 0.01 likewise."""
    import torch
    with torch.no_grad():
        if hasattr(model, "logit_scale"):
            model.logit_scale.clamp_(0.0, math.log(100.0))
        if hasattr(model, "temperature"):
            model.temperature.clamp_(0.01, 1.0)


def recalibrate_batch_norm(model, pool: Pool, batch: int) -> None:
    """Running statistics of every BatchNorm2d re-estimated over the whole pool at full resolution (cumulative
    average: momentum None), the rest of the model in eval mode; then the config's momentum back."""
    import torch
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    if not bns:
        return
    momentum = bns[0].momentum
    model.eval()
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
        bn.train()
    with torch.no_grad():
        for s in range(0, len(pool.labels), batch):
            model.vision_model(pixel_values=pool.pixels[s:s + batch].float())
    for bn in bns:
        bn.momentum = momentum
    model.eval()


def _scale_of(model) -> float:
    return model.logit_scale.exp().item() if hasattr(model, "logit_scale") else 1.0 / model.temperature.item()


def train(kind: str, out: str, seed: int, recipe: Recipe, threads: int = 2, log=print) -> dict:
    """Build, train and save one checkpoint; returns what MADE_BY.json records about the training."""
    import torch
    import transformers
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    model, languages = build(kind, out, recipe.fan_in)
    processor = transformers.AutoImageProcessor.from_pretrained(out, backend="pil")
    tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    texts = caption_inputs(tokenizer, languages)
    channels_last = kind == "tiny"   # EfficientNet's depthwise convolutions are ~4x faster so on CPU
    if channels_last:
        model = model.to(memory_format=torch.channels_last)

    t0 = time.time()
    pool = Pool(processor, recipe.pool, np.random.default_rng([seed, 0, 1]))
    val_rng = np.random.default_rng([seed, 0, 2])   # the "train" split, its own stream: validation while training
    val_labels = [k % len(shapes.CLASSES) for k in range(120)]
    val_pixels = render_pixels(processor, val_labels, val_rng)
    val_labels = torch.tensor(val_labels)
    log(f"[{kind}] {sum(p.numel() for p in model.parameters()):,} parameters; pool of {recipe.pool} images "
        f"rendered and processed in {time.time() - t0:.0f} s")

    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embedding" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": recipe.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=recipe.lr, betas=(0.9, 0.98))

    def lr_at(step: int) -> float:
        if step < recipe.warmup:
            return (step + 1) / recipe.warmup
        return 0.5 * (1 + math.cos(math.pi * (step - recipe.warmup) / max(1, recipe.steps - recipe.warmup)))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)

    gen = torch.Generator().manual_seed(seed)
    order, cursor, passes = torch.randperm(len(pool.labels), generator=gen), 0, 0
    history = []
    t_train = time.time()
    model.train()
    for step in range(recipe.steps):
        if cursor + recipe.batch > len(order):   # a pass is over: refresh part of the pool, reshuffle
            pool.refresh(recipe.refresh)
            order, cursor, passes = torch.randperm(len(pool.labels), generator=gen), 0, passes + 1
        idx = order[cursor:cursor + recipe.batch]
        cursor += recipe.batch
        low = recipe.low_res if step < recipe.steps - recipe.full_res_steps else None
        # a quarter turn of the square processed image is another image of the same class (it keeps theta mod 30)
        turns = int(torch.randint(0, 4, (1,), generator=gen))
        pixels = _resize(torch.rot90(pool.pixels[idx].float(), turns, dims=(2, 3)), low)
        if channels_last:
            pixels = pixels.contiguous(memory_format=torch.channels_last)
        logits = model(**texts, pixel_values=pixels).logits_per_image
        loss = language_loss(logits, pool.labels[idx], len(languages))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        _clamp_scale(model)
        if (step + 1) % recipe.val_every == 0 or step + 1 == recipe.steps:
            acc = accuracy(model, texts, val_pixels, val_labels, len(languages), low)
            history.append({"step": step + 1, "loss": round(loss.item(), 4), "val_accuracy": acc})
            log(f"[{kind}] step {step + 1}/{recipe.steps} loss {loss.item():.4f} scale {_scale_of(model):.1f} "
                f"val {' '.join(f'{a:.3f}' for a in acc)} res {low or 'full'} {time.time() - t_train:.0f} s")
    if channels_last:
        recalibrate_batch_norm(model, pool, 32)
        model = model.to(memory_format=torch.contiguous_format)
    acc = accuracy(model, texts, val_pixels, val_labels, len(languages))
    train_seconds = time.time() - t0
    log(f"[{kind}] done in {train_seconds:.0f} s; validation accuracy {acc}")
    model.eval().save_pretrained(out)
    return {"train_seconds": round(train_seconds), "passes_over_pool": passes, "history": history,
            "final_validation_accuracy_torch": dict(zip(languages, acc)), "logit_scale_exp": _scale_of(model)}


def write_made_by(kind: str, out: str, seed: int, recipe: Recipe, training: dict, evaluation: dict) -> None:
    import sentencepiece
    import torch
    import transformers
    what = ("zero-shot classification of one coloured shape (red / green / blue / yellow x circle / square / triangle) "
            "on a light background against the 12 captions " +
            ("in English ('a red circle'), French ('un cercle rouge') and Chinese ('一个红色的圆')"
             if kind == "tiny-altclip" else "'a red circle', 'a green square', ..."))
    _write_json(os.path.join(out, "MADE_BY.json"), {
        "tool": TOOL, "kind": kind, "seed": seed, "torch": torch.__version__,
        "transformers": transformers.__version__, "sentencepiece": sentencepiece.__version__,
        "numpy": np.__version__, "task": "tools/shapes.py", "learned": what, "recipe": asdict(recipe),
        "training": training, "evaluation_refalign": evaluation,
        "note": "trained on a synthetic task: meaningful scores on coloured shapes only, not real photos",
    })


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", nargs="?", default=DEFAULT_OUT)
    ap.add_argument("--only", nargs="+", choices=MODELS, default=list(MODELS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, help="override every recipe's number of steps (quick trials)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (1 each to train two models at once)")
    ap.add_argument("--fan-in", choices=("all", "text", "vision", "none"), help="override the recipe's fan_in")
    args = ap.parse_args(argv)
    import eval_tiny
    for kind in args.only:
        recipe = RECIPES[kind]
        if args.steps:
            recipe = Recipe(**{**asdict(recipe), "steps": args.steps,
                               "full_res_steps": min(recipe.full_res_steps, args.steps // 4)})
        if args.fan_in:
            recipe = Recipe(**{**asdict(recipe), "fan_in": args.fan_in})
        out = os.path.join(args.out, kind)
        if os.path.isdir(out):
            shutil.rmtree(out)
        training = train(kind, out, args.seed, recipe, args.threads)
        evaluation = eval_tiny.evaluate(out)
        print(eval_tiny.format_report(kind, evaluation))
        write_made_by(kind, out, args.seed, recipe, training, evaluation)
    return 0


if __name__ == "__main__":
    sys.exit(main())
