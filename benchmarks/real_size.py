"""Real-size pipelines with random weights for the tool library's newer video entries.

`build(entry, device, dtype)` constructs the diffusers pipeline of a `registries/library.yaml` entry
(its `pipeline` class) at the published checkpoint's size, every module created directly on `device` in
`dtype`, with nothing downloaded and nothing written to disk.  Two uses:

* GPU benchmarks: the time and memory of a model whose weights are not here (a 28B-parameter Wan 2.2
  A14B pair never exists in float32 or on the CPU);
* checking the registry: on `device="meta"` the build costs no memory, and `parameter_counts` must match
  each entry's `parameters` (tests/unit/test_real_size_builders.py).

    python benchmarks/real_size.py                         # every entry on meta: counts vs the registry
    python benchmarks/real_size.py ltx-2 --device cuda     # one entry built on the GPU (bfloat16)

Where the configs come from (the published checkpoints' own numbers):

* Wan 2.2 TI2V 5B and A14B: diffusers' scripts/convert_wan_to_diffusers.py (the transformers' configs and
  the Wan 2.2 VAE's `vae22_diffusers_config`; the Wan 2.1 VAE is `AutoencoderKLWan()`'s defaults);
* SkyReels-V2: scripts/convert_skyreelsv2_to_diffusers.py; its image encoder is
  laion/CLIP-ViT-H-14-laion2B-s32B-b79K's vision tower;
* Kandinsky 5.0: the original repo's DiT configs (kandinskylab/kandinsky-5:
  configs/k5_lite_t2v_5s_sft_sd.yaml, configs/k5_pro_i2v_5s_sft_sd.yaml); the HunyuanVideo VAE is
  `AutoencoderKLHunyuanVideo()`'s defaults;
* SANA-Video 2B 480p: scripts/convert_sana_video_to_diffusers.py (480p: Wan 2.1 VAE, 1x2x2 patches);
* LTX-2: scripts/convert_ltx2_to_diffusers.py at `--version 2.0` (transformer, connectors, video VAE
  without timestep conditioning, audio VAE, vocoder);
* HunyuanVideo 1.5 480p: scripts/convert_hunyuan_video1_5_to_diffusers.py (transformer and VAE are the
  classes' defaults but for `target_size` 640 and `task_type`); its image encoder is
  black-forest-labs/FLUX.1-Redux-dev's SigLIP so400m/14-384;
* text encoders, from their config.json: google/umt5-xxl, Qwen/Qwen2.5-VL-7B-Instruct,
  openai/clip-vit-large-patch14 (text tower), Efficient-Large-Model/gemma-2-2b-it (decoder only),
  google/gemma-3-12b-it (LTX-2's converter takes its QAT-unquantized twin, the same architecture),
  google/byt5-small's encoder with HunyuanVideo 1.5's 1510-token glyph vocabulary.

Tokenizers and image processors are the tiny stand-ins' (tests/tiny_pipelines): their vocabularies are smaller
than the models' embedding tables, so every id stays in range; the models themselves are real-size.
Schedulers are the hub repos' (as the tiny stand-ins hold them), with the entry's own scheduler settings
(`components`) applied on top, as the tool applies them when it loads the real weights.
"""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import copy
import functools
import inspect
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

# The tiny stand-ins' tokenizers and constants live with the tests (tests/tiny_pipelines); only tests/ goes
# on the path, not the repository root, whose source folder would shadow the installed package.
sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))

__all__ = ["BUILDERS", "build", "parameter_counts", "revive_zeroed_layers"]


# ----------------------------------------------------------------------------------------------------------
# Text and image encoders
# ----------------------------------------------------------------------------------------------------------


def _umt5_xxl():
    from transformers import UMT5Config, UMT5EncoderModel

    # google/umt5-xxl: its 256384-token table is a fifth of the 5.68B.
    return UMT5EncoderModel(UMT5Config(
        vocab_size=256384, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
        relative_attention_num_buckets=32, relative_attention_max_distance=128,
        feed_forward_proj="gated-gelu", is_encoder_decoder=False, use_cache=False, tie_word_embeddings=False,
    ))


def _clip_vit_h14_vision():
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    # laion/CLIP-ViT-H-14-laion2B-s32B-b79K's vision tower with its projection (SkyReels-V2 I2V).
    return CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=16,
        image_size=224, patch_size=14, projection_dim=1024, hidden_act="gelu", layer_norm_eps=1e-5,
    ))


def _clip_vit_l14_text(tokenizer):
    from transformers import CLIPTextConfig, CLIPTextModel

    # openai/clip-vit-large-patch14's text tower.  The special ids are the tiny tokenizer's, so that the
    # pooled output is read at its end-of-text token (the real ids lie beyond its vocabulary).
    return CLIPTextModel(CLIPTextConfig(
        vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
        num_attention_heads=12, max_position_embeddings=77, projection_dim=768, hidden_act="quick_gelu",
        layer_norm_eps=1e-5,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    ))


