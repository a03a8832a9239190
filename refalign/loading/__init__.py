"""Reading checkpoints from disk, strictly and without torch: config.json into dataclasses (config.py), safetensors
and sharded indexes memory-mapped (checkpoint.py), pytorch_model.bin through an allowlisted unpickler
(torch_pickle.py), the on-disk key-name variants real checkpoints carry (key_variants.py), and where a checkpoint is
found (hub.py: a path, "tiny", the Hugging Face cache; `fetch` is the one networked function). Nothing here knows a
model family: families pass their config class and tensor shapes in.
"""
