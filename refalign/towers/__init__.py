"""One module per checkpoint sub-tree (a tower): its config fields, its tensor names and shapes, and its forward pass
as plain NumPy functions under the checkpoint's own key names, readable top to bottom (bert.py: the BERT text
encoder; efficientnet.py: the EfficientNet image encoder). Towers alone use refalign.fast's kernels and threads."""