def _qwen25_vl_7b_text_config() -> dict[str, Any]:
    # Qwen/Qwen2.5-VL-7B-Instruct's language model (config.json's text part); mrope_section splits the 64
    # rotary pairs of a 128-wide head over time, height and width.
    return dict(
        vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
        num_attention_heads=28, num_key_value_heads=4, hidden_act="silu", max_position_embeddings=128000,
        rms_norm_eps=1e-6,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
    )


def _qwen25_vl_7b():
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    # Kandinsky 5 loads the whole model (vision tower and LM head too; the head is not tied), though it
    # only reads hidden states of text.
    return Qwen2_5_VLForConditionalGeneration(Qwen2_5_VLConfig(
        text_config=_qwen25_vl_7b_text_config(),
        vision_config=dict(
            depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=3584,
            patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=112,
            fullatt_block_indexes=[7, 15, 23, 31], hidden_act="silu",
        ),
        tie_word_embeddings=False,
    ))


def _qwen25_vl_7b_text_model():
    from transformers import Qwen2_5_VLTextConfig, Qwen2_5_VLTextModel

    # HunyuanVideo 1.5 keeps only the language model, without its head.
    return Qwen2_5_VLTextModel(Qwen2_5_VLTextConfig(**_qwen25_vl_7b_text_config()))


def _byt5_small_glyph():
    from transformers import T5Config, T5EncoderModel

    # google/byt5-small's encoder, its 384-token table grown to 1510 by the glyph checkpoint's color and font
    # tokens (Glyph-SDXL-v2, which HunyuanVideo 1.5 uses).
    return T5EncoderModel(T5Config(
        vocab_size=1510, d_model=1472, d_kv=64, d_ff=3584, num_layers=12, num_heads=6,
        relative_attention_num_buckets=32, relative_attention_max_distance=128,
        feed_forward_proj="gated-gelu", is_encoder_decoder=False, use_cache=False, tie_word_embeddings=False,
    ))


def _siglip_so400m_384():
    from transformers import SiglipVisionConfig, SiglipVisionModel

    # FLUX.1-Redux-dev's image_encoder (SigLIP so400m/14 at 384 px: the 27 x 27 = 729 tokens HunyuanVideo 1.5
    # expects), with its attention-pooling head.
    return SiglipVisionModel(SiglipVisionConfig(
        hidden_size=1152, intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16,
        image_size=384, patch_size=14, hidden_act="gelu_pytorch_tanh", layer_norm_eps=1e-6,
        vision_use_head=True,
    ))


def _gemma2_2b_decoder(tokenizer):
    from transformers import Gemma2Config, Gemma2Model

    # gemma-2-2b-it's decoder (SANA-Video saves `AutoModelForCausalLM(...).get_decoder()`: no LM head).
    return Gemma2Model(Gemma2Config(
        vocab_size=256000, hidden_size=2304, intermediate_size=9216, num_hidden_layers=26,
        num_attention_heads=8, num_key_value_heads=4, head_dim=256, hidden_activation="gelu_pytorch_tanh",
        max_position_embeddings=8192, query_pre_attn_scalar=256, sliding_window=4096,
        final_logit_softcapping=30.0, attn_logit_softcapping=50.0,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    ))


def _gemma3_12b():
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    # gemma-3-12b-it with its SigLIP tower (LTX-2 loads the whole model; the LM head is tied to the table).
    return Gemma3ForConditionalGeneration(Gemma3Config(
        text_config=dict(
            vocab_size=262208, hidden_size=3840, intermediate_size=15360, num_hidden_layers=48,
            num_attention_heads=16, num_key_value_heads=8, head_dim=256, query_pre_attn_scalar=256,
            sliding_window=1024, max_position_embeddings=131072,
            rope_parameters={
                "full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1000000.0},
                "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
            },
        ),
        vision_config=dict(
            hidden_size=1152, intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16,
            image_size=896, patch_size=14, vision_use_head=False,
        ),
        mm_tokens_per_image=256,
    ))


# ----------------------------------------------------------------------------------------------------------
# Where modules are created
# ----------------------------------------------------------------------------------------------------------

#: (device, dtype) that `build` creates modules with; None outside `build` (torch's own defaults).
_TARGET: contextvars.ContextVar[tuple[torch.device, torch.dtype] | None] = contextvars.ContextVar(
    "real_size_target", default=None
)


@contextlib.contextmanager
def _modules() -> Iterator[None]:
    """Create the nn.Modules of a builder on `build`'s device in its dtype.

    Only modules: a scheduler computes its sigmas at construction and moves them to the CPU (which fails on
    meta, and bfloat16 sigmas would change the schedule), and tokenizers and processors hold no tensors.
    """
    target = _TARGET.get()
    if target is None:
        yield
        return
    device, dtype = target
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with device:
            yield
    finally:
        torch.set_default_dtype(previous)


