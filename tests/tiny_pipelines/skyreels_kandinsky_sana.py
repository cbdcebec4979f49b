"""Tiny stand-ins for the SkyReels-V2, Kandinsky 5 video and SANA-Video checkpoints of the tool library (see
_tiny.py for the rules they follow).

* ``tiny-skyreels-v2`` / ``tiny-skyreels-v2-df`` / ``tiny-skyreels-v2-i2v`` -- SkyReels-V2, a Wan 2.1
  derivative: the Wan 2.1 VAE (8x spatial, 4x temporal with the first frame apart, 16 latent channels), a
  1x2x2-patch RoPE transformer (sides multiples of 16), UMT5 text.  The diffusion-forcing 1.3B adds the
  frame-rate embedding (``inject_sample_info``) that its pipeline feeds; the I2V models take 36 input
  channels (noise 16 + mask 4 + image latents 16) and cross-attend to CLIP ViT-H image tokens.  Saved with
  the scheduler the hub repos hold (UniPC on flow sigmas, shift 1: diffusers' conversion script sets none),
  so the registry entries' own shift (8 text-to-video, 5 image-to-video, as the model cards say) is what a
  run uses.
* ``tiny-kandinsky5`` -- Kandinsky 5.0 video (Lite T2V and Pro I2V share the layout): the HunyuanVideo VAE
  (8x, 4x, 16 channels), a CrossDiT with text-refiner blocks, 3-axis RoPE and ``visual_cond`` (the latents
  carry a conditioning frame and its mask: 2 x 16 + 1 input channels), Qwen2.5-VL for the prompt and CLIP
  ViT-L for the pooled embedding.  Kandinsky5T2VPipeline and Kandinsky5I2VPipeline both load it.
* ``tiny-sana-video`` -- SANA-Video 2B 480p: the Wan 2.1 VAE, a linear-attention DiT with 1x2x2 patches
  and RoPE, Gemma 2 for text, DPM-Solver on flow sigmas (shift 8); SanaImageToVideoPipeline loads it too.

The LLM text encoders are the real transformers classes (``Qwen2_5_VLForConditionalGeneration`` with its
vision tower, ``Gemma2Model``) at 32 wide and one layer.  Their tokenizers are byte-level BPE (Qwen2) and
byte-fallback BPE (Gemma) built here with the ``tokenizers`` library, merges learnt from the pipelines'
own system prompts so that those prompts take about as many tokens as with the real vocabularies.  That
matters for Kandinsky 5: its pipeline drops the first 128 hidden states (``prompt_template_encode_start_idx``,
the real tokenizer's length of the system prompt), so the tiny tokenizer is made to give exactly 128 there.

One component differs from the hub repos: Kandinsky's ``tokenizer`` is saved as a plain ``Qwen2Tokenizer``
where the repos hold a ``Qwen2VLProcessor``, which transformers 5 cannot construct without torchvision (not
a dependency here) even for text.  The pipelines only tokenise text with it, and the registry entries load
the real repos' tokenizer files the same way (``components: tokenizer: {class: Qwen2Tokenizer}``).
"""

from __future__ import annotations

import functools
import json
import string
from typing import Any

import torch

from spagent_graph.tool_adapters.demo_pipelines._base import (
    DemoSpec,
    _clip_image_processor,
    _clip_text_encoder,
    _clip_vision_encoder,
    _t5_text_encoder,
    build_clip_tokenizer,
)

# The package's __init__ imports _tiny before anything else, and _tiny imports this module only at its
# end, so everything below already exists there when these names are read.
from .core import _VIDEO, TEXT_DIM, TINY_WAN_DENOISER, _spec, _wan21_vae

__all__ = ["TINY", "build_gemma2_tokenizer", "build_qwen2_prefix_tokenizer"]

#: Kandinsky 5's Qwen2.5-VL system prompt, everything before the user's text (the pipelines' own
#: ``prompt_template``, diffusers 0.42).  The real tokenizer splits it into 128 tokens.
KANDINSKY_PROMPT_PREFIX = "\n".join(
    [
        "<|im_start|>system\nYou are a prompt engineer. Describe the video in detail.",
        "Describe how the camera moves or shakes, describe the zoom and view angle, whether it follows the"
        " objects.",
        "Describe the location of the video, main characters or objects and their action.",
        "Describe the dynamism of the video and presented actions.",
        "Name the visual style of the video: whether it is a professional footage, user generated content,"
        " some kind of animation, video game or scren content.",
        "Describe the visual effects, postprocessing and transitions if they are presented in the video.",
        "Pay attention to the order of key actions shown in the scene.<|im_end|>",
        "<|im_start|>user\n",
    ]
)
#: ``Kandinsky5T2VPipeline.prompt_template_encode_start_idx``.
KANDINSKY_PROMPT_PREFIX_TOKENS = 128
#: Qwen2.5-VL's special tokens, in the real vocabulary's order (after ``<|endoftext|>``).
QWEN_SPECIAL_TOKENS = (
    "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>",
    "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
    "<|image_pad|>", "<|video_pad|>",
)


