"""The `refalign` command line: similarity, classify, embed, golden, compare, info, convert, fetch -- for every family
(the checkpoint's config.json says which; refalign.auto).

User mistakes (missing files, bad weights, bad arguments) print one line `refalign: error: ...` and exit 2;
`compare` exits 1 when a tensor is out of tolerance.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from . import __version__
from .errors import RefalignError

def _add_weights(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", "-w", default=None,
                   help="checkpoint directory or file, a bundled tiny one ('tiny', 'tiny-altclip', 'tiny-vtde': "
                        "trained on coloured shapes only) or 'kakaobrain/align-base' "
                        "(offline, from the Hugging Face cache); default: $REFALIGN_WEIGHTS, weights/align-base "
                        "in a source checkout, then the Hugging Face cache")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"], help="compute dtype")


def _weights_note(model) -> str | None:
    from .loading.hub import bundled_tiny_note
    return bundled_tiny_note(model.source)


def _read_lines(path: str, what: str) -> list[str]:
    """The non-blank lines of a UTF-8 file ('-' = standard input), without their line ends."""
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as f:
                text = f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} file not found: {path}") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"{what} file {path} is not UTF-8 text ({e.reason} at byte {e.start})") from None
    except IsADirectoryError:
        raise ValueError(f"{what} file {path} is a directory") from None
    lines = [line.rstrip("\r") for line in text.split("\n")]
    return [line for line in lines if line.strip()]


def _looks_like_image_file(arg: str) -> bool:
    if not os.path.isfile(arg):
        return False
    from PIL import Image
    try:
        with Image.open(arg):
            return True
    except Exception:  # noqa: BLE001 -- anything PIL cannot identify is not an image
        return False


def _gather(args, positional: list[str], file_arg: str | None, what: str, option: str) -> list[str]:
    """Texts (or labels) from the command line and from a file, with image paths refused by name."""
    for item in positional:
        if _looks_like_image_file(item):
            raise ValueError(f"{item!r} is an image file, not a {what}: pass more images with --image {item}")
    items = list(positional) + (_read_lines(file_arg, what) if file_arg else [])
    if not items:
        raise ValueError(f"no {what}s: give them as arguments or with {option} FILE ('-' reads standard input)")
    return items


def _images(args) -> list[str]:
    return [args.image] + list(args.images or [])


def cmd_similarity(args) -> int:
    from .api import load, similarity_scores
    texts = _gather(args, args.texts, args.texts_file, "text", "--texts-file")
    images = _images(args)
    model, _ = load(args.weights, args.dtype)
    scores = similarity_scores(images, texts, model=model, low_memory=True)   # one shot: see low_memory
    note = _weights_note(model)
    rows = [[{"text": t, "cosine": float(scores["cosine"][i, j]), "logit": float(scores["logits"][i, j]),
              "probability": float(scores["probabilities"][i, j])} for j, t in enumerate(texts)]
            for i in range(len(images))]
    if args.json:
        doc = {"weights": model.source, "bundled_tiny": note is not None, "texts": texts,
               "results": [{"image": im, "scores": r} for im, r in zip(images, rows)]}
        if len(images) == 1:  # the one-image shorthand
            doc.update(image=images[0], scores=rows[0])
        print(json.dumps(doc, ensure_ascii=False, indent=2, allow_nan=False))
    else:
        width = max(len(t) for t in texts)
        print(f"weights: {model.source}")
        for im, r in zip(images, rows):
            print(f"image:   {im}")
            print(f"  {'cosine':>8}  {'logit':>9}  {'prob':>8}  text")
            for s in r:
                p = s["probability"]
                print(f"  {s['cosine']:8.4f}  {s['logit']:9.4f}  {p:8.4f}  {s['text']:<{width}}  "
                      f"{'#' * int(round(p * 40))}")
        if len(texts) == 1:
            print("(one text: its probability is 1 by definition -- compare cosines, or give several texts)")
    if note:
        print(note, file=sys.stderr)
    return 0


def cmd_classify(args) -> int:
    from .api import classify, load
    labels = _gather(args, args.labels or [], args.labels_file, "label", "--labels-file")
    images = _images(args)
    model, _ = load(args.weights, args.dtype)
    rankings = classify(images, labels, template=args.template, model=model, low_memory=True)
    note = _weights_note(model)
    if args.json:
        doc = {"weights": model.source, "bundled_tiny": note is not None, "template": args.template,
               "results": [{"image": im, "ranking": r} for im, r in zip(images, rankings)]}
        if len(images) == 1:  # the one-image shorthand
            doc.update(image=images[0], ranking=rankings[0])
        print(json.dumps(doc, ensure_ascii=False, indent=2, allow_nan=False))
    else:
        print(f"weights: {model.source}\ntemplate: {args.template!r}")
        for im, ranked in zip(images, rankings):
            print(f"image:   {im}")
            for r in ranked:
                print(f"  {r['score']:8.4f}  {r['label']}")
    if note:
        print(note, file=sys.stderr)
    return 0


def cmd_golden(args) -> int:
    from .golden import make_golden
    from .loading.hub import bundled_tiny_note, resolve_weights
    weights = resolve_weights(args.weights)   # like every command: --weights, REFALIGN_WEIGHTS, ..., the HF cache
    path = make_golden(weights, args.image, args.text, args.out, dtype=args.dtype)
    print(f"wrote {path} (weights: {weights})")
    note = bundled_tiny_note(weights)
    if note:
        print(note, file=sys.stderr)
    return 0


def cmd_compare(args) -> int:
    from .golden import compare_main
    return compare_main(args.golden, args.candidate, atol=args.atol, rtol=args.rtol,
                        allow_dtype_mismatch=args.allow_dtype_mismatch, allow_missing=args.allow_missing,
                        plot=args.plot)


def cmd_info(args) -> int:
    from .validate import run_info
    return run_info(args.weights, as_json=args.json, sha256=args.sha256)


def cmd_convert(args) -> int:
    from .loading.torch_pickle import convert_to_safetensors
    print(f"wrote {convert_to_safetensors(args.directory, overwrite=args.overwrite)}")
    return 0


def cmd_fetch(args) -> int:
    from .loading.hub import fetch
    print(f"downloaded to {fetch(args.repo_id, dest=args.dest)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="refalign", description="Image-text dual encoders (ALIGN, ...) on NumPy: "
                                 "similarity, zero-shot classification, embeddings, golden values for porting. The "
                                 "model family comes from the checkpoint's config.json.")
    ap.add_argument("--version", action="version", version=f"refalign {__version__}")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("similarity", help="cosine, logit and probability of TEXTs for images (images x texts)",
                       description="Scores every image against every text: the cosine of the two embeddings, the "
                                   "logit (cosine / temperature, transformers' logits_per_image) and the probability "
                                   "(softmax of the logits over the texts).")
    p.add_argument("image", help="image file (JPEG, PNG, ...)")
    p.add_argument("texts", nargs="*", metavar="TEXT", help="captions (an existing image file here is an error: "
                                                            "use --image)")
    p.add_argument("--image", "-i", dest="images", action="append", metavar="IMAGE", default=[],
                   help="another image (repeatable)")
    p.add_argument("--texts-file", metavar="FILE", help="more texts, one per line ('-' reads standard input)")
    _add_weights(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_similarity)

    p = sub.add_parser("classify", help="zero-shot classification of images among labels")
    p.add_argument("image")
    p.add_argument("--image", "-i", dest="images", action="append", metavar="IMAGE", default=[],
                   help="another image (repeatable)")
    p.add_argument("--labels", "-l", nargs="+", help="candidate labels")
    p.add_argument("--labels-file", metavar="FILE", help="more labels, one per line ('-' reads standard input)")
    p.add_argument("--template", default="This is a photo of {}.", help="label template (default: %(default)r)")
    _add_weights(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_classify)

    from .embed_job import add_parser as add_embed_parser
    add_embed_parser(sub)

    p = sub.add_parser("golden", help="write every intermediate for images and texts to a golden safetensors file")
    p.add_argument("--image", nargs="+", required=True)
    p.add_argument("--text", nargs="+", required=True)
    p.add_argument("--out", "-o", required=True)
    _add_weights(p)
    p.set_defaults(func=cmd_golden)

    p = sub.add_parser("compare", help="compare a candidate dump with a golden file (exit 1 when out of tolerance)")
    p.add_argument("golden")
    p.add_argument("candidate", help=".safetensors or .npz with the golden's tensor names")
    p.add_argument("--atol", type=float, default=None,
                   help="absolute tolerance (default: the golden's suggestion; for a float32 dump against a float64 "
                        "golden with noise figures, a multiple of each tensor's measured float32 noise)")
    p.add_argument("--rtol", type=float, default=None, help="relative tolerance (default: the golden's suggestion)")
    p.add_argument("--allow-dtype-mismatch", action="store_true",
                   help="compare values even where the dtype policy flags a tensor (ids not int64, a float tensor "
                        "whose dtype differs from the rest of the dump); a float32 dump against a float64 golden "
                        "needs no flag: it gets the float32 tolerance")
    p.add_argument("--allow-missing", action="store_true",
                   help="a partial dump (e.g. only the text tower) passes if what it has is within tolerance")
    p.add_argument("--plot", metavar="FILE.png", default=None,
                   help="also draw each tensor's error in forward order, with the golden's float32 noise floor and "
                        "the budget (needs matplotlib)")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("info", help="validate a checkpoint and summarise it (exit 1 when a check fails)",
                       description="Checks config.json against the weights, that every weight is finite, that the "
                                   "tokenizer and preprocessor files load, and lists config keys nothing reads.")
    p.add_argument("weights", nargs="?", default=None,
                   help="checkpoint (default: $REFALIGN_WEIGHTS, weights/align-base in a source checkout, then the "
                        "Hugging Face cache)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--sha256", action="store_true", help="also print the weights file's sha256")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("convert", help="write model.safetensors next to a pytorch_model.bin (no torch needed)")
    p.add_argument("directory")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("fetch", help="download align-base from the Hugging Face hub (the only networked command)")
    p.add_argument("repo_id", nargs="?", default="kakaobrain/align-base")
    p.add_argument("--dest", default=None, help="target directory (default: the Hugging Face cache, where refalign "
                                                 "looks when no --weights is given)")
    p.set_defaults(func=cmd_fetch)
    return ap


def main(argv=None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        # `similarity IMG --image IMG2 "a cat"`: texts may follow options (argparse stops a nargs="*" positional at
        # the first option); anything else unrecognised is an error as usual
        if getattr(args, "texts", None) is not None and not any(e.startswith("-") for e in extra):
            args.texts = list(args.texts) + extra
        else:
            parser.error("unrecognized arguments: " + " ".join(extra))
    try:
        return args.func(args)
    except (RefalignError, FileNotFoundError, ValueError, TypeError, NotImplementedError, OSError) as e:
        if os.environ.get("REFALIGN_DEBUG"):
            raise
        # one line, whatever the exception's own layout (some messages list the places looked in)
        msg = " ".join(part.strip() for part in (str(e) or type(e).__name__).splitlines() if part.strip())
        print(f"refalign: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("refalign: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
