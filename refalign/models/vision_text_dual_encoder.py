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


from ..errors import UnsupportedModelError
from ..loading.config import ModelConfig
from ..processing import Processor
from ..towers.bert import BertConfig, RobertaConfig, bert_forward, bert_shapes, pooler_shapes
from ..towers.clip_vision import CLIPVisionConfig, clip_vision_forward, clip_vision_shapes
from ..towers.vit import ViTConfig, vit_forward, vit_pooler_shapes, vit_shapes
from .base import Shapes, runs_as_forward
from .projected import ProjectedDualEncoderModel, ProjectedOutput


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
    def section_classes(cls, d: dict, source: str = "config.json") -> dict[str, type]:
        return {"vision_config": _tower(d.get("vision_config"), VISION_TOWERS, "vit", "vision_config", source),
                "text_config": _tower(d.get("text_config"), TEXT_TOWERS, "bert", "text_config", source)}

    def describe(self) -> dict:
        v, t = self.vision_config, self.text_config
        return {"projection_dim": self.projection_dim,
                "vision": f"{type(v).__name__.removesuffix('Config')} {v.num_hidden_layers} layers, hidden "
                          f"{v.hidden_size}, patch {v.patch_size}, image {v.image_size}x{v.image_size}",
                "text": f"{type(t).__name__.removesuffix('Config')} {t.num_hidden_layers} layers, hidden "
                        f"{t.hidden_size}, vocab {t.vocab_size}"}


class VisionTextDualEncoderProcessor(Processor):
    """The checkpoint's own tokenizer and image processor (chosen from its files by refalign.AutoProcessor)."""


class VisionTextDualEncoderOutput(ProjectedOutput):
    """Mirrors transformers' CLIPOutput, which VisionTextDualEncoderModel returns (NumPy arrays)."""


class VisionTextDualEncoderModel(ProjectedDualEncoderModel):
    """A vision tower and a text tower with bias-free projections, used like transformers'
    VisionTextDualEncoderModel (see the module docstring for the composition; the head is models/projected.py)."""

    config_class = VisionTextDualEncoderConfig
    processor_class = VisionTextDualEncoderProcessor
    output_class = VisionTextDualEncoderOutput

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
    @runs_as_forward
    def text_model(self, input_ids, attention_mask=None, token_type_ids=None, output_hidden_states=False,
                   output_attentions=False):
        ids, mask, types = self._text_inputs(input_ids, attention_mask, token_type_ids)
        return bert_forward(self.params, self.config.text_config, ids, attention_mask=mask, token_type_ids=types,
                            prefix="text_model.", output_hidden_states=output_hidden_states,
                            output_attentions=output_attentions)

    @runs_as_forward
    def vision_model(self, pixel_values, output_hidden_states=False, output_attentions=False):
        forward = clip_vision_forward if isinstance(self.config.vision_config, CLIPVisionConfig) else vit_forward
        return forward(self.params, self.config.vision_config, self._pixels(pixel_values), prefix="vision_model.",
                       output_hidden_states=output_hidden_states, output_attentions=output_attentions)