def _pipeline(cls_name: str, **components):
    import diffusers

    return getattr(diffusers, cls_name)(**components)


# ----------------------------------------------------------------------------------------------------------
# Wan 2.2 (TI2V 5B, T2V and I2V A14B)
# ----------------------------------------------------------------------------------------------------------


def _wan_transformer(num_layers: int, num_heads: int, ffn_dim: int, in_channels: int, out_channels: int):
    from diffusers import WanTransformer3DModel

    return WanTransformer3DModel(
        patch_size=(1, 2, 2), attention_head_dim=128, num_attention_heads=num_heads, num_layers=num_layers,
        ffn_dim=ffn_dim, in_channels=in_channels, out_channels=out_channels, text_dim=4096, freq_dim=256,
        cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6,
    )


def _wan22_vae():
    from diffusers import AutoencoderKLWan
    from tiny_pipelines.wan22 import WAN22_LATENTS_MEAN, WAN22_LATENTS_STD

    # convert_wan_to_diffusers.py's vae22_diffusers_config; the rest (dim_mult, num_res_blocks, temporal
    # downsampling) are the class defaults.
    return AutoencoderKLWan(
        base_dim=160, decoder_base_dim=256, z_dim=48, is_residual=True, in_channels=12, out_channels=12,
        patch_size=2, scale_factor_spatial=16, scale_factor_temporal=4, latents_mean=WAN22_LATENTS_MEAN,
        latents_std=WAN22_LATENTS_STD,
    )


def _wan21_vae():
    from diffusers import AutoencoderKLWan

    return AutoencoderKLWan()  # the defaults are the Wan 2.1 VAE (kept by A14B, SkyReels-V2, SANA-Video)


def _unipc(flow_shift: float | None):
    from diffusers import UniPCMultistepScheduler

    shift = {} if flow_shift is None else {"flow_shift": flow_shift}
    return UniPCMultistepScheduler(
        num_train_timesteps=1000, prediction_type="flow_prediction", use_flow_sigmas=True, **shift
    )


def _wan22_ti2v_5b(pipeline: str):
    from spagent_graph.tool_adapters.demo_pipelines._base import build_t5_tokenizer

    with _modules():
        modules = dict(
            text_encoder=_umt5_xxl(),
            vae=_wan22_vae(),
            transformer=_wan_transformer(30, 24, 14336, in_channels=48, out_channels=48),
        )
    return _pipeline(
        pipeline,
        tokenizer=build_t5_tokenizer(model_max_length=512),
        scheduler=_unipc(5.0),
        # One checkpoint does both tasks: image-to-video puts the image in the first latent frame, kept at
        # timestep 0.
        expand_timesteps=True,
        **modules,
    )


def _wan22_a14b(pipeline: str, i2v: bool):
    from spagent_graph.tool_adapters.demo_pipelines._base import build_t5_tokenizer

    in_channels = 36 if i2v else 16  # I2V: noise 16 + mask 4 + image latents 16 (and no CLIP image encoder)
    with _modules():
        modules = dict(
            text_encoder=_umt5_xxl(),
            vae=_wan21_vae(),
            # The high-noise expert, then the low-noise one: 28.6B together.
            transformer=_wan_transformer(40, 40, 13824, in_channels=in_channels, out_channels=16),
            transformer_2=_wan_transformer(40, 40, 13824, in_channels=in_channels, out_channels=16),
        )
    return _pipeline(
        pipeline,
        tokenizer=build_t5_tokenizer(model_max_length=512),
        scheduler=_unipc(3.0),
        boundary_ratio=0.9 if i2v else 0.875,
        **modules,
    )


# ----------------------------------------------------------------------------------------------------------
# SkyReels-V2
# ----------------------------------------------------------------------------------------------------------


def _skyreels_v2(variant: str):
    from diffusers import SkyReelsV2Transformer3DModel
    from spagent_graph.tool_adapters.demo_pipelines._base import (
        _clip_image_processor,
        build_clip_tokenizer,
        build_t5_tokenizer,
    )

    i2v = variant == "i2v"
    if variant == "df":  # the 1.3B diffusion-forcing model, with its frame-rate embedding
        size = dict(num_layers=30, num_attention_heads=12, ffn_dim=8960, inject_sample_info=True)
    else:  # 14B
        size = dict(num_layers=40, num_attention_heads=40, ffn_dim=13824, inject_sample_info=False)
    with _modules():
        modules = dict(
            text_encoder=_umt5_xxl(),
            vae=_wan21_vae(),
            transformer=SkyReelsV2Transformer3DModel(
                patch_size=(1, 2, 2), attention_head_dim=128, in_channels=36 if i2v else 16, out_channels=16,
                text_dim=4096, freq_dim=256, cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6,
                # I2V cross-attends to CLIP ViT-H image tokens through added K/V projections.
                added_kv_proj_dim=5120 if i2v else None, image_dim=1280 if i2v else None, **size,
            ),
        )
        if i2v:
            modules["image_encoder"] = _clip_vit_h14_vision()
    if i2v:
        from transformers import CLIPProcessor

        modules["image_processor"] = CLIPProcessor(
            image_processor=_clip_image_processor(224), tokenizer=build_clip_tokenizer()
        )
    pipeline = {"t2v": "SkyReelsV2Pipeline", "df": "SkyReelsV2DiffusionForcingPipeline"}.get(
        variant, "SkyReelsV2ImageToVideoPipeline"
    )
    return _pipeline(
        pipeline,
        tokenizer=build_t5_tokenizer(model_max_length=512),
        scheduler=_unipc(None),  # the repos hold no shift; the entries set the model card's
        **modules,
    )