# ----------------------------------------------------------------------------------------------------------
# Tokenizers of the LLM text encoders, built in code
# ----------------------------------------------------------------------------------------------------------


def _learn_bpe(corpus: list[str], pre_tokenizer, alphabet: list[str], vocab_size: int, normalizer=None):
    """(vocab, merges) of a BPE model trained on ``corpus`` with the given pre-tokenisation."""
    from tokenizers import Tokenizer, models, trainers

    tokenizer = Tokenizer(models.BPE())
    if normalizer is not None:
        tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre_tokenizer
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=alphabet, show_progress=False)
    tokenizer.train_from_iterator(corpus, trainer)
    model = json.loads(tokenizer.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    return model["vocab"], merges


def build_qwen2_prefix_tokenizer(
    corpus: list[str] = (KANDINSKY_PROMPT_PREFIX,),
    prefix: str = KANDINSKY_PROMPT_PREFIX,
    prefix_tokens: int | None = KANDINSKY_PROMPT_PREFIX_TOKENS,
):
    """A ``Qwen2Tokenizer`` (byte-level BPE, Qwen2's pre-tokenising regex, the chat special tokens) whose
    merges are learnt from ``corpus``; any text still tokenises, byte by byte where no merge applies.

    With ``prefix_tokens``, the vocabulary is cut so that ``prefix`` takes exactly that many tokens (each
    merge dropped splits one more word of it in two), as the pipeline that slices after it expects.
    """
    from tokenizers import Regex, normalizers, pre_tokenizers
    from transformers import Qwen2Tokenizer
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    texts = [_without_specials(text) for text in corpus]
    pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )

    def build(vocab_size: int):
        learnt, merges = _learn_bpe(texts, pre_tokenizer, pre_tokenizers.ByteLevel.alphabet(), vocab_size,
                                    normalizers.NFC())
        ordered = sorted(learnt, key=learnt.get)
        vocab = {"<|endoftext|>": 0, **{token: i + 1 for i, token in enumerate(ordered)}}
        tokenizer = Qwen2Tokenizer(
            vocab=vocab, merges=merges, eos_token="<|im_end|>", pad_token="<|endoftext|>",
            additional_special_tokens=list(QWEN_SPECIAL_TOKENS),
        )
        return tokenizer, len(learnt)

    tokenizer, learnt = build(4096)  # more than the corpus can fill: every word of it becomes one token
    if prefix_tokens is not None:
        count = len(tokenizer(prefix).input_ids)
        if count < prefix_tokens:
            tokenizer, _ = build(learnt - (prefix_tokens - count))
            count = len(tokenizer(prefix).input_ids)
        if count != prefix_tokens:
            raise RuntimeError(f"the tiny Qwen2 tokenizer splits the prompt prefix into {count} tokens, "
                               f"not {prefix_tokens}")
    return tokenizer


def _without_specials(text: str) -> str:
    for token in QWEN_SPECIAL_TOKENS:
        text = text.replace(token, "\n")
    return text


def build_gemma2_tokenizer(corpus: list[str] = ()):
    """A ``GemmaTokenizer`` as Gemma 2's: BPE over "▁"-joined text with byte fallback, <pad> <eos> <bos>
    <unk> <mask> at ids 0-4, the 256 byte tokens, every printable ASCII character, and merges learnt from
    ``corpus`` (whole words of it become single tokens)."""
    from tokenizers import normalizers, pre_tokenizers
    from transformers import GemmaTokenizer

    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"]
    alphabet = ["\u2581"] + [c for c in string.printable if not c.isspace()]
    learnt, merges = _learn_bpe(
        list(corpus) or [" ".join(alphabet)],
        pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="never"),
        alphabet,
        4096,
        normalizers.Replace(" ", "\u2581"),
    )
    tokens = specials + [f"<0x{b:02X}>" for b in range(256)] + alphabet + list(learnt)
    vocab: dict[str, int] = {}
    for token in tokens:
        vocab.setdefault(token, len(vocab))
    return GemmaTokenizer(vocab=vocab, merges=merges, add_bos_token=True, add_eos_token=False)


