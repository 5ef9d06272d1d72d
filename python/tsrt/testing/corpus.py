"""A corpus of real architectures to export, verify and run: torchvision, timm and
Hugging Face transformers, all with random weights (nothing is ever downloaded).

Each `CorpusModel` has a factory, example inputs, two other shapes to run the
exported file at (another batch size and, for sequence models, another length),
and a preparation that makes its outputs vary before anything is judged: a few
forward passes in train mode so that batch norm has real statistics (untouched
statistics leave some outputs near 1e-9), and heads that start at zero (such as
torchvision ViT's) re-initialised. `build(name)` returns the prepared model in
eval mode, the same weights in every process (seeded).

scripts/corpus.py exports every model and writes the table; tests/test_corpus.py
runs a few small ones. The libraries are optional: `available()` lists the models
whose library imports.

    from tsrt.testing import corpus
    model = corpus.build("resnet50")
    inputs = corpus.get("resnet50").example()
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch

SEED = 0
LIBRARIES = ("torchvision", "timm", "transformers")

Inputs = tuple | dict  # positional tensors, or keyword tensors in forward's order


@dataclass(frozen=True)
class CorpusModel:
    """One architecture of the corpus.

    factory: builds the module with random weights (no download).
    example: the example inputs at export; shapes: the two other shapes to run at,
    each a function of a seed returning inputs like example's.
    library: "torchvision", "timm" or "transformers". kind: what the model does.
    batch_norm: run train-mode passes before judging. small: cheap enough for the
    test suite.
    """

    name: str
    library: str
    kind: str
    factory: Callable[[], torch.nn.Module]
    example: Callable[[int], Inputs]
    shapes: tuple[tuple[str, Callable[[int], Inputs]], ...]
    batch_norm: bool = True
    small: bool = False
    notes: str = ""
    prepare_inputs: Callable[[int], Inputs] | None = None  # train-mode passes, when example's don't fit

    def build(self) -> torch.nn.Module:
        """The prepared model in eval mode; the same weights in every process."""
        return build(self.name)


# --- inputs -------------------------------------------------------------------

def _images(batch: int, size: int | tuple[int, int], channels: int = 3) -> Callable[[int], tuple]:
    height, width = (size, size) if isinstance(size, int) else size

    def make(seed: int) -> tuple:
        generator = torch.Generator().manual_seed(seed)
        return (torch.randn(batch, channels, height, width, generator=generator),)
    return make


def _image_pair(batch: int, size: int) -> Callable[[int], tuple]:
    def make(seed: int) -> tuple:
        generator = torch.Generator().manual_seed(seed)
        return tuple(torch.rand(batch, 3, size, size, generator=generator) * 2 - 1 for _ in range(2))
    return make


def _image_list(count: int, size: int) -> Callable[[int], tuple]:
    def make(seed: int) -> tuple:
        generator = torch.Generator().manual_seed(seed)
        return ([torch.rand(3, size, size, generator=generator) for _ in range(count)],)
    return make


def _tokens(batch: int, length: int, vocab: int, mask: bool = True, token_types: bool = False,
            pixel: bool = False) -> Callable[[int], dict]:
    """input_ids (and attention_mask: the last two tokens of row 0 are padding)."""
    def make(seed: int) -> dict:
        generator = torch.Generator().manual_seed(seed)
        inputs = {"input_ids": torch.randint(0, vocab, (batch, length), generator=generator)}
        if mask:
            attention = torch.ones(batch, length, dtype=torch.long)
            if length > 4:
                attention[0, -2:] = 0
            inputs["attention_mask"] = attention
        if token_types:
            inputs["token_type_ids"] = torch.zeros(batch, length, dtype=torch.long)
        return inputs
    return make


def _pixels(batch: int, size: int) -> Callable[[int], dict]:
    def make(seed: int) -> dict:
        generator = torch.Generator().manual_seed(seed)
        return {"pixel_values": torch.randn(batch, 3, size, size, generator=generator)}
    return make


def _image_model(name: str, library: str, kind: str, factory: Callable[[], torch.nn.Module], size: int,
                 batch_norm: bool = True, small: bool = False, notes: str = "") -> CorpusModel:
    return CorpusModel(name, library, kind, factory, _images(2, size),
                       (("batch 3", _images(3, size)), ("batch 1", _images(1, size))),
                       batch_norm=batch_norm, small=small, notes=notes)


def _text_model(name: str, kind: str, factory: Callable[[], torch.nn.Module], vocab: int = 1000,
                mask: bool = True, small: bool = False, notes: str = "") -> CorpusModel:
    return CorpusModel(name, "transformers", kind, factory, _tokens(2, 16, vocab, mask),
                       (("batch 3", _tokens(3, 16, vocab, mask)), ("length 9", _tokens(2, 9, vocab, mask))),
                       batch_norm=False, small=small, notes=notes)


# --- factories ----------------------------------------------------------------

def _torchvision() -> Any:
    from tsrt.testing import torchvision_ops

    return torchvision_ops.install()


def _tv(builder: str, **kwargs: Any) -> Callable[[], torch.nn.Module]:
    def make() -> torch.nn.Module:
        _torchvision()
        import torchvision.models as models
        import torchvision.models.detection  # noqa: F401
        import torchvision.models.optical_flow  # noqa: F401
        import torchvision.models.segmentation  # noqa: F401

        for namespace in (models, models.segmentation, models.detection, models.optical_flow):
            if hasattr(namespace, builder):
                return getattr(namespace, builder)(weights=None, **kwargs)
        raise ValueError(f"torchvision has no model builder '{builder}'")
    return make


def _timm(name: str, **kwargs: Any) -> Callable[[], torch.nn.Module]:
    def make() -> torch.nn.Module:
        _torchvision()  # timm imports torchvision
        import timm

        return timm.create_model(name, pretrained=False, **kwargs)
    return make


# One small size for every Hugging Face config: 2 layers, width 64, 4 heads.
_HF_SMALL = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                 vocab_size=1000, max_position_embeddings=128)


def _hf(model_class: str, config_class: str, **config: Any) -> Callable[[], torch.nn.Module]:
    def make() -> torch.nn.Module:
        if library_available("torchvision"):
            _torchvision()  # transformers imports torchvision when it is installed
        import transformers

        return getattr(transformers, model_class)(getattr(transformers, config_class)(**config))
    return make


def _models() -> list[CorpusModel]:
    tv, tm = "torchvision", "timm"
    models = [
        # torchvision classification, at small image sizes (adaptive pooling takes any size)
        _image_model("resnet50", tv, "classification", _tv("resnet50"), 96),
        _image_model("resnet18", tv, "classification", _tv("resnet18"), 64, small=True),
        _image_model("mobilenet_v3_small", tv, "classification", _tv("mobilenet_v3_small"), 96),
        _image_model("efficientnet_b0", tv, "classification", _tv("efficientnet_b0"), 96),
        _image_model("convnext_tiny", tv, "classification", _tv("convnext_tiny"), 64, batch_norm=False),
        _image_model("vit_b_16", tv, "classification", _tv("vit_b_16", image_size=64), 64, batch_norm=False,
                     notes="image_size=64 (4x4 patches); head re-initialised (torchvision starts it at zero)"),
        _image_model("swin_t", tv, "classification", _tv("swin_t"), 96, batch_norm=False),
        _image_model("regnet_y_400mf", tv, "classification", _tv("regnet_y_400mf"), 96),
        _image_model("densenet121", tv, "classification", _tv("densenet121"), 64),
        _image_model("shufflenet_v2_x0_5", tv, "classification", _tv("shufflenet_v2_x0_5"), 96),
        _image_model("squeezenet1_1", tv, "classification", _tv("squeezenet1_1"), 96),
        # segmentation: dict outputs ("out")
        _image_model("deeplabv3_mobilenet_v3_large", tv, "segmentation",
                     _tv("deeplabv3_mobilenet_v3_large", weights_backbone=None), 96),
        _image_model("lraspp_mobilenet_v3_large", tv, "segmentation",
                     _tv("lraspp_mobilenet_v3_large", weights_backbone=None), 96),
        _image_model("fcn_resnet50", tv, "segmentation", _tv("fcn_resnet50", weights_backbone=None), 64),
        # detection: a list of images in, a list of dicts out; score threshold 0 so that
        # random weights still give boxes to compare
        CorpusModel("fasterrcnn_mobilenet_v3_large_320_fpn", tv, "detection",
                    _tv("fasterrcnn_mobilenet_v3_large_320_fpn", weights_backbone=None, box_score_thresh=0.0,
                        num_classes=5, rpn_pre_nms_top_n_test=200, rpn_post_nms_top_n_test=50,
                        box_detections_per_img=20),
                    _image_list(2, 128), (("3 images", _image_list(3, 128)), ("1 image", _image_list(1, 128))),
                    batch_norm=False, notes="FrozenBatchNorm2d: no statistics to learn; box_score_thresh=0"),
        # optical flow: two images in, a list of 12 flow refinements out
        CorpusModel("raft_small", tv, "optical flow", _tv("raft_small"), _image_pair(1, 128),
                    (("batch 2", _image_pair(2, 128)), ("batch 3", _image_pair(3, 128)))),
        # timm
        _image_model("timm_resnet18", tm, "classification", _timm("resnet18"), 64, small=True),
        _image_model("timm_efficientnet_b0", tm, "classification", _timm("efficientnet_b0"), 96),
        _image_model("timm_vit_tiny", tm, "classification", _timm("vit_tiny_patch16_224", img_size=64), 64,
                     batch_norm=False, notes="img_size=64"),
        _image_model("timm_deit_tiny", tm, "classification", _timm("deit_tiny_patch16_224", img_size=64), 64,
                     batch_norm=False, notes="img_size=64"),
        _image_model("timm_mobilevit_xxs", tm, "classification", _timm("mobilevit_xxs"), 64),
        _image_model("timm_convnext_atto", tm, "classification", _timm("convnext_atto"), 64, batch_norm=False),
        # Hugging Face, from small configs (random weights)
        _text_model("hf_bert", "encoder", _hf("BertModel", "BertConfig", **_HF_SMALL), small=True),
        _text_model("hf_distilbert", "encoder",
                    _hf("DistilBertModel", "DistilBertConfig", dim=64, n_layers=2, n_heads=4, hidden_dim=128,
                        vocab_size=1000, max_position_embeddings=128)),
        _text_model("hf_roberta", "encoder", _hf("RobertaModel", "RobertaConfig", **{**_HF_SMALL,
                                                                                     "max_position_embeddings": 130})),
        _text_model("hf_albert", "encoder", _hf("AlbertModel", "AlbertConfig", embedding_size=32, **_HF_SMALL)),
        _text_model("hf_electra", "encoder", _hf("ElectraModel", "ElectraConfig", embedding_size=32, **_HF_SMALL)),
        _text_model("hf_t5_encoder", "encoder",
                    _hf("T5EncoderModel", "T5Config", d_model=64, d_kv=16, num_heads=4, d_ff=128, num_layers=2,
                        vocab_size=1000)),
        CorpusModel("hf_vit", "transformers", "classification",
                    _hf("ViTModel", "ViTConfig", image_size=32, patch_size=8, hidden_size=64, num_hidden_layers=2,
                        num_attention_heads=4, intermediate_size=128),
                    _pixels(2, 32), (("batch 3", _pixels(3, 32)), ("batch 1", _pixels(1, 32))), batch_norm=False),
        _text_model("hf_gpt2", "decoder (use_cache default True)",
                    _hf("GPT2LMHeadModel", "GPT2Config", n_embd=64, n_layer=2, n_head=4, vocab_size=1000,
                        n_positions=128, bos_token_id=0, eos_token_id=0)),
        _text_model("hf_llama", "decoder (use_cache default True)",
                    _hf("LlamaForCausalLM", "LlamaConfig", num_key_value_heads=2, **_HF_SMALL)),
        _text_model("hf_qwen2", "decoder (use_cache default True)",
                    _hf("Qwen2ForCausalLM", "Qwen2Config", num_key_value_heads=2, **_HF_SMALL)),
        _text_model("hf_mistral", "decoder (use_cache default True)",
                    _hf("MistralForCausalLM", "MistralConfig", num_key_value_heads=2, **_HF_SMALL)),
        _text_model("hf_gpt_neox", "decoder (use_cache default True)",
                    _hf("GPTNeoXForCausalLM", "GPTNeoXConfig", bos_token_id=0, eos_token_id=0, **_HF_SMALL)),
    ]
    return models


MODELS: dict[str, CorpusModel] = {model.name: model for model in _models()}

#: The real-size BERT whose export time the issue measures (BertConfig(): 110M parameters).
BERT_BASE = CorpusModel("hf_bert_base", "transformers", "encoder", _hf("BertModel", "BertConfig"),
                        _tokens(2, 16, 30522), (("batch 3", _tokens(3, 16, 30522)), ("length 9", _tokens(2, 9, 30522))),
                        batch_norm=False)


def get(name: str) -> CorpusModel:
    if name == BERT_BASE.name:
        return BERT_BASE
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(f"no corpus model '{name}'; known: {', '.join(MODELS)}") from None


def library_available(library: str) -> bool:
    return importlib.util.find_spec(library) is not None


def available() -> list[str]:
    """The corpus models whose library is installed."""
    return [name for name, model in MODELS.items() if library_available(model.library)]


# --- preparation ----------------------------------------------------------------

def prepare(model: torch.nn.Module, entry: CorpusModel) -> torch.nn.Module:
    """Makes outputs vary: weights that start at zero (heads) re-initialised, and
    batch norm statistics from two train-mode passes (momentum 1: the statistics
    of those batches, not 10% of the way from mean 0 / variance 1)."""
    with torch.no_grad():
        for module in model.modules():
            weight = getattr(module, "weight", None)
            if isinstance(module, (torch.nn.Linear, torch.nn.Conv2d)) and isinstance(weight, torch.nn.Parameter) \
                    and not weight.any():
                torch.nn.init.normal_(weight, std=0.02)
        norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        if entry.batch_norm and norms:
            momenta = [m.momentum for m in norms]
            for m in norms:
                m.momentum = 1.0
            model.train()
            for seed in (1, 2):
                inputs = (entry.prepare_inputs or entry.example)(1000 + seed)
                call(model, inputs)
            for m, momentum in zip(norms, momenta):
                m.momentum = momentum
    return model.eval()


def build(name: str) -> torch.nn.Module:
    """The prepared corpus model `name`, in eval mode (seeded: the same in every process)."""
    entry = get(name)
    torch.manual_seed(SEED)
    return prepare(entry.factory(), entry)


def call(model: Any, inputs: Inputs) -> Any:
    return model(**inputs) if isinstance(inputs, Mapping) else model(*inputs)


# --- comparing outputs ------------------------------------------------------------

def leaves(output: Any, prefix: str = "output") -> list[tuple[str, torch.Tensor]]:
    """[(path, tensor)] of an output: tuples, lists, dicts (and Hugging Face ModelOutput),
    and cache objects through their key/value tensors."""
    found: list[tuple[str, torch.Tensor]] = []

    def walk(value: Any, path: str) -> None:
        if isinstance(value, torch.Tensor):
            found.append((path, value))
        elif isinstance(value, Mapping):
            for key, item in value.items():
                walk(item, f"{path}.{key}" if path else str(key))
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                walk(item, f"{path}.{index}")
        elif hasattr(value, "layers"):  # transformers Cache: layers with keys/values
            for index, layer in enumerate(value.layers):
                walk(getattr(layer, "keys", None), f"{path}.{index}.key")
                walk(getattr(layer, "values", None), f"{path}.{index}.value")
        elif hasattr(value, "key_cache"):
            walk(list(zip(value.key_cache, value.value_cache)), path)
    walk(output, prefix)
    return found


@dataclass
class Comparison:
    """Eager against a run of the exported file: worst |difference| over all output
    leaves, and whether every element is within atol + rtol * |expected|."""

    max_abs: float
    within: bool
    detail: str = ""
    worst_leaf: str = ""
    leaves: int = 0
    extra: dict = field(default_factory=dict)


def compare(actual: list[torch.Tensor] | list[tuple[str, torch.Tensor]],
            expected: list[tuple[str, torch.Tensor]], atol: float, rtol: float) -> Comparison:
    """Compares leaves by position (both depth-first in the model's output order).
    A missing leaf, a shape or dtype difference is a failure with its reason."""
    actual_values = [a[1] if isinstance(a, tuple) else a for a in actual]
    if len(actual_values) != len(expected):
        return Comparison(float("inf"), False, f"{len(actual_values)} output tensors, eager has {len(expected)}")
    worst, worst_leaf, within = 0.0, "", True
    for value, (path, reference) in zip(actual_values, expected):
        value = torch.as_tensor(value)
        if tuple(value.shape) != tuple(reference.shape):
            return Comparison(float("inf"), False, f"{path}: shape {tuple(value.shape)}, eager {tuple(reference.shape)}",
                              path, len(expected))
        if not reference.dtype.is_floating_point:
            if not torch.equal(value.to(reference.dtype), reference):
                return Comparison(float("inf"), False, f"{path}: integer values differ", path, len(expected))
            continue
        if reference.numel() == 0:
            continue
        difference = (value.double() - reference.double()).abs()
        error = float(difference.max())
        if not (difference <= atol + rtol * reference.double().abs()).all():
            within = False
        if error > worst or not worst_leaf:
            worst, worst_leaf = error, path
    return Comparison(worst, within, "" if within else f"{worst_leaf}: max abs {worst:.3g} outside atol {atol:g} "
                      f"+ rtol {rtol:g} * |expected|", worst_leaf, len(expected))
