"""Tiny stand-ins for the image_edit checkpoints of the tool library (see _tiny.py for the rules they follow).

* ``tiny-qwen-image-edit-plus`` -- Qwen-Image-Edit-2509: the Qwen-Image MMDiT (2x2 patches over the 16-channel
  latents of the Qwen-Image VAE, a causal 3D VAE compressing space by 8: sides of 16) that reads the edited
  image's latents beside the noise, and a Qwen2.5-VL encoder that sees the instruction *and* the image.
* ``tiny-flux-kontext`` -- FLUX.1-Kontext-dev: FLUX.1-dev's structure (the tiny-flux build: packed 16-channel
  latents, guidance embedding, CLIP + T5), with the input image's latents appended to the sequence.
* ``tiny-flux2`` -- FLUX.2-dev: the FLUX.2 transformer over the 32-channel FLUX.2 VAE (8x, then 2x2
  patchified: sides of 16), text from three intermediate layers (10, 20, 30) of a Mistral-Small-3 encoder,
  so the tiny Mistral has the real 40 layers; reference images are appended to the sequence.
* ``tiny-qwen-image-2.1`` -- Qwen-Image-2.1: a single-stream block-causal transformer over the unpatched
  64-channel latents of a 16x RGBA VAE (one token per 16x16 tile, sides of 32 since target tokens are
  grouped 2x2), with a Qwen3-VL encoder; condition images are prepended as their own blocks.

Text encoders are the real transformers classes (Qwen2_5_VLForConditionalGeneration,
Qwen3VLForConditionalGeneration, Mistral3ForConditionalGeneration) at 16 wide, with their vision towers, and
tokenizers built here: byte-level BPE with no merges, plus the special tokens the pipelines' prompt templates
use, at small ids (the model configs name those ids).

Two things differ from the real folders, both because this environment has no torchvision:

* transformers' ``Qwen2VLProcessor`` and ``Qwen3VLProcessor`` cannot be built (or loaded) without it: their
  third part, the video processor, needs torchvision.  The tiny builds save ``Qwen2VLProcessorWithoutVideo``
  and ``Qwen3VLProcessorWithoutVideo``, subclasses with the same image and text handling and no video
  processor, defined below; ``model_index.json`` names this module, so diffusers loads them from here.
* FLUX.2's ``tokenizer`` is a ``PixtralProcessor`` in the real checkpoint, which also needs torchvision.  The
  pipeline only calls its ``apply_chat_template`` (images go to it only for caption upsampling, which the
  library entries do not use), so the tiny build saves the tokenizer alone, with a chat template.

The real checkpoints load only where torchvision is installed.

The edit pipelines resize their input image to about a megapixel before the VAE encodes it (Qwen-Image-Edit
and Qwen-Image-2.1 always, Kontext to its nearest preferred resolution) whatever the output size, so those
VAEs are 4 channels wide at full resolution: that encoding is still most of a 2-step call (2-10 s on two busy
cores, Qwen-Image-Edit's causal 3D VAE the slowest).
"""

from __future__ import annotations

import functools
from typing import Any

import torch

from spagent_graph.tool_adapters.demo_pipelines._base import DemoSpec, _autoencoder_kl, _bytes_to_unicode

# The package's __init__ imports _tiny before anything else, and _tiny imports this module only at its
# end, so everything below already exists there when these names are read.
from .core import _flux1_scheduler, _flux_components, _spec

__all__ = ["TINY"]

#: Width of every tiny text encoder here, and so of the denoisers' text input (3584 for Qwen2.5-VL-7B,
#: 4096 for Qwen3-VL-8B, 3 x 5120 for Mistral-Small's three stacked layers in FLUX.2).
TEXT_WIDTH = 16

#: Qwen's special tokens as the Qwen2.5-VL and Qwen3-VL tokenizers spell them: end of text (also the pad
#: token), chat turns, and the vision markers the edit templates put around an image.
QWEN_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

#: Qwen's chat format (what Qwen2.5-VL's and Qwen3-VL's templates produce for text and images).
QWEN_CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "<|im_start|>{{ message['role'] }}\n"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' -%}<|vision_start|><|image_pad|><|vision_end|>"
    "{%- elif part['type'] == 'text' -%}{{ part['text'] }}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "<|im_end|>\n"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|im_start|>assistant\n{%- endif -%}"
)

