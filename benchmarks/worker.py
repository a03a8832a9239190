"""One side of a benchmark, in its own process: refalign's (which never imports torch or transformers, like a user's
process) or transformers'. Started by benchmarks/harness.py; not meant to be run by hand.

    python benchmarks/worker.py {refalign|transformers} tower      MODEL_DIR {image|text} BATCH SEQ_LEN
    python benchmarks/worker.py {refalign|transformers} tokenizer  TOKENIZER_DIR LINES_JSON {warm|cold}
    python benchmarks/worker.py {refalign|transformers} preprocess MODEL_DIR PHOTO CALLS
    python benchmarks/worker.py {refalign|transformers} fresh      MODEL_DIR PHOTO TEXT...
    python benchmarks/worker.py transformers probe

The first three load what they time, make one call to warm up, print READY, then answer on stdin:
    run         -> the seconds one call took (preprocess: the mean of CALLS calls)
    dump PATH   -> one call's arrays saved to PATH (.npz), then "ok" (checked against the other side, untimed)
    quit / EOF  -> exit; status 3 when refalign's process has imported torch or transformers.
A tokenizer call encodes every line of LINES_JSON padded to 64 with truncation; "cold" times a new tokenizer built
after emptying refalign's module-level tokenizer caches (its construction untimed), "warm" reuses one.

`fresh` is a whole user session in a new process (import, load the model and processor, score PHOTO against the
texts) and prints one JSON line: the probabilities, the peak RSS (VmHWM) and the resident set at the end, anonymous
and file-backed. `probe` prints transformers' versions, BLAS and threads for the benchmark's header.

Only the standard library is imported at the top, so `fresh` measures the libraries' own imports.
"""
from __future__ import annotations

import json
import os
import re
import sys
import time

THREADS = int(os.environ.get("BENCH_THREADS", "2"))
FORBIDDEN = ("torch", "transformers")  # never in refalign's process


def forbidden_imports() -> list[str]:
    return [m for m in FORBIDDEN if m in sys.modules]


def memory_kib() -> dict[str, int]:
    """VmHWM (the peak resident set of this process image; ru_maxrss would carry the parent's peak over fork) and
    the resident set now, anonymous (private: copies, activations) and file-backed (memory-mapped weights, shared
    with the page cache)."""
    keys = {"VmHWM": "peak_rss_kib", "RssAnon": "anon_kib", "RssFile": "file_kib"}
    with open("/proc/self/status") as f:
        return {keys[k]: int(v.split()[0]) for k, _, v in (line.partition(":") for line in f) if k in keys}


def _torch():
    import torch
    torch.set_num_threads(THREADS)
    torch.set_grad_enabled(False)
    return torch


# ------------------------------------------------------------------------------------------------ tasks
def tower(impl: str, model_dir: str, task: str, batch: str, seq_len: str):
    """get_image_features on random pixels at the config's size, or get_text_features on random ids with every token
    real (nothing for refalign to skip)."""
    import numpy as np
    batch, seq_len = int(batch), int(seq_len)
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    rng = np.random.default_rng(0)
    if task == "image":
        vision = config.get("vision_config") or {}
        if vision.get("model_type") == "clip":  # a whole CLIP config nested as the vision tower
            vision = vision["vision_config"]
        size = vision.get("image_size", 224)
        inputs = {"pixel_values": rng.standard_normal((batch, 3, size, size)).astype(np.float32)}
    else:
        vocab = (config.get("text_config") or {}).get("vocab_size", 30522)
        ids = rng.integers(5, vocab - 1, size=(batch, seq_len)).astype(np.int64)
        inputs = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    if impl == "refalign":
        import refalign
        model = refalign.AutoModel.from_pretrained(model_dir)
        if task == "image":
            return lambda: {"features": model.get_image_features(inputs["pixel_values"])}
        return lambda: {"features": model.get_text_features(inputs["input_ids"], inputs["attention_mask"])}
    torch = _torch()
    import transformers
    model = transformers.AutoModel.from_pretrained(model_dir).eval()
    tensors = {k: torch.from_numpy(v) for k, v in inputs.items()}
    features = model.get_image_features if task == "image" else model.get_text_features
    return lambda: {"features": _as_numpy(features(**tensors))}


def _as_numpy(out):
    """A features tensor (or a model output holding one) as NumPy."""
    tensor = out if hasattr(out, "numpy") else getattr(out, "pooler_output", None)
    if tensor is None:
        tensor = out[0]
    return tensor.numpy()


TRANSFORMERS_TOKENIZERS = {"BertTokenizer": "BertTokenizer", "RobertaTokenizer": "RobertaTokenizer",
                           "XLMRobertaTokenizer": "XLMRobertaTokenizer"}
ENCODE = dict(padding="max_length", max_length=64, truncation=True)


def empty_tokenizer_caches() -> None:
    """refalign's tokenizer state that outlives a tokenizer object: WordPiece's shared normalizers (their character
    maps fill as text is seen), the byte-level BPE pre-tokenizer and the grapheme-cluster tables (built on first use),
    the parsed tokenizer.json. A new tokenizer's own caches (word -> ids, cluster -> normalised text) start empty."""
    from refalign.tokenizers import bpe, charsmap, files, wordpiece
    wordpiece._Normalizer._instances.clear()
    bpe._splitter.cache_clear()
    charsmap._cluster_joiners.cache_clear()
    files.forget_parsed_json()