# ----------------------------------------------------------------------------------------------------------
# SkyReels-V2
# ----------------------------------------------------------------------------------------------------------


def _skyreels_components(seed: int, variant: str) -> dict[str, Any]:
    from diffusers import SkyReelsV2Transformer3DModel, UniPCMultistepScheduler

    i2v = variant == "i2v"
    torch.manual_seed(seed)
    # Wan 2.1's denoiser as SkyReels-V2 configures it: 1x2x2 patches over 16 latent channels, RoPE, q/k
    # RMS-normed across heads, normed cross-attention to the UMT5 tokens (text_dim = the tiny UMT5 width).
    # DF-1.3B: the frame-rate embedding (16 fps or not) its diffusion-forcing pipeline passes.  I2V: 36
    # input channels and added K/V projections for the CLIP image tokens (image_dim = the CLIP width).  2
    # heads of 16 (RoPE splits a head over 3 axes), one layer.
    transformer = SkyReelsV2Transformer3DModel(
        **TINY_WAN_DENOISER,
        in_channels=36 if i2v else 16,
        out_channels=16,
        num_layers=1,
        image_dim=32 if i2v else None,
        added_kv_proj_dim=32 if i2v else None,
        inject_sample_info=variant == "df",
    ).eval()
    text_encoder, tokenizer = _t5_text_encoder(seed, d_model=TEXT_DIM, umt5=True)
    components = {
        "tokenizer": tokenizer,
        "text_encoder": text_encoder,
        "vae": _wan21_vae(seed),
        # What diffusers' conversion script saved in the hub repos: UniPC on flow sigmas with no shift.
        "scheduler": UniPCMultistepScheduler(
            num_train_timesteps=1000, prediction_type="flow_prediction", use_flow_sigmas=True
        ),
        "transformer": transformer,
    }
    if i2v:
        from transformers import CLIPProcessor

        # open-clip ViT-H/14 in the repos: a CLIPVisionModelWithProjection (the pipeline reads its
        # penultimate hidden state) at 224 px, with a CLIPProcessor (image processor and tokenizer).
        components["image_encoder"] = _clip_vision_encoder(seed, image_size=224, patch_size=32)
        components["image_processor"] = CLIPProcessor(
            image_processor=_clip_image_processor(224), tokenizer=build_clip_tokenizer()
        )
    return components


# ----------------------------------------------------------------------------------------------------------
# Kandinsky 5.0 video
# ----------------------------------------------------------------------------------------------------------


def _qwen25_vl_text_encoder(seed: int, tokenizer):
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    ids = tokenizer.convert_tokens_to_ids
    torch.manual_seed(seed)
    # Qwen2.5-VL-7B's classes at 32 wide: one decoder layer, 2 query heads sharing 1 key/value head (7B: 28
    # and 4), multimodal RoPE whose three sections cover the 8 rotary pairs of a 16-wide head, and a
    # one-block vision tower that text prompts never reach.  vocab_size is the tiny tokenizer's.
    config = Qwen2_5_VLConfig(
        text_config=dict(
            hidden_size=TEXT_DIM,
            intermediate_size=37,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=1,
            vocab_size=len(tokenizer),
            max_position_embeddings=4096,
            rope_theta=1000000.0,
            rope_scaling={"type": "default", "rope_type": "default", "mrope_section": [2, 2, 4]},
            bos_token_id=ids("<|endoftext|>"),
            eos_token_id=ids("<|im_end|>"),
        ),
        vision_config=dict(
            depth=1, hidden_size=16, intermediate_size=16, num_heads=2, out_hidden_size=TEXT_DIM,
            fullatt_block_indexes=[0],
        ),
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
    )
    return Qwen2_5_VLForConditionalGeneration(config).eval()


def _kandinsky5_vae(seed: int):
    from diffusers import AutoencoderKLHunyuanVideo

    torch.manual_seed(seed)
    # The HunyuanVideo VAE: four causal-3D levels, three spatial 2x and two temporal 2x downsamplings (8x,
    # 4x with the first frame apart), 16 latent channels, scaling factor 0.476986; 8 channels per level
    # instead of 128-512, one resnet each.
    return AutoencoderKLHunyuanVideo(
        in_channels=3,
        out_channels=3,
        latent_channels=16,
        down_block_types=("HunyuanVideoDownBlock3D",) * 4,
        up_block_types=("HunyuanVideoUpBlock3D",) * 4,
        block_out_channels=(8, 8, 8, 8),
        layers_per_block=1,
        norm_num_groups=4,
        act_fn="silu",
        scaling_factor=0.476986,
        spatial_compression_ratio=8,
        temporal_compression_ratio=4,
        mid_block_add_attention=True,
    ).eval()


