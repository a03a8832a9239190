"""The `refalign` command line: similarity, classify, golden, compare, info, convert, fetch.

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

RANDOM_WEIGHTS_NOTE = ("note: these are the bundled tiny checkpoint's RANDOM weights (a smoke run, not a trained "
                       "model): the scores mean nothing. Get align-base with `refalign fetch` (see weights/README.md).")


def _add_weights(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", "-w", default=None,
                   help="checkpoint directory or file, 'tiny' (bundled, random weights) or 'kakaobrain/align-base' "
                        "(offline, from the Hugging Face cache); default: $REFALIGN_WEIGHTS, weights/align-base, "
                        "then the Hugging Face cache")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"], help="compute dtype")


def _weights_note(model) -> str | None:
    from .hub import is_bundled_tiny
    return RANDOM_WEIGHTS_NOTE if is_bundled_tiny(model.source) else None


def cmd_similarity(args) -> int:
    from .api import load, similarity
    model, _ = load(args.weights, args.dtype)
    probs = similarity(args.image, args.texts, model=model)
    note = _weights_note(model)
    if args.json:
        print(json.dumps({"image": args.image, "weights": model.source, "random_weights": note is not None,
                          "scores": [{"text": t, "probability": float(p)} for t, p in zip(args.texts, probs)]},
                         ensure_ascii=False, indent=2))
    else:
        width = max(len(t) for t in args.texts)
        print(f"image:   {args.image}\nweights: {model.source}")
        for t, p in zip(args.texts, probs):
            print(f"  {p:8.4f}  {t:<{width}}  {'#' * int(round(p * 40))}")
    if note:
        print(note, file=sys.stderr)
    return 0


def cmd_classify(args) -> int:
    from .api import classify, load
    model, _ = load(args.weights, args.dtype)
    ranked = classify(args.image, args.labels, template=args.template, model=model)
    note = _weights_note(model)
    if args.json:
        print(json.dumps({"image": args.image, "weights": model.source, "random_weights": note is not None,
                          "template": args.template, "ranking": ranked}, ensure_ascii=False, indent=2))
    else:
        print(f"image:   {args.image}\nweights: {model.source}\ntemplate: {args.template!r}")
        for r in ranked:
            print(f"  {r['score']:8.4f}  {r['label']}")
    if note:
        print(note, file=sys.stderr)
    return 0


def cmd_golden(args) -> int:
    from .golden import make_golden
    path = make_golden(args.weights or "tiny", args.image, args.text, args.out, dtype=args.dtype)
    print(f"wrote {path}")
    return 0


def cmd_compare(args) -> int:
    from .golden import compare_main
    return compare_main(args.golden, args.candidate, atol=args.atol, rtol=args.rtol,
                        allow_dtype_mismatch=args.allow_dtype_mismatch, allow_missing=args.allow_missing)


def cmd_info(args) -> int:
    from .checkpoint import checkpoint_summary
    from .hub import resolve_weights
    path = resolve_weights(args.weights)
    summary = checkpoint_summary(path)
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        for key, value in summary.items():
            if isinstance(value, dict):
                print(f"{key}:")
                for k, v in value.items():
                    print(f"  {k}: {v}")
            else:
                print(f"{key}: {value}")
    return 0


def cmd_convert(args) -> int:
    from .torch_pickle import convert_to_safetensors
    print(f"wrote {convert_to_safetensors(args.directory, overwrite=args.overwrite)}")
    return 0


def cmd_fetch(args) -> int:
    from .hub import fetch
    print(f"downloaded to {fetch(args.repo_id, dest=args.dest)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="refalign", description="ALIGN (kakaobrain/align-base) on NumPy: similarity, "
                                 "zero-shot classification, golden values for porting.")
    ap.add_argument("--version", action="version", version=f"refalign {__version__}")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("similarity", help="probabilities of TEXTs for an image (softmax over the texts)")
    p.add_argument("image", help="image file (JPEG, PNG, ...)")
    p.add_argument("texts", nargs="+", metavar="TEXT")
    _add_weights(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_similarity)

    p = sub.add_parser("classify", help="zero-shot classification of an image among labels")
    p.add_argument("image")
    p.add_argument("--labels", "-l", nargs="+", required=True)
    p.add_argument("--template", default="This is a photo of {}.", help="label template (default: %(default)r)")
    _add_weights(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser("golden", help="write every intermediate for images and texts to a golden safetensors file")
    p.add_argument("--image", nargs="+", required=True)
    p.add_argument("--text", nargs="+", required=True)
    p.add_argument("--out", "-o", required=True)
    _add_weights(p)
    p.set_defaults(func=cmd_golden)

    p = sub.add_parser("compare", help="compare a candidate dump with a golden file (exit 1 when out of tolerance)")
    p.add_argument("golden")
    p.add_argument("candidate", help=".safetensors or .npz with the golden's tensor names")
    p.add_argument("--atol", type=float, default=None, help="absolute tolerance (default: the golden's suggestion)")
    p.add_argument("--rtol", type=float, default=None, help="relative tolerance (default: the golden's suggestion)")
    p.add_argument("--allow-dtype-mismatch", action="store_true",
                   help="compare float tensors of another dtype (e.g. a float32 dump against a float64 golden)")
    p.add_argument("--allow-missing", action="store_true",
                   help="a partial dump (e.g. only the text tower) passes if what it has is within tolerance")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("info", help="validate a checkpoint and summarise it")
    p.add_argument("weights", nargs="?", default=None)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("convert", help="write model.safetensors next to a pytorch_model.bin (no torch needed)")
    p.add_argument("directory")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("fetch", help="download align-base from the Hugging Face hub (the only networked command)")
    p.add_argument("repo_id", nargs="?", default="kakaobrain/align-base")
    p.add_argument("--dest", default=None, help="target directory (default: weights/align-base of the repository)")
    p.set_defaults(func=cmd_fetch)
    return ap


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