def tokenizer(impl: str, directory: str, lines_json: str, mode: str):
    with open(lines_json, encoding="utf-8") as f:
        lines = json.load(f)
    with open(os.path.join(directory, "tokenizer_config.json"), encoding="utf-8") as f:
        name = json.load(f)["tokenizer_class"]
    if impl == "refalign":
        import refalign

        if mode == "warm":
            tok = refalign.AutoTokenizer.from_pretrained(directory)
            return lambda: tok(lines, **ENCODE)

        def cold():
            empty_tokenizer_caches()
            fresh = refalign.AutoTokenizer.from_pretrained(directory)
            t = time.perf_counter()
            out = fresh(lines, **ENCODE)
            return out, time.perf_counter() - t  # the encoding alone
        return cold
    import transformers
    tok = getattr(transformers, TRANSFORMERS_TOKENIZERS[name]).from_pretrained(directory)
    return lambda: dict(tok(lines, return_tensors="np", **ENCODE))


def preprocess(impl: str, model_dir: str, photo: str, calls: str):
    """One photo (decoded from its file on every call) -> pixel_values; CALLS calls per run."""
    calls = int(calls)
    if impl == "refalign":
        import refalign
        proc = refalign.AutoImageProcessor.from_pretrained(model_dir)

        def one():
            return proc([photo])
    else:
        import transformers
        from transformers.image_utils import load_image
        proc = transformers.AutoImageProcessor.from_pretrained(model_dir, backend="pil")

        def one():
            return dict(proc(images=[load_image(photo)], return_tensors="np"))

    def run():
        t = time.perf_counter()
        for _ in range(calls):
            out = one()
        return out, (time.perf_counter() - t) / calls
    return run


TASKS = {"tower": tower, "tokenizer": tokenizer, "preprocess": preprocess}


def serve(impl: str, task: str, args: list[str]) -> int:
    call = TASKS[task](impl, *args)

    def timed():
        t = time.perf_counter()
        out = call()
        if isinstance(out, tuple):  # the call timed itself
            return out
        return out, time.perf_counter() - t

    timed()  # warm-up: JIT compilation or cache load, first-touch of the weights
    if impl == "refalign" and forbidden_imports():
        print(f"refalign's benchmark process imported {forbidden_imports()}", file=sys.stderr)
        return 3
    print("READY", flush=True)
    for line in sys.stdin:
        command, _, arg = line.strip().partition(" ")
        if command == "run":
            print(timed()[1], flush=True)
        elif command == "dump":
            import numpy as np
            np.savez(arg, **{k: np.asarray(v) for k, v in timed()[0].items()})
            print("ok", flush=True)
        else:
            break
    if impl == "refalign" and forbidden_imports():
        print(f"refalign's benchmark process imported {forbidden_imports()}", file=sys.stderr)
        return 3
    return 0


# ------------------------------------------------------------------------------------------------ one-shot
def fresh(impl: str, model_dir: str, photo: str, *texts: str) -> int:
    """What a user's script does, once: import, load, score one photo against the texts."""
    if impl == "refalign":
        import refalign
        # one shot, as `refalign similarity` runs it: each tower's weight pages leave the resident set after use
        probs = refalign.similarity(photo, list(texts), model=model_dir, low_memory=True)
        if forbidden_imports():
            print(f"refalign's process imported {forbidden_imports()}", file=sys.stderr)
            return 3
    else:
        _torch()
        import transformers
        from transformers.image_utils import load_image
        model = transformers.AutoModel.from_pretrained(model_dir).eval()
        proc = transformers.AutoProcessor.from_pretrained(model_dir)
        # ALIGN's processor pads to 64 by itself; the others get the longest caption's length, as refalign does
        padding = {} if model.config.model_type == "align" else {"padding": True}
        inputs = proc(text=list(texts), images=[load_image(photo)], return_tensors="pt", **padding)
        probs = model(**inputs).logits_per_image.softmax(-1)[0].numpy()
    print(json.dumps({"probabilities": [float(p) for p in probs], **memory_kib()}), flush=True)
    return 0


def probe() -> int:
    """transformers' side of the header: versions, torch's BLAS / oneDNN / CPU capability and threads."""
    torch = _torch()
    import tokenizers
    import transformers
    config = torch.__config__.show()
    mkl = re.search(r"Math Kernel Library Version ([\d.]+)", config)
    blas = f"MKL {mkl.group(1)}" if mkl else next(iter(re.findall(r"BLAS_INFO=(\w+)", config)), "unknown BLAS")
    onednn = re.search(r"MKL-DNN (v[\d.]+)", config)
    capability = re.search(r"CPU capability usage: (\w+)", config)
    print(json.dumps({"torch": torch.__version__, "transformers": transformers.__version__,
                      "tokenizers": tokenizers.__version__, "blas": blas,
                      "onednn": f"oneDNN {onednn.group(1)}" if onednn else "no oneDNN",
                      "capability": capability.group(1) if capability else "?", "threads": torch.get_num_threads()}))
    return 0


def main(argv: list[str]) -> int:
    impl, task, args = argv[0], argv[1], argv[2:]
    if impl not in ("refalign", "transformers"):
        raise SystemExit(f"unknown side {impl!r}")
    if task == "fresh":
        return fresh(impl, *args)
    if task == "probe":
        return probe()
    return serve(impl, task, args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