def _kandinsky5_components(seed: int) -> dict[str, Any]:
    from diffusers import FlowMatchEulerDiscreteScheduler, Kandinsky5Transformer3DModel

    tokenizer = build_qwen2_prefix_tokenizer()
    text_encoder = _qwen25_vl_text_encoder(seed, tokenizer)
    text_encoder_2, tokenizer_2 = _clip_text_encoder(seed)
    torch.manual_seed(seed)
    # The 5-second models' CrossDiT: 1x2x2 patches, full ("regular") attention (the 10-second ones use
    # NABLA sparse attention), visual_cond (noise, a conditioning latent frame and its mask: 2 x 16 + 1
    # channels in), 3-axis RoPE whose axes sum to the head width (4 + 6 + 6 = 16; Lite 16 + 24 + 24, Pro
    # 32 + 48 + 48).  in_text_dim = the Qwen width, in_text_dim2 = the CLIP width; one text-refiner block and
    # one visual block, 2 heads.
    transformer = Kandinsky5Transformer3DModel(
        in_visual_dim=16,
        out_visual_dim=16,
        in_text_dim=TEXT_DIM,
        in_text_dim2=text_encoder_2.config.hidden_size,
        time_dim=32,
        patch_size=(1, 2, 2),
        model_dim=32,
        ff_dim=64,
        num_text_blocks=1,
        num_visual_blocks=1,
        axes_dims=(4, 6, 6),
        visual_cond=True,
        attention_type="regular",
    ).eval()
    return {
        "transformer": transformer,
        "vae": _kandinsky5_vae(seed),
        "text_encoder": text_encoder,
        # A Qwen2Tokenizer where the repos hold a Qwen2VLProcessor: see the module docstring.
        "tokenizer": tokenizer,
        "text_encoder_2": text_encoder_2,
        "tokenizer_2": tokenizer_2,
        # Flow matching with the original code's scheduler_scale of 10 as the shift.
        "scheduler": FlowMatchEulerDiscreteScheduler(shift=10.0),
    }


# ----------------------------------------------------------------------------------------------------------
# SANA-Video
# ----------------------------------------------------------------------------------------------------------


def _sana_instruction() -> str:
    import inspect

    from diffusers import SanaVideoPipeline

    # The "complex human instruction" the pipeline puts before every prompt, from its signature's default.
    parameters = inspect.signature(SanaVideoPipeline.__call__).parameters
    return "\n".join(parameters["complex_human_instruction"].default)