# ----------------------------------------------------------------------------------------------------------
# Kandinsky 5.0 video (Lite T2V 5 s, Pro I2V 5 s)
# ----------------------------------------------------------------------------------------------------------


def _kandinsky5(pipeline: str, pro: bool):
    from diffusers import (
        AutoencoderKLHunyuanVideo,
        FlowMatchEulerDiscreteScheduler,
        Kandinsky5Transformer3DModel,
    )
    from spagent_graph.tool_adapters.demo_pipelines._base import build_clip_tokenizer
    from tiny_pipelines.skyreels_kandinsky_sana import (
        build_qwen2_prefix_tokenizer,
    )

    if pro:  # k5_pro_i2v_5s_sft_sd.yaml
        size = dict(time_dim=1024, model_dim=4096, ff_dim=16384, num_text_blocks=4, num_visual_blocks=60,
                    axes_dims=(32, 48, 48))
    else:  # k5_lite_t2v_5s_sft_sd.yaml
        size = dict(time_dim=512, model_dim=1792, ff_dim=7168, num_text_blocks=2, num_visual_blocks=32,
                    axes_dims=(16, 24, 24))
    tokenizer_2 = build_clip_tokenizer()
    with _modules():
        modules = dict(
            transformer=Kandinsky5Transformer3DModel(
                in_visual_dim=16, out_visual_dim=16, in_text_dim=3584, in_text_dim2=768, patch_size=(1, 2, 2),
                visual_cond=True, attention_type="regular", **size,
            ),
            vae=AutoencoderKLHunyuanVideo(),  # the defaults are HunyuanVideo's VAE
            text_encoder=_qwen25_vl_7b(),
            text_encoder_2=_clip_vit_l14_text(tokenizer_2),
        )
    return _pipeline(
        pipeline,
        # A Qwen2Tokenizer where the repos hold a Qwen2VLProcessor (see the registry entries); it splits the
        # pipeline's system prompt into the 128 tokens the pipeline drops.
        tokenizer=build_qwen2_prefix_tokenizer(),
        tokenizer_2=tokenizer_2,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=10.0),  # the original code's scheduler_scale
        **modules,
    )


# ----------------------------------------------------------------------------------------------------------
# SANA-Video 2B 480p
# ----------------------------------------------------------------------------------------------------------


def _sana_video(pipeline: str):
    from diffusers import DPMSolverMultistepScheduler, SanaVideoTransformer3DModel
    from tiny_pipelines.skyreels_kandinsky_sana import (
        _sana_instruction,
        build_gemma2_tokenizer,
    )

    tokenizer = build_gemma2_tokenizer([_sana_instruction()])
    with _modules():
        modules = dict(
            text_encoder=_gemma2_2b_decoder(tokenizer),
            vae=_wan21_vae(),
            transformer=SanaVideoTransformer3DModel(
                in_channels=16, out_channels=16, num_attention_heads=20, attention_head_dim=112,
                num_layers=20, num_cross_attention_heads=20, cross_attention_head_dim=112,
                cross_attention_dim=2240, caption_channels=2304, mlp_ratio=3.0, attention_bias=False,
                sample_size=30, patch_size=(1, 2, 2), norm_elementwise_affine=False, norm_eps=1e-6,
                qk_norm="rms_norm_across_heads", rope_max_seq_len=1024,
            ),
        )
    return _pipeline(
        pipeline,
        tokenizer=tokenizer,
        # The repo's (text-to-video); the image-to-video entry swaps in flow-matching Euler.
        scheduler=DPMSolverMultistepScheduler(
            flow_shift=8.0, use_flow_sigmas=True, prediction_type="flow_prediction"
        ),
        **modules,
    )


# ----------------------------------------------------------------------------------------------------------
# LTX-2 (the 2.0 release)
# ----------------------------------------------------------------------------------------------------------


