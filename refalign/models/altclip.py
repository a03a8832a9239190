"""AltCLIP (config.json model_type "altclip", BAAI/AltCLIP): CLIP's vision tower with CLIP's text encoder swapped for
XLM-RoBERTa, so that one image space answers captions in many languages.

    image:  CLIP vision tower (towers/clip_vision.py)  -> pooler_output (post_layernorm of the class token)
            -> visual_projection (no bias)
    text:   XLM-R encoder (towers/bert.py, RoBERTa position ids, no tanh pooler)        hidden_states: the encoder's
            -> pre_LN (LayerNorm) and transformation (Linear with bias, hidden -> project_dim) on every token
               = last_hidden_state [B, L, project_dim]
            -> pooler_output = last_hidden_state[:, 0] (the <s> token) -> text_projection (no bias)
    logits_per_text = normalize(text_embeds) @ normalize(image_embeds).T * exp(logit_scale)
    loss:   symmetric cross entropy (no label smoothing)

Tensors: "text_model.roberta.{embeddings,encoder.layer.N}.*", "text_model.pre_LN.*", "text_model.transformation.*",
"vision_model.{embeddings,pre_layrnorm,encoder.layers.N,post_layernorm}.*", "text_projection.weight",
"visual_projection.weight", "logit_scale". Hub checkpoints (transformers 4) name the text layers "encoder.layer.N" and
the vision layers "encoder.layers.N"; transformers 5's save_pretrained writes "encoder.layer.N" for both; either
spelling loads (refalign.loading.key_variants).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from numpy.typing import NDArray

from ..loading.config import ModelConfig, check_transformer_section
from ..ops import layer_norm, linear
from ..outputs import ModelOutput
from ..processing import Processor
from ..towers.bert import ACTIVATIONS, RobertaConfig, bert_forward, bert_shapes, pooler_shapes
from ..towers.clip_vision import CLIPVisionConfig, clip_vision_forward, clip_vision_shapes
from .base import Shapes, runs_as_forward
from .projected import ProjectedDualEncoderModel, ProjectedOutput

TEXT = "text_model."
ENCODER = TEXT + "roberta."     # the XLM-R encoder inside AltCLIP's text model


@dataclass(frozen=True)
class AltCLIPTextConfig(RobertaConfig):
    """config.json's text_config: XLM-R (RoBERTa's position ids) plus the width of `transformation`. Defaults:
    transformers' AltCLIPTextConfig code (XLM-R-large)."""
    vocab_size: int = 250002
    hidden_size: int = 1024
    num_hidden_layers: int = 24
    num_attention_heads: int = 16
    intermediate_size: int = 4096
    max_position_embeddings: int = 514
    type_vocab_size: int = 1
    layer_norm_eps: float = 1e-5
    pad_token_id: int | None = 1
    project_dim: int = 768

    def validate(self, source: str, prefix: str) -> None:
        check_transformer_section(self, source, prefix, ("vocab_size", "hidden_size", "num_hidden_layers",
                                  "num_attention_heads", "intermediate_size", "max_position_embeddings",
                                  "type_vocab_size", "project_dim"), ACTIVATIONS)


@dataclass(frozen=True)
class AltCLIPVisionConfig(CLIPVisionConfig):
    """config.json's vision_config: a CLIP vision tower (defaults: transformers' AltCLIPVisionConfig code, which are
    CLIP ViT-B/32's -- BAAI/AltCLIP's own config.json says ViT-L/14)."""


def _with_legacy_dict(d: dict, name: str, section_cls: type) -> dict:
    """transformers' AltCLIPConfig reads `<name>_dict` (written by old versions) over `<name>`: the legacy dict,
    completed with the section class's defaults, overrides every key of the section -- so a key present in `<name>`
    but absent from `<name>_dict` falls back to its default, as in transformers."""
    legacy = d.get(name + "_dict")
    if not isinstance(legacy, dict):
        return d
    defaults = {f.name: f.default for f in dataclasses.fields(section_cls) if f.init}
    section = dict(d.get(name) or {})
    section.update({**defaults, **legacy})
    return {**{k: v for k, v in d.items() if k != name + "_dict"}, name: section}


@dataclass(frozen=True)
class AltCLIPConfig(ModelConfig):
    model_type = "altclip"
    sub_configs = {"text_config": AltCLIPTextConfig, "vision_config": AltCLIPVisionConfig}
    nested_model_types = {"text_config": frozenset({"altclip_text_model"}),
                          "vision_config": frozenset({"altclip_vision_model"})}
    transformers_only = {  # AltCLIP*Config fields inference does not need (and BAAI/AltCLIP's stray keys)
        "": frozenset({"initializer_factor", "direct_kd", "num_layers", "text_config_dict", "vision_config_dict"}),
        "text_config": frozenset({"hidden_dropout_prob", "attention_probs_dropout_prob", "initializer_range",
                                  "initializer_factor", "position_embedding_type", "use_cache", "classifier_dropout",
                                  "pooler_fn", "learn_encoder"}),
        "vision_config": frozenset({"projection_dim", "attention_dropout", "dropout", "initializer_range",
                                    "initializer_factor"}),
    }

    text_config: AltCLIPTextConfig = field(default_factory=AltCLIPTextConfig)
    vision_config: AltCLIPVisionConfig = field(default_factory=AltCLIPVisionConfig)
    projection_dim: int = 768
    logit_scale_init_value: float = 2.6592   # init only: the weights carry the trained value

    @classmethod
    def prepare(cls, d: dict, source: str) -> dict:
        d = _with_legacy_dict(d, "text_config", AltCLIPTextConfig)
        return _with_legacy_dict(d, "vision_config", AltCLIPVisionConfig)

    def describe(self) -> dict:
        """The config lines `refalign info` shows."""
        t, v = self.text_config, self.vision_config
        return {"projection_dim": self.projection_dim,
                "vision": f"CLIP-vision {v.num_hidden_layers} layers, hidden {v.hidden_size}, patch {v.patch_size}, "
                          f"image {v.image_size}x{v.image_size}",
                "text": f"XLM-R {t.num_hidden_layers} layers, hidden {t.hidden_size} -> {t.project_dim}, "
                        f"vocab {t.vocab_size}"}


