"""VisionTextDualEncoder (config.json model_type "vision-text-dual-encoder"): any supported vision tower and any
supported text tower, each pooled, projected without bias into one space, compared CLIP-style.

    image:  ViT / DeiT (towers/vit.py) or CLIP-vision (towers/clip_vision.py) -> pooler_output -> visual_projection
    text:   BERT or RoBERTa / XLM-R (towers/bert.py)  -> pooler_output (dense + tanh) -> text_projection
    logits_per_text = normalize(text_embeds) @ normalize(image_embeds).T * exp(logit_scale)
    loss:   symmetric cross entropy (no label smoothing)

The towers come from the nested configs' own model_type: vision "vit", "deit", "clip_vision_model" (and "clip", whose
nested vision_config is taken, as transformers 4 did); text "bert", "roberta", "xlm-roberta". Tensors live under
"vision_model." and "text_model." (a doubled CLIP prefix from transformers 4 is accepted by loading.key_variants),
plus "visual_projection.weight", "text_projection.weight" and "logit_scale".
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import UnsupportedModelError
from ..loading.config import ModelConfig
from ..ops import linear
from ..outputs import ModelOutput
from ..processing import Processor
from ..towers.bert import BertConfig, RobertaConfig, bert_forward, bert_shapes, pooler_shapes
from ..towers.clip_vision import CLIPVisionConfig, clip_vision_forward, clip_vision_shapes
from ..towers.vit import ViTConfig, vit_forward, vit_pooler_shapes, vit_shapes
from .base import DualEncoderModel, GoldenPlan, Shapes
from .contrastive import contrastive_loss, l2_normalize


@dataclass(frozen=True)
class DeiTConfig(ViTConfig):
    """DeiT: ViT with a distillation token after the class token (its pooler reads token 0)."""
    distillation = True   # a class attribute, not a config key


VISION_TOWERS: dict[str, type] = {"vit": ViTConfig, "deit": DeiTConfig, "clip_vision_model": CLIPVisionConfig}
TEXT_TOWERS: dict[str, type] = {"bert": BertConfig, "roberta": RobertaConfig, "xlm-roberta": RobertaConfig}


def _tower(section: dict | None, towers: dict[str, type], default: str, key: str, source: str) -> type:
    model_type = (section or {}).get("model_type", default)
    if model_type not in towers:
        raise UnsupportedModelError(f"{source}: {key}.model_type {model_type!r} is not supported in a "
                                    f"vision-text-dual-encoder (supported: {', '.join(sorted(towers))})")
    return towers[model_type]


@dataclass(frozen=True)
class VisionTextDualEncoderConfig(ModelConfig):
    model_type = "vision-text-dual-encoder"
    sub_configs = {"vision_config": ViTConfig, "text_config": BertConfig}   # the defaults; see section_classes
    nested_model_types = {"vision_config": frozenset(VISION_TOWERS) | {"clip"},
                          "text_config": frozenset(TEXT_TOWERS)}
    transformers_only = {  # tower config fields inference does not need (any of the supported towers)
        "": frozenset({"initializer_range"}),
        "vision_config": frozenset({"hidden_dropout_prob", "attention_probs_dropout_prob", "initializer_range",
                                    "encoder_stride", "dropout", "attention_dropout", "initializer_factor",
                                    "projection_dim"}),
        "text_config": frozenset({"hidden_dropout_prob", "attention_probs_dropout_prob", "initializer_range",
                                  "position_embedding_type", "classifier_dropout"}),
    }

    vision_config: Any = field(default_factory=ViTConfig)
    text_config: Any = field(default_factory=BertConfig)
    projection_dim: int = 512
    logit_scale_init_value: float = 2.6592   # an int in some configs (clip-italian: 1); the weights carry the value

    @classmethod
    def prepare(cls, d: dict, source: str) -> dict:
        vision = d.get("vision_config")
        if isinstance(vision, dict) and vision.get("model_type") == "clip":   # a whole CLIP config: its vision part
            inner = dict(vision.get("vision_config") or {})
            inner["model_type"] = "clip_vision_model"
            d = {**d, "vision_config": inner}
        return d

    @classmethod
    def section_classes(cls, d: dict) -> dict[str, type]:
        return {"vision_config": _tower(d.get("vision_config"), VISION_TOWERS, "vit", "vision_config", "config.json"),
                "text_config": _tower(d.get("text_config"), TEXT_TOWERS, "bert", "text_config", "config.json")}

    def describe(self) -> dict:
        v, t = self.vision_config, self.text_config
        return {"projection_dim": self.projection_dim,
                "vision": f"{type(v).__name__.removesuffix('Config')} {v.num_hidden_layers} layers, hidden "
                          f"{v.hidden_size}, patch {v.patch_size}, image {v.image_size}x{v.image_size}",
                "text": f"{type(t).__name__.removesuffix('Config')} {t.num_hidden_layers} layers, hidden "
                        f"{t.hidden_size}, vocab {t.vocab_size}"}


class VisionTextDualEncoderProcessor(Processor):
    """The checkpoint's own tokenizer and image processor (chosen from its files by refalign.AutoProcessor)."""


