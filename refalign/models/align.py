"""ALIGN (config.json model_type "align"; kakaobrain/align-base): an EfficientNet image tower and a BERT text tower
in one 640-d space, where similarity is the cosine divided by a learned temperature.

    text:   BERT (towers/bert.py) -> last hidden state of [CLS] -> text_projection (with bias)  -> text_embeds
    image:  EfficientNet (towers/efficientnet.py) -> pooled last feature map (no projection)   -> image_embeds
    logits_per_text = normalize(text_embeds) @ normalize(image_embeds).T / temperature
    loss:   symmetric cross entropy with label smoothing 0.1

    model = AlignModel.from_pretrained("tiny")                       # or a directory, "kakaobrain/align-base"
    out = model(**AlignProcessor.from_pretrained("tiny")(text=texts, images=images))
    out.logits_per_image                                              # [n_images, n_texts]

Everything is NumPy; the compute dtype is float32 by default and float64 on request (dtype=np.float64), in which
case every weight and every activation is float64 (refalign's oracle mode).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ..errors import CheckpointError
from ..image_processors import EfficientNetImageProcessor
from ..loading.config import ModelConfig
from ..ops import linear
from ..outputs import ModelOutput
from ..processing import Processor
from ..tokenizers import BertTokenizer
from ..towers.bert import BertConfig, TextOutput, bert_forward, bert_shapes, pooler_shapes
from ..towers.efficientnet import EfficientNetConfig, VisionOutput, efficientnet_forward, efficientnet_shapes
from .base import DualEncoderModel, GoldenPlan, Shapes, runs_as_forward
from .contrastive import contrastive_loss, l2_normalize


# ----------------------------------------------------------------------------------------------- config
@dataclass(frozen=True)
class AlignTextConfig(BertConfig):
    """config.json's text_config: a BERT encoder (defaults: bert-base, as transformers' AlignTextConfig)."""


@dataclass(frozen=True)
class AlignVisionConfig(EfficientNetConfig):
    """config.json's vision_config: EfficientNet (defaults: transformers' AlignVisionConfig code, B7 at 600)."""


@dataclass(frozen=True)
class AlignConfig(ModelConfig):
    model_type = "align"
    sub_configs = {"text_config": AlignTextConfig, "vision_config": AlignVisionConfig}
    nested_model_types = {"text_config": frozenset({"align_text_model"}),
                          "vision_config": frozenset({"align_vision_model"})}
    transformers_only = {  # Align*Config fields inference does not need
        "": frozenset({"initializer_range"}),
        "text_config": frozenset({"hidden_dropout_prob", "attention_probs_dropout_prob", "initializer_range",
                                  "position_embedding_type"}),  # the last one: transformers 4.x's AlignTextConfig
        "vision_config": frozenset({"initializer_range", "batch_norm_momentum", "drop_connect_rate",
                                    "num_hidden_layers"}),  # recomputed from num_block_repeats by transformers too
    }

    text_config: AlignTextConfig = field(default_factory=AlignTextConfig)
    vision_config: AlignVisionConfig = field(default_factory=AlignVisionConfig)
    projection_dim: int = 640
    temperature_init_value: float = 1.0

    def describe(self) -> dict:
        """The config lines `refalign info` shows."""
        t, v = self.text_config, self.vision_config
        return {"projection_dim": self.projection_dim,
                "text": f"BERT {t.num_hidden_layers} layers, hidden {t.hidden_size}, {t.num_attention_heads} heads, "
                        f"vocab {t.vocab_size}",
                "vision": f"EfficientNet width {v.width_coefficient} depth {v.depth_coefficient}, "
                          f"{v.num_hidden_layers} blocks, image {v.image_size}x{v.image_size}"}


# ----------------------------------------------------------------------------------------------- processor
class AlignProcessor(Processor):
    """ALIGN's tokenizer (BertTokenizer, WordPiece) and image processor (EfficientNetImageProcessor) behind one call,
    like transformers' AlignProcessor:

        processor = AlignProcessor.from_pretrained("tiny")
        inputs = processor(text=["a photo of a cat"], images=["cat.jpg"], return_tensors="np")
        out = AlignModel.from_pretrained("tiny")(**inputs)

    Texts are padded to 64 tokens (transformers' AlignProcessor default) and not truncated unless asked.
    """
    tokenizer_class = BertTokenizer
    image_processor_class = EfficientNetImageProcessor
    default_padding = "max_length"
    default_max_length = 64


# ----------------------------------------------------------------------------------------------- outputs
@dataclass(repr=False)
class AlignOutput(ModelOutput):
    """Mirrors transformers' AlignOutput field for field (NumPy arrays instead of tensors). Fields that are not None
    can also be read as `out["logits_per_image"]`, `out[0]`, `out.to_tuple()`, `out.keys()` / `items()`."""
    loss: NDArray | None = None
    logits_per_image: NDArray | None = None   # [n_images, n_texts]
    logits_per_text: NDArray | None = None    # [n_texts, n_images]
    text_embeds: NDArray | None = None        # [n_texts, projection_dim], L2-normalised
    image_embeds: NDArray | None = None       # [n_images, projection_dim], L2-normalised
    text_model_output: TextOutput | None = None
    vision_model_output: VisionOutput | None = None


# ----------------------------------------------------------------------------------------------- golden tensors
GOLDEN = GoldenPlan(
    inputs=("inputs.input_ids", "inputs.attention_mask", "inputs.token_type_ids", "inputs.pixel_values"),
    text_tail=("text.last_hidden_state", "text.text_features"),        # text_features: projection of [CLS]
    vision_tail=("vision.last_hidden_state", "vision.image_features"),  # image_features: the pooled map
)
INPUT_NAMES = list(GOLDEN.inputs)
INTEGER_NAMES = GOLDEN.integer_names
HEAD_NAMES = list(GOLDEN.heads)


def golden_names(num_text_layers: int, num_vision_blocks: int, with_loss: bool) -> list[str]:
    """Every tensor name of an ALIGN golden, in forward order."""
    return GOLDEN.names(num_text_layers, num_vision_blocks, with_loss)


def tensors_from_outputs(out, text_features, inputs: dict, dtype) -> dict[str, np.ndarray]:
    """Golden tensors from a forward pass shaped like transformers' AlignOutput (refalign's arrays, or torch tensors
    with .numpy()) plus get_text_features' output and the model inputs."""
    def arr(x, name):
        if x is None:
            raise ValueError(f"the model output has no {name}")
        x = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
        return x if name in INTEGER_NAMES else x.astype(dtype, copy=False)

    t, v = out.text_model_output, out.vision_model_output
    if t.hidden_states is None or v.hidden_states is None:
        raise ValueError("the model output has no hidden_states (call it with output_hidden_states=True)")
    tensors = {name: arr(inputs[name.split(".", 1)[1]], name) for name in INPUT_NAMES}
    tensors.update({f"text.hidden_states.{i:02d}": arr(h, "text.hidden_states") for i, h in enumerate(t.hidden_states)})
    tensors["text.last_hidden_state"] = arr(t.last_hidden_state, "text.last_hidden_state")
    tensors["text.text_features"] = arr(text_features, "text.text_features")
    tensors.update({f"vision.hidden_states.{i:02d}": arr(h, "vision.hidden_states")
                    for i, h in enumerate(v.hidden_states)})
    tensors["vision.last_hidden_state"] = arr(v.last_hidden_state, "vision.last_hidden_state")
    tensors["vision.image_features"] = arr(v.pooler_output, "vision.image_features")
    for name in HEAD_NAMES:
        tensors[name] = arr(getattr(out, name), name)
    if getattr(out, "loss", None) is not None:
        tensors["loss"] = arr(out.loss, "loss").reshape(())
    return tensors


