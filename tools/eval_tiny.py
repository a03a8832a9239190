"""Evaluate trained tiny checkpoints on the coloured-shapes task with refalign (no torch).

    .venv/bin/python tools/eval_tiny.py [FOLDER_OR_NAME ...]    # default: the three folders of
                                                                # /tmp/refalign-tiny-trained (tools/train_tiny.py)

For each checkpoint: 48 fresh images of the held-out "test" split of tools/shapes.py (4 per class; shape sizes,
rotations and image sizes the training never drew, and a random stream it never used), each classified among the
12 captions with refalign.similarity_scores (the captions are whole sentences: no template), in every language the
model was trained on (English, French and Chinese for AltCLIP). Also the mean pairwise cosine of the image
embeddings of 20 different images (refalign.embed_images): a model that sees gives clearly different embeddings,
random weights give ~1.0.
"""
from __future__ import annotations

import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import shapes  # noqa: E402

DEFAULT_DIR = "/tmp/refalign-tiny-trained"
EVAL_SEED = 2024
N_IMAGES = 48
N_SPREAD = 20


def languages_of(model: str) -> tuple[str, ...]:
    """The caption languages a checkpoint is evaluated in: all three for AltCLIP, English otherwise."""
    from refalign.auto import model_type_of
    from refalign.loading.hub import resolve_weights
    return shapes.LANGUAGES if model_type_of(resolve_weights(model)) == "altclip" else ("en",)


def mean_pairwise_cosine(embeddings: np.ndarray) -> float:
    """Mean cosine over all pairs of distinct rows (rows L2-normalised here)."""
    e = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    cos = e @ e.T
    n = len(e)
    return float((cos.sum() - np.trace(cos)) / (n * (n - 1)))


def evaluate(model: str, n: int = N_IMAGES, seed: int = EVAL_SEED) -> dict:
    """Accuracy per language on n "test"-split images, the confusions, and the embedding spread, with refalign."""
    import refalign
    data = shapes.dataset(n, seed, split="test")
    images = [image for image, _ in data]
    labels = np.array([label for _, label in data])
    result: dict = {"images": n, "split": "test", "seed": seed, "accuracy": {}, "errors": {}}
    for lang in languages_of(model):
        texts = shapes.captions(lang)
        probs = refalign.similarity_scores(images, texts, model=model)["probabilities"]
        predicted = probs.argmax(axis=1)
        result["accuracy"][lang] = float((predicted == labels).mean())
        result["errors"][lang] = [f"{texts[t]} -> {texts[p]}" for t, p in zip(labels, predicted) if t != p]
    embeddings = refalign.embed_images(images[:N_SPREAD], model=model, progress=False)
    result["mean_pairwise_image_cosine"] = mean_pairwise_cosine(embeddings)
    return result


def format_report(name: str, result: dict) -> str:
    acc = ", ".join(f"{lang} {a:.1%}" for lang, a in result["accuracy"].items())
    lines = [f"{name}: accuracy on {result['images']} held-out images: {acc}; mean pairwise cosine of "
             f"{N_SPREAD} image embeddings {result['mean_pairwise_image_cosine']:.4f}"]
    for lang, errors in result["errors"].items():
        if errors:
            lines.append(f"  {lang} errors: {'; '.join(errors)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*", help="checkpoint folders or bundled names")
    ap.add_argument("--seed", type=int, default=EVAL_SEED)
    ap.add_argument("--n", type=int, default=N_IMAGES)
    args = ap.parse_args(argv)
    models = args.models or [os.path.join(DEFAULT_DIR, k) for k in ("tiny", "tiny-altclip", "tiny-vtde")]
    for model in models:
        print(format_report(model, evaluate(model, args.n, args.seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