def _ltx2_modules() -> dict[str, Any]:
    from diffusers import AutoencoderKLLTX2Audio, AutoencoderKLLTX2Video, LTX2VideoTransformer3DModel
    from diffusers.pipelines.ltx2 import LTX2TextConnectors
    from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder

    text_encoder = _gemma3_12b()
    connectors = LTX2TextConnectors(
        caption_channels=3840,
        # The embeddings and the 48 layers' hidden states of Gemma 3 12B, stacked.
        text_proj_in_factor=text_encoder.config.text_config.num_hidden_layers + 1,
        video_connector_num_attention_heads=30, video_connector_attention_head_dim=128,
        video_connector_num_layers=2, video_connector_num_learnable_registers=128, video_gated_attn=False,
        audio_connector_num_attention_heads=30, audio_connector_attention_head_dim=128,
        audio_connector_num_layers=2, audio_connector_num_learnable_registers=128, audio_gated_attn=False,
        connector_rope_base_seq_len=4096, rope_theta=10000.0, rope_double_precision=True,
        causal_temporal_positioning=False, rope_type="split", per_modality_projections=False, proj_bias=False,
    )
    transformer = LTX2VideoTransformer3DModel(
        in_channels=128, out_channels=128, patch_size=1, patch_size_t=1, num_attention_heads=32,
        attention_head_dim=128, cross_attention_dim=4096, vae_scale_factors=(8, 32, 32), pos_embed_max_pos=20,
        base_height=2048, base_width=2048, gated_attn=False, cross_attn_mod=False, audio_in_channels=128,
        audio_out_channels=128, audio_patch_size=1, audio_patch_size_t=1, audio_num_attention_heads=32,
        audio_attention_head_dim=64, audio_cross_attention_dim=2048, audio_scale_factor=4,
        audio_pos_embed_max_pos=20, audio_sampling_rate=16000, audio_hop_length=160, audio_gated_attn=False,
        audio_cross_attn_mod=False, num_layers=48, activation_fn="gelu-approximate",
        qk_norm="rms_norm_across_heads", norm_elementwise_affine=False, norm_eps=1e-6, caption_channels=3840,
        attention_bias=True, attention_out_bias=True, rope_theta=10000.0, rope_double_precision=True,
        causal_offset=1, timestep_scale_multiplier=1000, cross_attn_timestep_scale_multiplier=1000,
        rope_type="split", use_prompt_embeddings=True, perturbed_attn=False,
    )
    vae = AutoencoderKLLTX2Video(
        in_channels=3, out_channels=3, latent_channels=128, block_out_channels=(256, 512, 1024, 2048),
        down_block_types=("LTX2VideoDownBlock3D",) * 4, decoder_block_out_channels=(256, 512, 1024),
        layers_per_block=(4, 6, 6, 2, 2), decoder_layers_per_block=(5, 5, 5, 5),
        spatio_temporal_scaling=(True, True, True, True), decoder_spatio_temporal_scaling=(True, True, True),
        decoder_inject_noise=(False, False, False, False),
        downsample_type=("spatial", "temporal", "spatiotemporal", "spatiotemporal"),
        upsample_type=("spatiotemporal", "spatiotemporal", "spatiotemporal"),
        upsample_residual=(True, True, True), upsample_factor=(2, 2, 2), timestep_conditioning=False,
        patch_size=4, patch_size_t=1,
        resnet_norm_eps=1e-6, encoder_causal=True, decoder_causal=False, encoder_spatial_padding_mode="zeros",
        decoder_spatial_padding_mode="reflect", spatial_compression_ratio=32, temporal_compression_ratio=8,
    )
    audio_vae = AutoencoderKLLTX2Audio(
        base_channels=128, output_channels=2, ch_mult=(1, 2, 4), num_res_blocks=2, attn_resolutions=None,
        in_channels=2, resolution=256, latent_channels=8, norm_type="pixel", causality_axis="height",
        dropout=0.0, mid_block_add_attention=False, sample_rate=16000, mel_hop_length=160, is_causal=True,
        mel_bins=64, double_z=True,
    )
    vocoder = LTX2Vocoder(
        in_channels=128, hidden_channels=1024, out_channels=2, upsample_kernel_sizes=[16, 15, 8, 4, 4],
        upsample_factors=[6, 5, 2, 2, 2], resnet_kernel_sizes=[3, 7, 11],
        resnet_dilations=[[1, 3, 5], [1, 3, 5], [1, 3, 5]], act_fn="leaky_relu",
        leaky_relu_negative_slope=0.1, antialias=False, final_act_fn="tanh", final_bias=True,
        output_sampling_rate=24000,
    )
    return dict(text_encoder=text_encoder, connectors=connectors, transformer=transformer, vae=vae,
                audio_vae=audio_vae, vocoder=vocoder)


def _ltx2(pipeline: str):
    from diffusers import FlowMatchEulerDiscreteScheduler
    from tiny_pipelines.ltx2_hunyuan15 import build_gemma3_chat_tokenizer

    with _modules():
        modules = _ltx2_modules()
    return _pipeline(
        pipeline,
        # A resolution-dependent shift with a terminal shift (Lightricks/LTX-2's scheduler).
        scheduler=FlowMatchEulerDiscreteScheduler(
            use_dynamic_shifting=True, base_shift=0.95, max_shift=2.05, base_image_seq_len=1024,
            max_image_seq_len=4096, shift_terminal=0.1,
        ),
        tokenizer=build_gemma3_chat_tokenizer(),
        **modules,
    )


