"""The CLIP-style head that VisionTextDualEncoder and AltCLIP share: each tower's pooled output goes through a
projection without bias, both are L2-normalised, and the logits are their cosines times exp(logit_scale).

    image_embeds    = normalize(visual_projection(vision pooler_output))      [n_images, P]
    text_embeds     = normalize(text_projection(text pooler_output))          [n_texts, P]
    logits_per_text = text_embeds @ image_embeds.T * exp(logit_scale)         [n_texts, n_images]
    loss            = symmetric cross entropy over logits_per_text (return_loss=True; square batches)

A family subclasses ProjectedDualEncoderModel and brings its towers (`text_model`, `vision_model`, each returning an
output with `pooler_output`), its tensors (`weight_shapes`) and its output class.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..ops import linear
from ..outputs import ModelOutput
from .base import DualEncoderModel, GoldenPlan, runs_as_forward
from .contrastive import contrastive_loss, l2_normalize


@dataclass(repr=False)
class ProjectedOutput(ModelOutput):
    """The fields of transformers' CLIPOutput / AltCLIPOutput, in their order (NumPy arrays)."""
    loss: NDArray | None = None
    logits_per_image: NDArray | None = None   # [n_images, n_texts]
    logits_per_text: NDArray | None = None    # [n_texts, n_images]
    text_embeds: NDArray | None = None        # [n_texts, projection_dim], L2-normalised
    image_embeds: NDArray | None = None       # [n_images, projection_dim], L2-normalised
    text_model_output: Any = None
    vision_model_output: Any = None


# Golden names: every hidden state of both towers, then each tower's last_hidden_state and pooler_output (the embeds,
# normalised projections of the pooled outputs, check the projections).
GOLDEN = GoldenPlan(
    inputs=("inputs.input_ids", "inputs.attention_mask", "inputs.pixel_values"),
    text_tail=("text.last_hidden_state", "text.pooler_output"),
    vision_tail=("vision.last_hidden_state", "vision.pooler_output"),
)


def tensors_from_outputs(out, text_features, inputs: dict, dtype) -> dict[str, np.ndarray]:
    """Golden tensors from a forward pass shaped like ProjectedOutput (refalign's arrays or transformers' torch
    tensors) and the model inputs; text_features is not part of this plan."""
    def arr(x, name):
        x = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
        return x if name in GOLDEN.integer_names else x.astype(dtype, copy=False)

    t, v = out.text_model_output, out.vision_model_output
    if t.hidden_states is None or v.hidden_states is None:
        raise ValueError("the model output has no hidden_states (call it with output_hidden_states=True)")
    tensors = {name: arr(inputs[name.split(".", 1)[1]], name) for name in GOLDEN.inputs}
    for tower, o in (("text", t), ("vision", v)):
        tensors.update({f"{tower}.hidden_states.{i:02d}": arr(h, tower) for i, h in enumerate(o.hidden_states)})
        tensors[f"{tower}.last_hidden_state"] = arr(o.last_hidden_state, tower)
        tensors[f"{tower}.pooler_output"] = arr(o.pooler_output, tower)
    for name in GOLDEN.heads:
        tensors[name] = arr(getattr(out, name), name)
    if getattr(out, "loss", None) is not None:
        tensors["loss"] = arr(out.loss, "loss").reshape(())
    return tensors


class ProjectedDualEncoderModel(DualEncoderModel):
    """Two towers, two bias-free projections, exp(logit_scale): the head above, for a family's towers."""

    output_class: type[ProjectedOutput] = ProjectedOutput
    golden = GOLDEN
    golden_tensors = staticmethod(tensors_from_outputs)

    def __init__(self, config, params: dict[str, NDArray], dtype=np.float32, source: str | None = None):
        super().__init__(config, params, dtype, source)
        self.logit_scale = params["logit_scale"]

    def text_model(self, input_ids, attention_mask=None, token_type_ids=None, output_hidden_states=False,
                   output_attentions=False):
        raise NotImplementedError

    def vision_model(self, pixel_values, output_hidden_states=False, output_attentions=False):
        raise NotImplementedError

    @runs_as_forward
    def get_text_features(self, input_ids, attention_mask=None, token_type_ids=None) -> NDArray:
        """text_projection(pooler_output): unnormalised text embeddings [B, projection_dim]."""
        pooled = self.text_model(input_ids, attention_mask, token_type_ids).pooler_output
        return linear(pooled, self.params["text_projection.weight"])        # [B, H_text] -> [B, P]

    @runs_as_forward
    def get_image_features(self, pixel_values) -> NDArray:
        """visual_projection(pooler_output): unnormalised image embeddings [B, projection_dim]."""
        return linear(self.vision_model(pixel_values).pooler_output, self.params["visual_projection.weight"])

    def logits(self, text_embeds: NDArray, image_embeds: NDArray) -> NDArray:
        """logits_per_text [n_texts, n_images] from L2-normalised embeddings: the cosine times exp(logit_scale)
        (applied after the product, not clamped)."""
        return (text_embeds @ image_embeds.T) * np.exp(self.logit_scale)

    @runs_as_forward
    def __call__(self, input_ids=None, pixel_values=None, attention_mask=None, token_type_ids=None,
                 return_loss: bool = False, output_hidden_states: bool = False, output_attentions: bool = False,
                 return_dict: bool = True):
        """The family's forward as transformers': both towers, projections, L2 normalisation, logits and
        (return_loss) the symmetric contrastive loss. return_dict=False gives `out.to_tuple()`."""
        if input_ids is None or pixel_values is None:
            raise ValueError("the model needs both input_ids and pixel_values; use get_text_features / "
                             "get_image_features for one tower")
        vision_out = self.vision_model(pixel_values, output_hidden_states, output_attentions)
        text_out = self.text_model(input_ids, attention_mask, token_type_ids, output_hidden_states, output_attentions)
        image_embeds = l2_normalize(linear(vision_out.pooler_output, self.params["visual_projection.weight"]))
        text_embeds = l2_normalize(linear(text_out.pooler_output, self.params["text_projection.weight"]))
        logits_per_text = self.logits(text_embeds, image_embeds)
        loss = contrastive_loss(logits_per_text) if return_loss else None
        out = self.output_class(loss=loss, logits_per_image=logits_per_text.T, logits_per_text=logits_per_text,
                                text_embeds=text_embeds, image_embeds=image_embeds, text_model_output=text_out,
                                vision_model_output=vision_out)
        return out if return_dict else out.to_tuple()

    forward = __call__