#: Mistral's control tokens at the ids the Mistral-Small-3 (tekken) tokenizer gives them: Mistral3Config's
#: default image_token_index (10) and the pad id (11) are these.
MISTRAL_SPECIAL_TOKENS = (
    "<unk>", "<s>", "</s>", "[INST]", "[/INST]", "[AVAILABLE_TOOLS]", "[/AVAILABLE_TOOLS]", "[TOOL_RESULTS]",
    "[/TOOL_RESULTS]", "[TOOL_CALLS]", "[IMG]", "<pad>", "[IMG_BREAK]", "[IMG_END]", "[PREFIX]", "[MIDDLE]",
    "[SUFFIX]", "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]", "[TOOL_CONTENT]",
)  # fmt: skip

#: Mistral-Small-3's chat format for the system and user turns FLUX.2 sends (text parts only).
MISTRAL_CHAT_TEMPLATE = (
    "{{- bos_token -}}"
    "{%- for message in messages -%}"
    "{%- if message['content'] is string -%}{%- set text = message['content'] -%}"
    "{%- else -%}{%- set text = message['content'] | selectattr('type', 'equalto', 'text')"
    " | map(attribute='text') | join('') -%}{%- endif -%}"
    "{%- if message['role'] == 'system' -%}[SYSTEM_PROMPT]{{ text }}[/SYSTEM_PROMPT]"
    "{%- elif message['role'] == 'user' -%}[INST]{{ text }}[/INST]"
    "{%- elif message['role'] == 'assistant' -%}{{ text }}{{ eos_token }}{%- endif -%}"
    "{%- endfor -%}"
)


# ----------------------------------------------------------------------------------------------------------
# Processors without a video part (see the module docstring)
# ----------------------------------------------------------------------------------------------------------

_VIDEO_FREE_PROCESSORS = ("Qwen2VLProcessorWithoutVideo", "Qwen3VLProcessorWithoutVideo")


@functools.cache
def _video_free_processor_classes() -> dict[str, type]:
    """The two processor subclasses, made on first use: importing transformers' processors takes seconds,
    and this module is imported with the package."""
    from transformers import Qwen2VLProcessor, Qwen3VLProcessor

    # ProcessorMixin counts a processor's parts from its __init__'s parameter names, so leaving out
    # `video_processor` is all it takes; the parent's __init__ still sets the image and vision tokens.
    class Qwen2VLProcessorWithoutVideo(Qwen2VLProcessor):
        """transformers' Qwen2VLProcessor (images and text, as Qwen-Image-Edit uses it), no video part."""

        def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
            super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)

    class Qwen3VLProcessorWithoutVideo(Qwen3VLProcessor):
        """transformers' Qwen3VLProcessor (images and text, as Qwen-Image-2.1 uses it), no video part."""

        def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
            super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)

    classes = (Qwen2VLProcessorWithoutVideo, Qwen3VLProcessorWithoutVideo)
    for cls in classes:
        cls.__qualname__ = cls.__name__  # importable as <this module>.<name>, where diffusers looks
    return {cls.__name__: cls for cls in classes}


def __getattr__(name: str) -> Any:
    """What diffusers reads from this module when it loads a saved tiny build: the processor class named in
    model_index.json, and ``ProcessorMixin`` (it picks the loading method by the base classes it finds in
    the component's library)."""
    if name in _VIDEO_FREE_PROCESSORS:
        return _video_free_processor_classes()[name]
    if name == "ProcessorMixin":
        from transformers import ProcessorMixin

        return ProcessorMixin
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ----------------------------------------------------------------------------------------------------------
# Tokenizers, image processors and text encoders
# ----------------------------------------------------------------------------------------------------------


def _byte_vocab(specials: tuple[str, ...] = ()) -> dict[str, int]:
    """The specials first (at the ids given), then the 256 byte symbols of byte-level BPE."""
    tokens = list(specials) + list(_bytes_to_unicode().values())
    return {token: index for index, token in enumerate(tokens)}