@dataclass(repr=False)
class VisionTextDualEncoderOutput(ModelOutput):
    """Mirrors transformers' CLIPOutput, which VisionTextDualEncoderModel returns (NumPy arrays)."""
    loss: NDArray | None = None
    logits_per_image: NDArray | None = None   # [n_images, n_texts]
    logits_per_text: NDArray | None = None    # [n_texts, n_images]
    text_embeds: NDArray | None = None        # [n_texts, projection_dim], L2-normalised
    image_embeds: NDArray | None = None       # [n_images, projection_dim], L2-normalised
    text_model_output: Any = None
    vision_model_output: Any = None


GOLDEN = GoldenPlan(   # the embeds (normalised projections of the pooled outputs) check the projections
    inputs=("inputs.input_ids", "inputs.attention_mask", "inputs.pixel_values"),
    text_tail=("text.last_hidden_state", "text.pooler_output"),
    vision_tail=("vision.last_hidden_state", "vision.pooler_output"),
)


def tensors_from_outputs(out, text_features, inputs: dict, dtype) -> dict[str, np.ndarray]:
    """Golden tensors from a forward pass shaped like transformers' CLIPOutput (refalign's arrays or torch tensors)
    and the model inputs (text_features is not part of this family's plan)."""
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


class VisionTextDualEncoderModel(DualEncoderModel):
    """A vision tower and a text tower with bias-free projections, used like transformers'
    VisionTextDualEncoderModel (see the module docstring for the composition)."""

    config_class = VisionTextDualEncoderConfig
    processor_class = VisionTextDualEncoderProcessor
    golden = GOLDEN
    golden_tensors = staticmethod(tensors_from_outputs)

    def __init__(self, config: VisionTextDualEncoderConfig, params: dict[str, NDArray], dtype=np.float32,
                 source: str | None = None):
        super().__init__(config, params, dtype, source)
        self.logit_scale = params["logit_scale"]

    @classmethod
    def weight_shapes(cls, config: VisionTextDualEncoderConfig) -> tuple[Shapes, Shapes]:
        """Required: both towers with their poolers, the two projections (no bias), logit_scale."""
        v, t, p = config.vision_config, config.text_config, config.projection_dim
        required: Shapes = {"logit_scale": (), "visual_projection.weight": (p, v.hidden_size),
                            "text_projection.weight": (p, t.hidden_size)}
        if isinstance(v, CLIPVisionConfig):
            required.update(clip_vision_shapes(v, "vision_model."))
        else:
            required.update(vit_shapes(v, "vision_model.", getattr(v, "distillation", False)))
            required.update(vit_pooler_shapes(v, "vision_model."))
        required.update(bert_shapes(t, "text_model."))
        required.update(pooler_shapes(t, "text_model."))
        return required, {}

    def __repr__(self) -> str:
        v, t = self.config.vision_config, self.config.text_config
        return (f"VisionTextDualEncoderModel(source={self.source!r}, dtype={self.dtype}, "
                f"vision={type(v).__name__.removesuffix('Config')} {v.num_hidden_layers}x{v.hidden_size}, "
                f"text={type(t).__name__.removesuffix('Config')} {t.num_hidden_layers}x{t.hidden_size}, "
                f"projection_dim={self.config.projection_dim})")

    # ----------------------------------------------------------------- towers
    def text_model(self, input_ids, attention_mask=None, token_type_ids=None, output_hidden_states=False,
                   output_attentions=False):
        ids, mask, types = self._text_inputs(input_ids, attention_mask, token_type_ids)
        with self._lock:
            return bert_forward(self.params, self.config.text_config, ids, attention_mask=mask, token_type_ids=types,
                                prefix="text_model.", output_hidden_states=output_hidden_states,
                                output_attentions=output_attentions)

    def vision_model(self, pixel_values, output_hidden_states=False, output_attentions=False):
        forward = clip_vision_forward if isinstance(self.config.vision_config, CLIPVisionConfig) else vit_forward
        with self._lock:
            return forward(self.params, self.config.vision_config, self._pixels(pixel_values), prefix="vision_model.",
                           output_hidden_states=output_hidden_states, output_attentions=output_attentions)

    def get_text_features(self, input_ids, attention_mask=None, token_type_ids=None) -> NDArray:
        """text_projection(pooler_output): unnormalised text embeddings [B, projection_dim]."""
        pooled = self.text_model(input_ids, attention_mask, token_type_ids).pooler_output
        return linear(pooled, self.params["text_projection.weight"])        # [B, H_text] -> [B, P]

    def get_image_features(self, pixel_values) -> NDArray:
        """visual_projection(pooler_output): unnormalised image embeddings [B, projection_dim]."""
        return linear(self.vision_model(pixel_values).pooler_output, self.params["visual_projection.weight"])

    def logits(self, text_embeds: NDArray, image_embeds: NDArray) -> NDArray:
        """logits_per_text [n_texts, n_images] from L2-normalised embeddings: the cosine times exp(logit_scale)."""
        return (text_embeds @ image_embeds.T) * np.exp(self.logit_scale)

    # ----------------------------------------------------------------- forward
    def __call__(self, input_ids=None, pixel_values=None, attention_mask=None, token_type_ids=None,
                 return_loss: bool = False, output_hidden_states: bool = False, output_attentions: bool = False,
                 return_dict: bool = True):
        """transformers' VisionTextDualEncoderModel forward: both towers, projections, L2 normalisation, logits and
        (return_loss) the symmetric contrastive loss. return_dict=False gives `out.to_tuple()`."""
        if input_ids is None or pixel_values is None:
            raise ValueError("the model needs both input_ids and pixel_values; use get_text_features / "
                             "get_image_features for one tower")
        vision_out = self.vision_model(pixel_values, output_hidden_states, output_attentions)
        text_out = self.text_model(input_ids, attention_mask, token_type_ids, output_hidden_states, output_attentions)
        image_embeds = l2_normalize(linear(vision_out.pooler_output, self.params["visual_projection.weight"]))
        text_embeds = l2_normalize(linear(text_out.pooler_output, self.params["text_projection.weight"]))
        logits_per_text = self.logits(text_embeds, image_embeds)             # [n_texts, n_images]
        loss = contrastive_loss(logits_per_text) if return_loss else None
        out = VisionTextDualEncoderOutput(loss=loss, logits_per_image=logits_per_text.T,
                                          logits_per_text=logits_per_text, text_embeds=text_embeds,
                                          image_embeds=image_embeds, text_model_output=text_out,
                                          vision_model_output=vision_out)
        return out if return_dict else out.to_tuple()

    forward = __call__