def text_features(params: dict[str, np.ndarray], cfg: BertConfig, input_ids, attention_mask=None,
                  token_type_ids=None) -> NDArray:
    """ALIGN's text embedding (unnormalised), from a params dict: text_projection applied to the last hidden state
    of the first ([CLS]) token -- not to the tanh pooler output. (B, L) ids -> (B, projection_dim)."""
    for key in ("text_projection.weight", "text_projection.bias"):
        if key not in params:
            raise CheckpointError(f"missing tensor {key!r}: text_features needs ALIGN's text projection")
    w, b = params["text_projection.weight"], params["text_projection.bias"]
    if w.ndim != 2 or w.shape[1] != cfg.hidden_size or b.shape != w.shape[:1]:
        raise CheckpointError(f"text_projection.weight/.bias have shapes {w.shape}/{b.shape}, expected "
                              f"(projection_dim, {cfg.hidden_size}) and (projection_dim,)")
    out = bert_forward(params, cfg, input_ids, attention_mask, token_type_ids, prefix="text_model.")
    if w.dtype != out.last_hidden_state.dtype or b.dtype != w.dtype:
        raise CheckpointError(f"text_projection is {w.dtype}/{b.dtype} but the text tower computes in "
                              f"{out.last_hidden_state.dtype}")
    return linear(out.last_hidden_state[:, 0], w, b)  # (B, H) -> (B, P)