def _qwen_tokenizer():
    """A Qwen2Tokenizer (Qwen2.5-VL's and Qwen3-VL's class): Qwen's byte-level pre-tokenizer over the 256 byte
    symbols with no merges, then Qwen's special tokens (ids 256-263)."""
    from transformers import Qwen2Tokenizer

    tokenizer = Qwen2Tokenizer(vocab=_byte_vocab(), merges=[], unk_token=None)
    tokenizer.add_special_tokens({"additional_special_tokens": list(QWEN_SPECIAL_TOKENS)})
    return tokenizer


def _qwen_token_ids(tokenizer) -> dict[str, int]:
    """The ids a Qwen-VL config names: image/video placeholders, vision markers, end of text."""
    ids = dict(zip(QWEN_SPECIAL_TOKENS, tokenizer.convert_tokens_to_ids(list(QWEN_SPECIAL_TOKENS))))
    return {
        "image_token_id": ids["<|image_pad|>"],
        "video_token_id": ids["<|video_pad|>"],
        "vision_start_token_id": ids["<|vision_start|>"],
        "vision_end_token_id": ids["<|vision_end|>"],
        "eos_token_id": ids["<|endoftext|>"],
    }


def _qwen_image_processor(patch_size: int, **overrides):
    """Qwen2-VL's image processor (PIL backend: torchvision is absent), as Qwen2.5-VL and Qwen3-VL configure
    it: ``patch_size`` pixel patches, merged 2x2 into one LLM token, two frames per temporal patch."""
    from transformers import Qwen2VLImageProcessorPil

    return Qwen2VLImageProcessorPil(patch_size=patch_size, merge_size=2, temporal_patch_size=2, **overrides)


def _qwen_vl_config(config_class, tokenizer, *, rope: dict[str, Any], text: dict[str, Any],
                    vision: dict[str, Any]):
    """A Qwen-VL config at 16 wide, the parts Qwen2.5-VL and Qwen3-VL share filled in: a 2-layer language
    model with 2 heads, a 2-block ViT whose output is the language model's width, and the tokenizer's ids
    for the vision tokens."""
    ids = _qwen_token_ids(tokenizer)
    return config_class(
        text_config=dict(
            vocab_size=len(tokenizer), hidden_size=TEXT_WIDTH, intermediate_size=32, num_hidden_layers=2,
            num_attention_heads=2, num_key_value_heads=2, rope_parameters={"rope_type": "default", **rope},
            bos_token_id=ids["eos_token_id"], eos_token_id=ids["eos_token_id"],
            pad_token_id=ids["eos_token_id"], tie_word_embeddings=False, **text,
        ),
        vision_config=dict(depth=2, hidden_size=16, intermediate_size=32, num_heads=2,
                           out_hidden_size=TEXT_WIDTH, spatial_merge_size=2, temporal_patch_size=2, **vision),
        image_token_id=ids["image_token_id"],
        video_token_id=ids["video_token_id"],
        vision_start_token_id=ids["vision_start_token_id"],
        vision_end_token_id=ids["vision_end_token_id"],
        tie_word_embeddings=False,
    )


def _qwen25_vl_text_encoder(seed: int, tokenizer):
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    torch.manual_seed(seed)
    # Qwen2.5-VL-7B at 16 wide: 2 heads of 8 with multimodal RoPE split over (time, height, width) as 1+1+2
    # frequency pairs (16+24+24 in the real model); a 2-block ViT on 14-pixel patches merged 2x2, with
    # windowed attention in block 0 and full attention in block 1 (the real one: full every 8th block).
    config = _qwen_vl_config(
        Qwen2_5_VLConfig, tokenizer, rope={"rope_theta": 1000000.0, "mrope_section": [1, 1, 2]}, text={},
        vision={"patch_size": 14, "window_size": 112, "fullatt_block_indexes": [1]},
    )
    return Qwen2_5_VLForConditionalGeneration(config).eval()


def _qwen3_vl_text_encoder(seed: int, tokenizer):
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration

    torch.manual_seed(seed)
    # Qwen3-VL-8B at 16 wide: 2 heads of 8 with interleaved multimodal RoPE (2+1+1 pairs; 24+20+20 in the
    # real model); a 2-block ViT on 16-pixel patches merged 2x2 with the learned 48x48 position table
    # (interpolated to each image's grid), and its "deepstack" features of block 0 added to the first LLM
    # layer (the real one: blocks 8, 16, 24 into the first three).
    config = _qwen_vl_config(
        Qwen3VLConfig, tokenizer,
        rope={"rope_theta": 5000000.0, "mrope_section": [2, 1, 1], "mrope_interleaved": True},
        text={"head_dim": 8},
        vision={"patch_size": 16, "num_position_embeddings": 2304, "deepstack_visual_indexes": [0]},
    )
    return Qwen3VLForConditionalGeneration(config).eval()


