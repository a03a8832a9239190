"""One side of a tower benchmark, in its own process: refalign's (which never imports torch, like a user's) or
transformers'. Started by benchmarks/towers.py; not meant to be run by hand.

    python benchmarks/tower_worker.py {refalign|torch} MODEL_DIR {image|text} BATCH [SEQ_LEN]

It loads the model, builds one input (random pixels at the config's image size, or random token ids with a full
attention mask: every token real, nothing to skip), runs it once to warm up, prints READY, then answers each "run"
line on stdin with the seconds one call took and "quit" by exiting.
"""
from __future__ import annotations

import json
import os
import sys
import time

import numpy as np


def _sub_config(config: dict, key: str) -> dict:
    return config.get(key) or {}


def make_inputs(model_dir: str, task: str, batch: int, seq_len: int) -> dict[str, np.ndarray]:
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    rng = np.random.default_rng(0)
    if task == "image":
        vision = _sub_config(config, "vision_config")
        if vision.get("model_type") == "clip":           # a whole CLIP config nested as the vision tower
            vision = vision["vision_config"]
        size = vision.get("image_size", 224)
        return {"pixel_values": rng.standard_normal((batch, 3, size, size)).astype(np.float32)}
    text = _sub_config(config, "text_config")
    ids = rng.integers(5, text.get("vocab_size", 30522) - 1, size=(batch, seq_len)).astype(np.int64)
    return {"input_ids": ids, "attention_mask": np.ones_like(ids)}


def main() -> int:
    impl, model_dir, task, batch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    seq_len = int(sys.argv[5]) if len(sys.argv) > 5 else 64
    inputs = make_inputs(model_dir, task, batch, seq_len)
    if impl == "refalign":
        import refalign
        model = refalign.AutoModel.from_pretrained(model_dir)
        call = (lambda: model.get_image_features(inputs["pixel_values"])) if task == "image" else \
            (lambda: model.get_text_features(inputs["input_ids"], inputs["attention_mask"]))
    else:
        import torch
        import transformers
        torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
        torch.set_grad_enabled(False)
        model = transformers.AutoModel.from_pretrained(model_dir).eval()
        tensors = {k: torch.from_numpy(v) for k, v in inputs.items()}
        call = (lambda: model.get_image_features(**tensors)) if task == "image" else \
            (lambda: model.get_text_features(**tensors))
    call()
    if impl == "refalign" and "torch" in sys.modules:
        raise SystemExit("refalign's benchmark process imported torch")
    print("READY", flush=True)
    for line in sys.stdin:
        if line.strip() != "run":
            break
        t = time.perf_counter()
        call()
        print(time.perf_counter() - t, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