# ----------------------------------------------------------------------------------------------- the model
class AlignModel(DualEncoderModel):
    """ALIGN dual encoder on NumPy, used like transformers' AlignModel:

        model = AlignModel.from_pretrained("kakaobrain/align-base")    # or a folder, "tiny"; dtype=np.float64
        out = model(**AlignProcessor.from_pretrained(...)(text=texts, images=images))
        out.logits_per_image, model.get_text_features(...), model.get_image_features(...)

    `params` holds the checkpoint's tensors under transformers' key names; `dtype` is the compute dtype (float32,
    or float64: refalign's oracle mode)."""

    config_class = AlignConfig
    processor_class = AlignProcessor
    golden = GOLDEN
    golden_tensors = staticmethod(tensors_from_outputs)

    def __init__(self, config: AlignConfig, params: dict[str, NDArray], dtype=np.float32, source: str | None = None):
        super().__init__(config, params, dtype, source)
        self.temperature = params["temperature"]

    @classmethod
    def weight_shapes(cls, config: AlignConfig) -> tuple[Shapes, Shapes]:
        """Required: both towers, text_projection (with bias), the temperature. Optional: BERT's tanh pooler,
        present in align-base's checkpoint and unused by the ALIGN embedding (shape-checked when present)."""
        p, h = config.projection_dim, config.text_config.hidden_size
        required = {"temperature": (), "text_projection.weight": (p, h), "text_projection.bias": (p,)}
        required.update(bert_shapes(config.text_config, "text_model."))
        required.update(efficientnet_shapes(config.vision_config, "vision_model."))
        return required, pooler_shapes(config.text_config, "text_model.")

    def __repr__(self) -> str:
        t, v = self.config.text_config, self.config.vision_config
        return (f"AlignModel(source={self.source!r}, dtype={self.dtype}, text={t.num_hidden_layers}x{t.hidden_size}, "
                f"vision={v.num_hidden_layers} blocks @ {v.image_size}px, projection_dim={self.config.projection_dim})")

    # ----------------------------------------------------------------- towers
    @runs_as_forward
    def text_model(self, input_ids, attention_mask=None, token_type_ids=None, output_hidden_states=False,
                   output_attentions=False) -> TextOutput:
        ids, mask, types = self._text_inputs(input_ids, attention_mask, token_type_ids)
        return bert_forward(self.params, self.config.text_config, ids, attention_mask=mask, token_type_ids=types,
                            prefix="text_model.", output_hidden_states=output_hidden_states,
                            output_attentions=output_attentions)

    @runs_as_forward
    def vision_model(self, pixel_values, output_hidden_states=False) -> VisionOutput:
        return efficientnet_forward(self.params, self.config.vision_config, self._pixels(pixel_values),
                                    prefix="vision_model.", output_hidden_states=output_hidden_states)

    def _project_text(self, last_hidden_state: NDArray) -> NDArray:
        # ALIGN embeds a text as the projection of its [CLS] row, not BERT's tanh pooler output.
        return linear(last_hidden_state[:, 0, :], self.params["text_projection.weight"],
                      self.params["text_projection.bias"])  # [B, hidden] -> [B, projection_dim]

    @runs_as_forward
    def get_text_features(self, input_ids, attention_mask=None, token_type_ids=None) -> NDArray:
        """Unnormalised text embeddings [B, projection_dim], as transformers' get_text_features.

        Trailing columns that are padding in every row are dropped first: no real token attends to a masked key (its
        softmax weight is exactly 0) and the feed-forward acts on each position alone, so the [CLS] row is the same
        (up to BLAS rounding) for a fraction of the work -- AlignProcessor pads every caption to 64 tokens."""
        ids, mask, types = self._text_inputs(input_ids, attention_mask, token_type_ids)
        if mask is not None:
            used = np.flatnonzero(mask.any(axis=0))
            length = int(used[-1]) + 1 if used.size else ids.shape[1]
            ids, mask = ids[:, :length], mask[:, :length]
            types = None if types is None else types[:, :length]
        out = self.text_model(ids, attention_mask=mask, token_type_ids=types)
        return self._project_text(out.last_hidden_state)

    @runs_as_forward
    def get_image_features(self, pixel_values) -> NDArray:
        """Unnormalised image embeddings [B, projection_dim] (the pooled last feature map; ALIGN has no image
        projection layer)."""
        return self.vision_model(pixel_values).pooler_output

    def logits(self, text_embeds: NDArray, image_embeds: NDArray) -> NDArray:
        """logits_per_text [n_texts, n_images] from L2-normalised embeddings: the cosine similarity divided by the
        learned temperature (a plain scalar, not the exp of a logit scale)."""
        return (text_embeds @ image_embeds.T) / self.temperature

    # ----------------------------------------------------------------- forward
    @runs_as_forward
    def __call__(self, input_ids=None, pixel_values=None, attention_mask=None, token_type_ids=None,
                 return_loss: bool = False, output_hidden_states: bool = False,
                 output_attentions: bool = False, return_dict: bool = True) -> AlignOutput | tuple:
        """The forward pass of transformers' AlignModel: both towers, L2-normalised embeddings and the logits.

        input_ids / attention_mask / token_type_ids: int [n_texts, L]; pixel_values: float [n_images, 3, H, W] --
        what AlignProcessor returns, so `model(**processor(text=..., images=...))` works.
        return_loss: ALIGN's symmetric contrastive loss (label smoothing 0.1; needs n_texts == n_images).
        output_hidden_states / output_attentions: keep every layer's output (and the text attention probabilities).
        return_dict=False gives `out.to_tuple()` instead, as in transformers.
        Returns AlignOutput(loss, logits_per_image [n_images, n_texts], logits_per_text, text_embeds, image_embeds,
        text_model_output, vision_model_output).
        """
        if input_ids is None or pixel_values is None:
            raise ValueError("AlignModel(...) needs both input_ids and pixel_values; use get_text_features / "
                             "get_image_features for one tower")
        vision_out = self.vision_model(pixel_values, output_hidden_states=output_hidden_states)
        text_out = self.text_model(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                                   output_hidden_states=output_hidden_states, output_attentions=output_attentions)
        image_embeds = l2_normalize(vision_out.pooler_output)                   # [n_images, D]
        text_embeds = l2_normalize(self._project_text(text_out.last_hidden_state))  # [n_texts, D]
        logits_per_text = self.logits(text_embeds, image_embeds)                # [n_texts, n_images]
        logits_per_image = logits_per_text.T                                    # [n_images, n_texts]
        loss = align_loss(logits_per_text) if return_loss else None
        out = AlignOutput(loss=loss, logits_per_image=logits_per_image, logits_per_text=logits_per_text,
                          text_embeds=text_embeds, image_embeds=image_embeds, text_model_output=text_out,
                          vision_model_output=vision_out)
        return out if return_dict else out.to_tuple()

    forward = __call__


def align_loss(logits_per_text: NDArray) -> NDArray:
    """ALIGN's loss: the symmetric contrastive loss with label smoothing 0.1."""
    return contrastive_loss(logits_per_text, smoothing=0.1)