def _mistral_tokenizer():
    """A byte-level BPE tokenizer with Mistral's control tokens at their tekken ids and Mistral-Small-3's chat
    format: what FLUX.2's pipeline reads from its PixtralProcessor (``apply_chat_template``)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE(vocab=_byte_vocab(MISTRAL_SPECIAL_TOKENS), merges=[], unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>"
    )
    tokenizer.add_special_tokens({"additional_special_tokens": list(MISTRAL_SPECIAL_TOKENS[3:])})
    tokenizer.chat_template = MISTRAL_CHAT_TEMPLATE
    return tokenizer


def _mistral3_text_encoder(seed: int, tokenizer):
    from transformers import Mistral3Config, Mistral3ForConditionalGeneration

    torch.manual_seed(seed)
    # Mistral-Small-3.2-24B at 16 wide but with its 40 layers: FLUX.2 stacks the hidden states after layers
    # 10, 20 and 30 (so its transformer reads 3 x 16 = 48 channels).  4 heads of 4 with 2 KV heads (32/8 in
    # the real model); a 1-layer Pixtral tower on 14-pixel patches and the 2x2 patch merger (used only by
    # caption upsampling).
    config = Mistral3Config(
        text_config=dict(
            model_type="mistral",
            vocab_size=len(tokenizer),
            hidden_size=TEXT_WIDTH,
            intermediate_size=37,
            num_hidden_layers=40,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=4,
            max_position_embeddings=1024,
            rope_parameters={"rope_type": "default", "rope_theta": 1000000000.0},
            sliding_window=None,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            tie_word_embeddings=False,
        ),
        vision_config=dict(
            model_type="pixtral",
            hidden_size=16,
            intermediate_size=37,
            num_hidden_layers=1,
            num_attention_heads=4,
            head_dim=4,
            image_size=1540,
            patch_size=14,
        ),
        image_token_index=tokenizer.convert_tokens_to_ids("[IMG]"),
        spatial_merge_size=2,
        vision_feature_layer=-1,
        multimodal_projector_bias=False,
        tie_word_embeddings=False,
    )
    return Mistral3ForConditionalGeneration(config).eval()


def _qwen_image_scheduler():
    from diffusers import FlowMatchEulerDiscreteScheduler

    # Qwen-Image's scheduler config (Qwen-Image-Edit-2509 ships the same): exponential time shift with a
    # resolution-dependent mu, ending at sigma 0.02.
    return FlowMatchEulerDiscreteScheduler(
        num_train_timesteps=1000,
        shift=1.0,
        use_dynamic_shifting=True,
        base_shift=0.5,
        max_shift=0.9,
        base_image_seq_len=256,
        max_image_seq_len=8192,
        shift_terminal=0.02,
        time_shift_type="exponential",
    )


# ----------------------------------------------------------------------------------------------------------
# Qwen-Image-Edit-2509 (QwenImageEditPlusPipeline)
# ----------------------------------------------------------------------------------------------------------


def _qwen_image_edit_plus_components(seed: int) -> dict[str, Any]:
    from diffusers import AutoencoderKLQwenImage, QwenImageTransformer2DModel

    tokenizer = _qwen_tokenizer()
    processor = _video_free_processor_classes()["Qwen2VLProcessorWithoutVideo"](
        image_processor=_qwen_image_processor(14), tokenizer=tokenizer, chat_template=QWEN_CHAT_TEMPLATE
    )
    torch.manual_seed(seed)
    # Qwen-Image's MMDiT: 2x2 patches over 16 latent channels (in_channels 64, so sides of 8 x 2 = 16), no
    # guidance embedding, 3-axis RoPE whose axes sum to the head width (4 + 6 + 6 = 16; 16 + 56 + 56 = 128 in
    # the real model).  2 heads of 16, one block; joint_attention_dim = the text encoder's width.
    transformer = QwenImageTransformer2DModel(
        patch_size=2,
        in_channels=64,
        out_channels=16,
        num_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=TEXT_WIDTH,
        guidance_embeds=False,
        axes_dims_rope=(4, 6, 6),
    ).eval()
    torch.manual_seed(seed)
    # The Qwen-Image VAE (Wan 2.1's causal 3D layout): three 2x downsamplings, 16 latent channels with the
    # real per-channel mean/std (the class defaults); 4 channels at full resolution instead of 96, since
    # the pipeline encodes every input image at about 1024x1024.
    vae = AutoencoderKLQwenImage(
        base_dim=4, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=1, temperal_downsample=[False, True, True]
    ).eval()
    return {
        "scheduler": _qwen_image_scheduler(),
        "vae": vae,
        "text_encoder": _qwen25_vl_text_encoder(seed, tokenizer),
        "tokenizer": tokenizer,
        "processor": processor,
        "transformer": transformer,
    }


# ----------------------------------------------------------------------------------------------------------
# FLUX.1-Kontext-dev (FluxKontextPipeline)
# ----------------------------------------------------------------------------------------------------------


def _flux_kontext_components(seed: int) -> dict[str, Any]:
    # FLUX.1-Kontext-dev has FLUX.1-dev's components and configs (tiny-flux), except that the pipeline encodes
    # the input image at about a megapixel (its nearest preferred resolution): the tiny VAE is 4 channels wide
    # at full resolution instead of 32, with the same 8x compression, 16 channels, shift and scale.
    components = _flux_components(seed)
    components["vae"] = _autoencoder_kl(
        seed,
        block_out_channels=[4, 8, 8, 8],
        norm_num_groups=4,
        latent_channels=16,
        use_quant_conv=False,
        use_post_quant_conv=False,
        shift_factor=0.1159,
        scaling_factor=0.3611,
    )
    return components


# ----------------------------------------------------------------------------------------------------------
# FLUX.2-dev (Flux2Pipeline)
# ----------------------------------------------------------------------------------------------------------


def _flux2_components(seed: int) -> dict[str, Any]:
    from diffusers import AutoencoderKLFlux2, Flux2Transformer2DModel

    tokenizer = _mistral_tokenizer()
    torch.manual_seed(seed)
    # FLUX.2-dev: 32 latent channels patchified 2x2 (in_channels 128; sides of 8 x 2 = 16), guidance
    # embedding, 4-axis RoPE (t, h, w, l) whose axes sum to the head width (4 x 4 = 16; 4 x 32 = 128 in the
    # real model).  joint_attention_dim = the three stacked Mistral layers (3 x 16).  One double-stream and
    # one single-stream block (8 and 48 in the real model), 2 heads of 16.
    transformer = Flux2Transformer2DModel(
        patch_size=1,
        in_channels=128,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=3 * TEXT_WIDTH,
        timestep_guidance_channels=256,
        mlp_ratio=3.0,
        axes_dims_rope=(4, 4, 4, 4),
        rope_theta=2000,
        guidance_embeds=True,
    ).eval()
    torch.manual_seed(seed)
    # The FLUX.2 VAE: four blocks (8x), 32 latent channels, quant convs, then a 2x2 patchifier with batch-norm
    # statistics; 4-8 channels instead of 128-512.
    vae = AutoencoderKLFlux2(
        block_out_channels=(4, 8, 8, 8),
        layers_per_block=1,
        latent_channels=32,
        norm_num_groups=4,
        sample_size=64,
        patch_size=(2, 2),
    ).eval()
    return {
        "scheduler": _flux1_scheduler(),
        "vae": vae,
        "text_encoder": _mistral3_text_encoder(seed, tokenizer),
        "tokenizer": tokenizer,
        "transformer": transformer,
    }


# ----------------------------------------------------------------------------------------------------------
# Qwen-Image-2.1 (QwenImage21Pipeline)
# ----------------------------------------------------------------------------------------------------------


def _qwen_image21_components(seed: int) -> dict[str, Any]:
    from diffusers import AutoencoderKLQwenImage21, QwenImage21Transformer2DModel

    tokenizer = _qwen_tokenizer()
    # Qwen3-VL's image settings: 16-pixel patches, mean and std 0.5, up to 16M pixels.
    image_processor = _qwen_image_processor(
        16,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
        size={"shortest_edge": 65536, "longest_edge": 16777216},
    )
    processor = _video_free_processor_classes()["Qwen3VLProcessorWithoutVideo"](
        image_processor=image_processor, tokenizer=tokenizer, chat_template=QWEN_CHAT_TEMPLATE
    )
    torch.manual_seed(seed)
    # Qwen-Image-2.1: single-stream blocks with block-causal attention and `causal_condition` (text and
    # condition images modulated at t = 0, so their keys and values are cached after step 1), over unpatched
    # 64-channel latents.  3-axis RoPE 4 + 6 + 6 = the head width (16 + 56 + 56 = 128); 2 heads of 16, one
    # block (32 in the real model); context_in_dim = the text encoder's width.
    transformer = QwenImage21Transformer2DModel(
        patch_size=1,
        in_channels=64,
        out_channels=64,
        num_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        context_in_dim=TEXT_WIDTH,
        mlp_ratio=3,
        axes_dims_rope=(4, 6, 6),
        causal_condition=True,
    ).eval()
    torch.manual_seed(seed)
    # The Qwen-Image-2.1 VAE: RGBA in and out, residual causal 3D blocks with four 2x downsamplings (16x),
    # 64 latent channels with the real per-channel mean/std (the class defaults); 4-6 channels instead of
    # 96-144, one block per level.
    vae = AutoencoderKLQwenImage21(
        base_dim=4,
        decoder_base_dim=6,
        z_dim=64,
        dim_mult=[1, 2, 2, 2, 2],
        num_res_blocks=1,
        temperal_downsample=[False, True, True, True],
    ).eval()
    return {
        "scheduler": _qwen_image_scheduler(),
        "vae": vae,
        "text_encoder": _qwen3_vl_text_encoder(seed, tokenizer),
        "processor": processor,
        "transformer": transformer,
        "sample_sigmas": None,  # the base model's default: a linear grid of num_inference_steps
    }


# ----------------------------------------------------------------------------------------------------------
# Registry
# ----------------------------------------------------------------------------------------------------------

_IMAGE = {"height": 64, "width": 96}

TINY: dict[str, DemoSpec] = {
    spec.name: spec
    for spec in [
        _spec(
            "tiny-qwen-image-edit-plus", "image_to_image", "QwenImageEditPlusPipeline",
            _qwen_image_edit_plus_components,
            description="Qwen-Image-Edit-2509: Qwen-Image MMDiT (2x2 patches, sides of 16) over the 8x causal"
            " 3D VAE, a Qwen2.5-VL encoder that reads the instruction and the image.",
            input_arg="image", output_attr="images",
            call_kwargs=dict(_IMAGE, negative_prompt=" ", true_cfg_scale=4.0),
            mirrors=("Qwen/Qwen-Image-Edit-2509",),
        ),
        _spec(
            "tiny-flux-kontext", "image_to_image", "FluxKontextPipeline", _flux_kontext_components,
            description="FLUX.1-Kontext-dev: FLUX.1-dev's structure, the input image's latents appended to"
            " the sequence.",
            input_arg="image", output_attr="images",
            call_kwargs=dict(_IMAGE, max_area=_IMAGE["height"] * _IMAGE["width"]),
            mirrors=("black-forest-labs/FLUX.1-Kontext-dev",),
        ),
        _spec(
            "tiny-flux2", "text_to_image", "Flux2Pipeline", _flux2_components,
            description="FLUX.2-dev: 32-channel VAE patchified 2x2 (sides of 16), a 40-layer Mistral-Small-3"
            " encoder read at layers 10, 20, 30; reference images through `image`.",
            output_attr="images", call_kwargs=dict(_IMAGE),
            mirrors=("black-forest-labs/FLUX.2-dev",),
        ),
        _spec(
            "tiny-qwen-image-2.1", "text_to_image", "QwenImage21Pipeline", _qwen_image21_components,
            description="Qwen-Image-2.1: block-causal single-stream transformer over a 16x RGBA VAE's"
            " 64-channel latents (sides of 32), a Qwen3-VL encoder; condition images through `image`.",
            output_attr="images", call_kwargs=dict(_IMAGE),
            mirrors=("Qwen/Qwen-Image-2.1",),
        ),
    ]
}