# ----------------------------------------------------------------------------------------------------------
# HunyuanVideo 1.5 480p
# ----------------------------------------------------------------------------------------------------------


def _hunyuanvideo15(pipeline: str, i2v: bool):
    from diffusers import (
        AutoencoderKLHunyuanVideo15,
        ClassifierFreeGuidance,
        FlowMatchEulerDiscreteScheduler,
        HunyuanVideo15Transformer3DModel,
    )
    from tiny_pipelines.ltx2_hunyuan15 import (
        _siglip_image_processor,
        build_qwen_chat_tokenizer,
    )
    from transformers import ByT5Tokenizer

    with _modules():
        modules = dict(
            # The converter changes only these two of the classes' defaults for the 480p models.
            transformer=HunyuanVideo15Transformer3DModel(target_size=640, task_type="i2v" if i2v else "t2v"),
            vae=AutoencoderKLHunyuanVideo15(),
            text_encoder=_qwen25_vl_7b_text_model(),
            text_encoder_2=_byt5_small_glyph(),
        )
        if i2v:
            modules["image_encoder"] = _siglip_so400m_384()
    if i2v:
        modules["feature_extractor"] = _siglip_image_processor(384)
    return _pipeline(
        pipeline,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=5.0),
        tokenizer=build_qwen_chat_tokenizer(),
        tokenizer_2=ByT5Tokenizer(),
        guider=ClassifierFreeGuidance(guidance_scale=6.0),  # the 480p checkpoints' guidance
        **modules,
    )


# ----------------------------------------------------------------------------------------------------------
# Qwen-Image-2.1 (the first frame of an image-then-video route)
# ----------------------------------------------------------------------------------------------------------


def _qwen3_vl_8b(tokenizer):
    from tiny_pipelines.image_edit import _qwen_token_ids
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration

    # Qwen/Qwen3-VL-8B-Instruct's config.json (the pipeline loads the whole model: vision tower, deepstack
    # mergers and the untied LM head); the special ids are the tiny tokenizer's, whose vocabulary is smaller.
    ids = _qwen_token_ids(tokenizer)
    return Qwen3VLForConditionalGeneration(Qwen3VLConfig(
        text_config=dict(
            vocab_size=151936, hidden_size=4096, intermediate_size=12288, num_hidden_layers=36,
            num_attention_heads=32, num_key_value_heads=8, head_dim=128, hidden_act="silu",
            max_position_embeddings=262144, rms_norm_eps=1e-6, attention_bias=False,
            rope_parameters={"rope_type": "default", "rope_theta": 5000000.0, "mrope_section": [24, 20, 20],
                             "mrope_interleaved": True},
            bos_token_id=ids["eos_token_id"], eos_token_id=ids["eos_token_id"], pad_token_id=ids["eos_token_id"],
            tie_word_embeddings=False,
        ),
        vision_config=dict(
            depth=27, hidden_size=1152, intermediate_size=4304, num_heads=16, out_hidden_size=4096,
            patch_size=16, spatial_merge_size=2, temporal_patch_size=2, num_position_embeddings=2304,
            deepstack_visual_indexes=[8, 16, 24], hidden_act="gelu_pytorch_tanh",
        ),
        image_token_id=ids["image_token_id"], video_token_id=ids["video_token_id"],
        vision_start_token_id=ids["vision_start_token_id"], vision_end_token_id=ids["vision_end_token_id"],
        tie_word_embeddings=False,
    ))


def _qwen_image21(pipeline: str):
    from diffusers import AutoencoderKLQwenImage21, QwenImage21Transformer2DModel
    from tiny_pipelines.image_edit import (
        QWEN_CHAT_TEMPLATE,
        _qwen_image_processor,
        _qwen_image_scheduler,
        _qwen_tokenizer,
        _video_free_processor_classes,
    )

    tokenizer = _qwen_tokenizer()
    processor = _video_free_processor_classes()["Qwen3VLProcessorWithoutVideo"](
        image_processor=_qwen_image_processor(16, image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5]),
        tokenizer=tokenizer, chat_template=QWEN_CHAT_TEMPLATE,
    )
    with _modules():
        modules = dict(
            # The classes' defaults are the published checkpoint's (7.12B single-stream DiT; the 16x RGBA VAE).
            transformer=QwenImage21Transformer2DModel(),
            vae=AutoencoderKLQwenImage21(),
            text_encoder=_qwen3_vl_8b(tokenizer),
        )
    return _pipeline(pipeline, scheduler=_qwen_image_scheduler(), processor=processor, sample_sigmas=None,
                     **modules)


# ----------------------------------------------------------------------------------------------------------
# Entry points
# ----------------------------------------------------------------------------------------------------------