def _sana_video_components(seed: int) -> dict[str, Any]:
    from diffusers import DPMSolverMultistepScheduler, SanaVideoTransformer3DModel
    from transformers import Gemma2Config, Gemma2Model

    tokenizer = build_gemma2_tokenizer([_sana_instruction()])
    torch.manual_seed(seed)
    # Gemma 2 2B's decoder (the repo holds AutoModelForCausalLM(...).get_decoder(), a Gemma2Model): one
    # layer, 2 query heads of 16 sharing one key/value head, its soft-capping and sliding window kept.
    text_encoder = Gemma2Model(
        Gemma2Config(
            vocab_size=len(tokenizer),
            hidden_size=TEXT_DIM,
            intermediate_size=37,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=1,
            head_dim=16,
            max_position_embeddings=8192,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    ).eval()
    torch.manual_seed(seed)
    # SANA-Video 2B 480p: linear self-attention, cross-attention to the Gemma tokens (caption_channels = the
    # Gemma width), 1x2x2 patches over the Wan VAE's 16 channels, RoPE, mlp_ratio 3; sample_size 30 is the
    # 480p marker the pipeline's resolution binning reads.  2 heads of 16, one layer.
    transformer = SanaVideoTransformer3DModel(
        in_channels=16,
        out_channels=16,
        num_attention_heads=2,
        attention_head_dim=16,
        num_layers=1,
        num_cross_attention_heads=2,
        cross_attention_head_dim=16,
        cross_attention_dim=32,
        caption_channels=TEXT_DIM,
        mlp_ratio=3.0,
        attention_bias=False,
        sample_size=30,
        patch_size=(1, 2, 2),
        norm_elementwise_affine=False,
        norm_eps=1e-6,
        qk_norm="rms_norm_across_heads",
        rope_max_seq_len=1024,
    ).eval()
    return {
        "tokenizer": tokenizer,
        "text_encoder": text_encoder,
        "vae": _wan21_vae(seed),
        "transformer": transformer,
        # The repo's flow DPM-Solver with shift 8 (diffusers' conversion script, text-to-video).
        "scheduler": DPMSolverMultistepScheduler(
            flow_shift=8.0, use_flow_sigmas=True, prediction_type="flow_prediction"
        ),
    }


# ----------------------------------------------------------------------------------------------------------
# Registry
# ----------------------------------------------------------------------------------------------------------

_NINE_FRAMES = dict(_VIDEO, num_frames=9)

TINY: dict[str, DemoSpec] = {
    spec.name: spec
    for spec in [
        _spec(
            "tiny-skyreels-v2", "text_to_video", "SkyReelsV2Pipeline",
            functools.partial(_skyreels_components, variant="t2v"),
            description="SkyReels-V2 T2V (and DF 14B, same layout): Wan 2.1 VAE 8x/4x, 1x2x2 patches, UMT5;"
            " SkyReelsV2DiffusionForcingPipeline loads it too.",
            accepts_num_frames=True, default_output_type="np", call_kwargs=_NINE_FRAMES,
            mirrors=(
                "Skywork/SkyReels-V2-T2V-14B-540P-Diffusers",
                "Skywork/SkyReels-V2-T2V-14B-720P-Diffusers",
                "Skywork/SkyReels-V2-DF-14B-540P-Diffusers",
                "Skywork/SkyReels-V2-DF-14B-720P-Diffusers",
            ),
        ),
        _spec(
            "tiny-skyreels-v2-df", "text_to_video", "SkyReelsV2DiffusionForcingPipeline",
            functools.partial(_skyreels_components, variant="df"),
            description="SkyReels-V2 DF 1.3B: the T2V layout plus the frame-rate embedding; diffusion forcing"
            " (per-frame timesteps, sliding windows for long videos).",
            accepts_num_frames=True, default_output_type="np", call_kwargs=_NINE_FRAMES,
            mirrors=("Skywork/SkyReels-V2-DF-1.3B-540P-Diffusers",),
        ),
        _spec(
            "tiny-skyreels-v2-i2v", "image_to_video", "SkyReelsV2ImageToVideoPipeline",
            functools.partial(_skyreels_components, variant="i2v"),
            description="SkyReels-V2 I2V: 36 input channels, CLIP ViT-H image tokens through added K/V.",
            input_arg="image", accepts_num_frames=True, default_output_type="np", call_kwargs=_NINE_FRAMES,
            mirrors=(
                "Skywork/SkyReels-V2-I2V-1.3B-540P-Diffusers",
                "Skywork/SkyReels-V2-I2V-14B-540P-Diffusers",
                "Skywork/SkyReels-V2-I2V-14B-720P-Diffusers",
            ),
        ),
        _spec(
            "tiny-kandinsky5", "text_to_video", "Kandinsky5T2VPipeline", _kandinsky5_components,
            description="Kandinsky 5.0 video (5 s Lite T2V, Pro T2V/I2V): HunyuanVideo VAE 8x/4x, CrossDiT"
            " with visual_cond, Qwen2.5-VL + CLIP; Kandinsky5I2VPipeline loads it too.",
            accepts_num_frames=True, call_kwargs=_NINE_FRAMES,
            mirrors=(
                "kandinskylab/Kandinsky-5.0-T2V-Lite-sft-5s-Diffusers",
                "kandinskylab/Kandinsky-5.0-T2V-Lite-nocfg-5s-Diffusers",
                "kandinskylab/Kandinsky-5.0-T2V-Lite-distilled16steps-5s-Diffusers",
                "kandinskylab/Kandinsky-5.0-T2V-Lite-pretrain-5s-Diffusers",
                "kandinskylab/Kandinsky-5.0-T2V-Pro-sft-5s-Diffusers",
                "kandinskylab/Kandinsky-5.0-I2V-Pro-sft-5s-Diffusers",
            ),
        ),
        _spec(
            "tiny-sana-video", "text_to_video", "SanaVideoPipeline", _sana_video_components,
            description="SANA-Video 2B 480p: linear-attention DiT, Wan 2.1 VAE 8x/4x, Gemma 2; takes"
            " `frames`, not `num_frames`; SanaImageToVideoPipeline loads it too.",
            call_kwargs=dict(_VIDEO, frames=9, use_resolution_binning=False),
            mirrors=("Efficient-Large-Model/SANA-Video_2B_480p_diffusers",),
        ),
    ]
}