class AltCLIPProcessor(Processor):
    """AltCLIP's tokenizer (XLMRobertaTokenizer, SentencePiece unigram) and image processor (CLIPImageProcessor),
    chosen from the checkpoint's files. Like transformers' AltCLIPProcessor it does not pad unless asked: a batch of
    captions of unequal length needs padding=True."""


@dataclass(repr=False)
class AltCLIPTextOutput(ModelOutput):
    """Mirrors transformers' BaseModelOutputWithPoolingAndProjection from AltCLIPTextModel (NumPy)."""
    last_hidden_state: NDArray                  # [B, L, project_dim]: transformation(pre_LN(encoder output))
    pooler_output: NDArray                      # [B, project_dim]: last_hidden_state[:, 0]
    hidden_states: list[NDArray] | None = None  # layers + 1 tensors [B, L, hidden]: the XLM-R encoder's states
    attentions: list[NDArray] | None = None
    projection_state: None = None               # transformers' field, always None


class AltCLIPOutput(ProjectedOutput):
    """Mirrors transformers' AltCLIPOutput (NumPy arrays)."""


class AltCLIPModel(ProjectedDualEncoderModel):
    """transformers' AltCLIPModel in NumPy (see the module docstring for the composition; the head is
    models/projected.py)."""

    config_class = AltCLIPConfig
    processor_class = AltCLIPProcessor
    output_class = AltCLIPOutput

    @classmethod
    def weight_shapes(cls, config: AltCLIPConfig) -> tuple[Shapes, Shapes]:
        """Required: the XLM-R encoder (no pooler), pre_LN, transformation (with bias), the CLIP vision tower, the two
        projections (no bias) and logit_scale. Optional: the encoder's unused tanh pooler, if a checkpoint has one."""
        t, v, p = config.text_config, config.vision_config, config.projection_dim
        required: Shapes = {"logit_scale": (), "visual_projection.weight": (p, v.hidden_size),
                            "text_projection.weight": (p, t.project_dim),
                            TEXT + "pre_LN.weight": (t.hidden_size,), TEXT + "pre_LN.bias": (t.hidden_size,),
                            TEXT + "transformation.weight": (t.project_dim, t.hidden_size),
                            TEXT + "transformation.bias": (t.project_dim,)}
        required.update(bert_shapes(t, ENCODER))
        required.update(clip_vision_shapes(v, "vision_model."))
        return required, pooler_shapes(t, ENCODER)

    def __repr__(self) -> str:
        t, v = self.config.text_config, self.config.vision_config
        return (f"AltCLIPModel(source={self.source!r}, dtype={self.dtype}, vision=CLIP {v.num_hidden_layers}x"
                f"{v.hidden_size}/{v.patch_size}, text=XLM-R {t.num_hidden_layers}x{t.hidden_size}, "
                f"projection_dim={self.config.projection_dim})")

    # ----------------------------------------------------------------- towers
    @runs_as_forward
    def text_model(self, input_ids, attention_mask=None, token_type_ids=None, output_hidden_states=False,
                   output_attentions=False) -> AltCLIPTextOutput:
        """AltCLIPTextModel: the XLM-R encoder, then pre_LN and transformation over every token; token 0 pooled."""
        cfg = self.config.text_config
        ids, mask, types = self._text_inputs(input_ids, attention_mask, token_type_ids)
        enc = bert_forward(self.params, cfg, ids, attention_mask=mask, token_type_ids=types, prefix=ENCODER,
                           output_hidden_states=output_hidden_states, output_attentions=output_attentions)
        x = layer_norm(enc.last_hidden_state, self.params[TEXT + "pre_LN.weight"], self.params[TEXT + "pre_LN.bias"],
                       cfg.layer_norm_eps)                                              # [B, L, hidden]
        x = linear(x, self.params[TEXT + "transformation.weight"], self.params[TEXT + "transformation.bias"])
        return AltCLIPTextOutput(last_hidden_state=x, pooler_output=x[:, 0],            # [B, L, P'], [B, P']
                                 hidden_states=enc.hidden_states, attentions=enc.attentions)

    @runs_as_forward
    def vision_model(self, pixel_values, output_hidden_states=False, output_attentions=False):
        return clip_vision_forward(self.params, self.config.vision_config, self._pixels(pixel_values),
                                   prefix="vision_model.", output_hidden_states=output_hidden_states,
                                   output_attentions=output_attentions)