#: Entry name -> builder of the entry's pipeline (its `pipeline` class), as the hub repo holds it.  Called
#: outside `build`, a builder creates its modules with torch's current default device and dtype.
BUILDERS: dict[str, Callable[[], Any]] = {
    "wan22-5b-t2v": functools.partial(_wan22_ti2v_5b, "WanPipeline"),
    "wan22-5b-i2v": functools.partial(_wan22_ti2v_5b, "WanImageToVideoPipeline"),
    "wan22-a14b-t2v": functools.partial(_wan22_a14b, "WanPipeline", i2v=False),
    "wan22-a14b-i2v": functools.partial(_wan22_a14b, "WanImageToVideoPipeline", i2v=True),
    "skyreels-v2-t2v": functools.partial(_skyreels_v2, "t2v"),
    "skyreels-v2-df": functools.partial(_skyreels_v2, "df"),
    "skyreels-v2-i2v": functools.partial(_skyreels_v2, "i2v"),
    "kandinsky5-t2v": functools.partial(_kandinsky5, "Kandinsky5T2VPipeline", pro=False),
    "kandinsky5-i2v": functools.partial(_kandinsky5, "Kandinsky5I2VPipeline", pro=True),
    "sana-video": functools.partial(_sana_video, "SanaVideoPipeline"),
    "sana-video-i2v": functools.partial(_sana_video, "SanaImageToVideoPipeline"),
    "ltx-2": functools.partial(_ltx2, "LTX2Pipeline"),
    "ltx-2-i2v": functools.partial(_ltx2, "LTX2ImageToVideoPipeline"),
    "hunyuanvideo-1.5": functools.partial(_hunyuanvideo15, "HunyuanVideo15Pipeline", i2v=False),
    "hunyuanvideo-1.5-i2v": functools.partial(
        _hunyuanvideo15, "HunyuanVideo15ImageToVideoPipeline", i2v=True
    ),
}


#: Image entries that the two-candidate requests use for route 2's first frame (benchmarks/two_candidates_gpu.py),
#: built the same way; kept apart from the video entries above, whose list the registry tests pin.
IMAGE_BUILDERS: dict[str, Callable[[], Any]] = {
    "qwen-image-2.1": functools.partial(_qwen_image21, "QwenImage21Pipeline"),
}


def _cast(module: torch.nn.Module, dtype: torch.dtype) -> None:
    from diffusers.utils import logging as diffusers_logging

    # diffusers warns on every `ModelMixin.to(dtype)` about float32 modules to keep, even when the model
    # has none (the list it prints is empty); these VAEs have none.
    verbosity = diffusers_logging.get_verbosity()
    diffusers_logging.set_verbosity_error()
    try:
        module.to(dtype)
    finally:
        diffusers_logging.set_verbosity(verbosity)


@functools.cache
def _library():
    from spagent_graph.tool_adapters.registry import ToolRegistry

    return ToolRegistry.from_yaml("library")


def _entry(name: str):
    return _library().get(name)


def build(entry: str, device: str | torch.device = "cuda", dtype: torch.dtype = torch.bfloat16) -> Any:
    """The entry's pipeline at real size with random weights, every module created on `device` in `dtype`.

    Then, as the tool loads the real weights: components the entry keeps in another dtype
    (`torch_dtype: {vae: float32}`) are cast to it, and the entry's scheduler settings (`components`) replace
    the repo's.
    """
    spec = _entry(entry)
    builders = {**BUILDERS, **IMAGE_BUILDERS}
    if entry not in builders:
        raise KeyError(f"no real-size builder for {entry!r}; there are builders for {', '.join(builders)}")
    token = _TARGET.set((torch.device(device), dtype))
    try:
        pipeline = builders[entry]()
    finally:
        _TARGET.reset(token)
    if torch.device(device).type != "meta":
        revive_zeroed_layers(pipeline)
    return _as_entry(pipeline, spec)


def revive_zeroed_layers(pipeline: Any) -> list[str]:
    """Give every linear or convolution whose weight is all zeros its layer's default random initialisation,
    and return their names (`component.layer`).

    Some models start layers at zero so that training begins from an identity: Kandinsky 5's adaLN
    modulations (`Kandinsky5Modulation`) gate every block's residual with their output. Built fresh, such a
    transformer passes its input through the blocks untouched, its output is blind to them, and a lever on
    the blocks (FP8, a cache, a compile) cannot move it: its PSNR against the plain output read 100 dB on an
    H100 (2026-12-07). A trained checkpoint has no such zeros, so the random build should not either.
    """
    revived = []
    for component, module in pipeline.components.items():
        if not isinstance(module, torch.nn.Module):
            continue
        for name, layer in module.named_modules():
            if isinstance(layer, (torch.nn.Linear, torch.nn.modules.conv._ConvNd)) and not layer.weight.any():
                with torch.no_grad():
                    layer.reset_parameters()
                revived.append(f"{component}.{name}")
    return revived


def _as_entry(pipeline: Any, spec: Any) -> Any:
    """What the tool does to a loaded pipeline of `spec`: eval mode, no progress bar, the dtypes the entry
    keeps, its scheduler settings, and what diffusers keeps in float32."""
    import diffusers

    pipeline.set_progress_bar_config(disable=True)
    for module in pipeline.components.values():
        if isinstance(module, torch.nn.Module):
            module.eval()
    if isinstance(spec.torch_dtype, dict):
        for name, dtype_name in spec.torch_dtype.items():
            module = pipeline.components.get(name)
            if name != "default" and dtype_name != "auto" and isinstance(module, torch.nn.Module):
                _cast(module, getattr(torch, dtype_name))
    for name, component in spec.components.items():
        if component.cls.endswith("Scheduler"):
            scheduler_cls = getattr(diffusers, component.cls)
            # Only the settings the class takes: SANA-Video's repo config is DPM-Solver's, which
            # flow-matching Euler would otherwise ignore with a warning.
            accepted = inspect.signature(scheduler_cls.__init__).parameters
            saved = {key: value for key, value in pipeline.components[name].config.items() if key in accepted}
            pipeline.register_modules(**{name: scheduler_cls.from_config({**saved, **component.config})})
    for module in pipeline.components.values():
        for parameter in kept_in_float32(module):
            parameter.data = parameter.data.float()
    return pipeline


def sibling(pipeline: Any, entry: str) -> Any:
    """The pipeline of `entry` over the modules of `pipeline`, an entry on the same weights (Wan 2.2 TI2V 5B's
    image-to-video beside its text-to-video, LTX-2's): one copy of each module, as the tool's pool shares them
    (tool_adapters/sharing.py); its own scheduler, as the entry configures it."""
    import diffusers

    spec = _entry(entry)
    cls = getattr(diffusers, spec.pipeline)
    expected, settings = cls._get_signature_keys(cls)
    given = {name: module for name, module in pipeline.components.items() if name in expected}
    given["scheduler"] = copy.deepcopy(pipeline.scheduler)
    kept = {name: pipeline.config[name] for name in settings if name in pipeline.config}
    optional = {name: None for name in expected if name not in given and name not in kept}
    return _as_entry(cls(**{**optional, **given}, **kept), spec)


def tiny(entry: str, cache: Path, device: str | torch.device = "cpu") -> Any:
    """The entry's tiny stand-in (tests/tiny_pipelines; float32, random weights), placed as the entry's
    `memory` says: the same pipeline class and module layout as the real size, for trying a benchmark on a CPU
    in seconds (`--tiny`)."""
    import diffusers
    from spagent_graph.tool_adapters.demo_pipelines import ensure_demo_pipeline
    from tiny_pipelines import tiny_pipeline_for

    spec = _entry(entry)
    folder = ensure_demo_pipeline(tiny_pipeline_for(spec.model), cache)
    pipeline = getattr(diffusers, spec.pipeline).from_pretrained(folder, dtype=torch.float32).to(device)
    revive_zeroed_layers(pipeline)
    return _as_entry(pipeline, spec.model_copy(update={"torch_dtype": "float32"}))


def kept_in_float32(module: Any) -> list[torch.nn.Parameter]:
    """The parameters diffusers' `from_pretrained` keeps in float32 whatever dtype it is asked for: those
    under a model's `_keep_in_fp32_modules` (Kandinsky 5's time embeddings and modulations, whose
    float32 inputs meet their weights)."""
    import diffusers

    is_diffusers_model = isinstance(module, diffusers.ModelMixin)
    keep = getattr(module, "_keep_in_fp32_modules", None) if is_diffusers_model else None
    if not keep:
        return []
    return [p for name, p in module.named_parameters() if any(part in name.split(".") for part in keep)]


def parameter_counts(pipeline) -> dict[str, int]:
    """Parameters of each nn.Module component (tied weights, such as Gemma 3's LM head, counted once)."""
    return {
        name: sum(parameter.numel() for parameter in module.parameters())
        for name, module in pipeline.components.items()
        if isinstance(module, torch.nn.Module)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("entries", nargs="*", default=[*BUILDERS, *IMAGE_BUILDERS],
                        help="library entries (default: all)")
    parser.add_argument("--device", default="meta")
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    args = parser.parse_args()
    for entry in args.entries:
        pipeline = build(entry, args.device, getattr(torch, args.dtype))
        expected = _entry(entry).parameters or {}
        print(f"{entry}: {type(pipeline).__name__}")
        for name, count in parameter_counts(pipeline).items():
            registry = expected.get(name) if isinstance(expected, dict) else None
            versus = f"  registry {registry / 1e9:8.4f}B  {count / registry - 1:+.3%}" if registry else ""
            print(f"  {name:15s} {count / 1e9:8.4f}B{versus}")
        del pipeline


if __name__ == "__main__":
    main()
