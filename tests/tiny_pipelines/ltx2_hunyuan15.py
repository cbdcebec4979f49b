"""Tiny stand-ins for the ltx2_hunyuan15 checkpoints of the tool library (see _tiny.py for the rules they
follow).

* ``tiny-ltx2`` mirrors Lightricks/LTX-2 (LTX-2.0, 19B): an audio-video transformer (patch 1x1x1 over the 128
  video latent channels and over the audio latents' channels x mel bins), the 32x/8x video VAE (first frame
  apart: 8k+1 frames, sides of 32), the mel-spectrogram audio VAE and the HiFi-GAN-style vocoder (16 kHz mel
  frames in, 24 kHz stereo out), the text connectors with their 128 learnable registers, and Gemma 3
  (``Gemma3ForConditionalGeneration``, vision tower included) with a Gemma tokenizer built in code.
  LTX2Pipeline, LTX2ImageToVideoPipeline and LTX2ConditionPipeline all load it.
* ``tiny-hunyuanvideo15-t2v`` / ``tiny-hunyuanvideo15-i2v`` mirror the 480p HunyuanVideo 1.5 Diffusers
  checkpoints: patch-1 transformer over the 16x/4x VAE with 32 latent channels (4k+1 frames, sides of 16),
  65 input channels (noise + image latents + mask), Qwen2.5-VL's text model with a Qwen tokenizer built in
  code, a ByT5 glyph encoder, the classifier-free-guidance guider, and for image-to-video a SigLIP image
  encoder that makes the transformer's 729 image tokens.

Widths are 8-64 channels and one layer per block (the text encoders 2-3); a 2-step call at 64x96 takes about
0.6 s (LTX-2, 9 frames, CFG + STG + modality guidance: four transformer passes a step) and 1.6 s (HunyuanVideo
1.5) of CPU time on two cores.  The builds are about 11 MB (LTX-2: its VAE's first encoder level is 128 wide,
as the real one's) and 25 MB (HunyuanVideo 1.5: its transformer's ByT5 projection has a hard-coded 2048-wide
hidden layer, 4.3M parameters at any size).
"""

from __future__ import annotations

import string
from typing import Any

import torch

from spagent_graph.tool_adapters.demo_pipelines._base import DemoSpec, _bytes_to_unicode

__all__ = ["TINY"]

#: Width of the tiny LLM text encoders (3840 in Gemma 3 12B, 3584 in Qwen2.5-VL-7B).
LLM_DIM = 32
#: The size the tiny video models are tested at (as in _tiny.py): 2x3 latents at 32x, 4x6 at 16x.
TINY_HEIGHT, TINY_WIDTH = 64, 96
#: The tiny HunyuanVideo 1.5 transformer's `target_size`: its 3:2 bucket is exactly 96x64, as the real
#: 480p model's (target 640) 16:9 bucket is 848x480.
HUNYUAN_TINY_TARGET_SIZE = 80
#: The tiny LTX-2 audio token width: audio latent channels x latent mel bins (8 x 16 = 128 in LTX-2).
AUDIO_TOKEN_DIM = 16


# ----------------------------------------------------------------------------------------------------------
# Tokenizers built in code
# ----------------------------------------------------------------------------------------------------------


def build_gemma3_chat_tokenizer(model_max_length: int = 1024):
    """A GemmaTokenizer (358 tokens) like Gemma 3's: BPE with byte fallback, spaces as U+2581, <bos> first.

    The vocabulary holds Gemma's special tokens, the 256 byte-fallback tokens and every printable ASCII
    character, with no merges: text is tokenised character by character, anything else byte by byte.
    """
    from transformers import GemmaTokenizer

    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_turn>", "<end_of_turn>"]
    byte_tokens = [f"<0x{byte:02X}>" for byte in range(256)]
    chars = [c for c in string.printable if not c.isspace()]
    vocab = {token: i for i, token in enumerate([*specials, *byte_tokens, "\u2581", *chars])}
    return GemmaTokenizer(vocab=vocab, merges=[], model_max_length=model_max_length, add_bos_token=True)


#: Qwen2.5-VL's chat template for plain-text messages (what HunyuanVideo 1.5 sends: a system and a user turn).
QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_qwen_chat_tokenizer():
    """A Qwen2Tokenizer (259 tokens): byte-level BPE with no merges, plus <|endoftext|>, <|im_start|>,
    <|im_end|> and Qwen's chat template; right padding, as HunyuanVideo 1.5 loads it."""
    from tokenizers import AddedToken
    from transformers import Qwen2Tokenizer

    byte_symbols = list(_bytes_to_unicode().values())
    chat_tokens = ["<|im_start|>", "<|im_end|>"]
    vocab = {token: i for i, token in enumerate([*byte_symbols, "<|endoftext|>", *chat_tokens])}
    tokenizer = Qwen2Tokenizer(
        vocab=vocab, merges=[], chat_template=QWEN_CHAT_TEMPLATE, padding_side="right",
        model_max_length=131072,
    )
    tokenizer.add_tokens([AddedToken(token, special=True, normalized=False) for token in chat_tokens])
    return tokenizer


# ----------------------------------------------------------------------------------------------------------
# LTX-2 (Lightricks/LTX-2, the 2.0 release)
# ----------------------------------------------------------------------------------------------------------


def _gemma3_text_encoder(seed: int):
    """Gemma3ForConditionalGeneration at toy size: a 2-layer, 32-wide Gemma 3 text model (LTX-2 stacks its
    embeddings and every layer's hidden state: 3 states here, 49 in Gemma 3 12B) and a 1-layer SigLIP tower
    that the pipeline loads but does not run."""
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    tokenizer = build_gemma3_chat_tokenizer()
    torch.manual_seed(seed)
    config = Gemma3Config(
        text_config=dict(
            vocab_size=len(tokenizer),
            hidden_size=LLM_DIM,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=1,
            head_dim=16,
            query_pre_attn_scalar=16,
            sliding_window=64,
            max_position_embeddings=2048,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            bos_token_id=tokenizer.bos_token_id,
        ),
        # 32 px at patch 8: 4x4 patches pooled to mm_tokens_per_image = 4 (896/14 -> 256 in the real model).
        vision_config=dict(
            hidden_size=16, intermediate_size=37, num_hidden_layers=1, num_attention_heads=2, image_size=32,
            patch_size=8, vision_use_head=False,
        ),
        mm_tokens_per_image=4,
        boi_token_index=tokenizer.convert_tokens_to_ids("<start_of_turn>"),
        eoi_token_index=tokenizer.convert_tokens_to_ids("<end_of_turn>"),
        image_token_index=tokenizer.convert_tokens_to_ids("<mask>"),
    )
    return Gemma3ForConditionalGeneration(config).eval(), tokenizer


def _ltx2_components(seed: int) -> dict[str, Any]:
    from diffusers import (
        AutoencoderKLLTX2Audio,
        AutoencoderKLLTX2Video,
        FlowMatchEulerDiscreteScheduler,
        LTX2VideoTransformer3DModel,
    )
    from diffusers.pipelines.ltx2 import LTX2TextConnectors
    from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder

    text_encoder, tokenizer = _gemma3_text_encoder(seed)
    num_text_states = text_encoder.config.text_config.num_hidden_layers + 1

    torch.manual_seed(seed)
    # LTX-2.0's connectors: one shared projection of the stacked Gemma states to the Gemma width, then a
    # video and an audio 1D transformer whose padding is replaced by 128 learnable registers (the prompt is
    # padded to 1024 tokens, a multiple of 128).  4 heads x 8 = the Gemma width, as 30 x 128 = 3840 really.
    connectors = LTX2TextConnectors(
        caption_channels=LLM_DIM,
        text_proj_in_factor=num_text_states,
        video_connector_num_attention_heads=4,
        video_connector_attention_head_dim=8,
        video_connector_num_layers=1,
        video_connector_num_learnable_registers=128,
        audio_connector_num_attention_heads=4,
        audio_connector_attention_head_dim=8,
        audio_connector_num_layers=1,
        audio_connector_num_learnable_registers=128,
        connector_rope_base_seq_len=4096,
        rope_theta=10000.0,
        rope_double_precision=True,
        causal_temporal_positioning=False,
        rope_type="split",
        per_modality_projections=False,
        proj_bias=False,
    ).eval()

    torch.manual_seed(seed)
    # The audio-video transformer of LTX-2.0: patch 1x1x1 over 128 video latent channels and over the audio
    # latents' channels x mel bins (16 here, 8 x 16 = 128 really), split RoPE, caption projections from the
    # connector width.  Video 2 heads x 16, audio 2 heads x 8 (32 x 128 and 32 x 64 really); 1 layer of 48.
    transformer = LTX2VideoTransformer3DModel(
        in_channels=128,
        out_channels=128,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=2,
        attention_head_dim=16,
        cross_attention_dim=32,
        vae_scale_factors=(8, 32, 32),
        gated_attn=False,
        cross_attn_mod=False,
        audio_in_channels=AUDIO_TOKEN_DIM,
        audio_out_channels=AUDIO_TOKEN_DIM,
        audio_num_attention_heads=2,
        audio_attention_head_dim=8,
        audio_cross_attention_dim=16,
        audio_scale_factor=4,
        audio_sampling_rate=16000,
        audio_hop_length=160,
        num_layers=1,
        qk_norm="rms_norm_across_heads",
        caption_channels=LLM_DIM,
        rope_double_precision=True,
        rope_type="split",
        use_prompt_embeddings=True,
        perturbed_attn=False,
    ).eval()

    torch.manual_seed(seed)
    # The LTX-2.0 video VAE's layout: a 4x4 pixel patchifier, then four down blocks (spatial, temporal,
    # spatiotemporal, spatiotemporal) -> 32x in space, 8x in time with the first frame apart, 128 latent
    # channels; three spatiotemporal residual up blocks.  8-64 channels instead of 256-2048, one layer each.
    vae = AutoencoderKLLTX2Video(
        in_channels=3,
        out_channels=3,
        latent_channels=128,
        block_out_channels=(8, 16, 32, 64),
        decoder_block_out_channels=(8, 16, 32),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, True, True),
        decoder_spatio_temporal_scaling=(True, True, True),
        decoder_inject_noise=(False, False, False, False),
        downsample_type=("spatial", "temporal", "spatiotemporal", "spatiotemporal"),
        upsample_type=("spatiotemporal", "spatiotemporal", "spatiotemporal"),
        upsample_residual=(True, True, True),
        upsample_factor=(2, 2, 2),
        timestep_conditioning=False,
        patch_size=4,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
        spatial_compression_ratio=32,
        temporal_compression_ratio=8,
    ).eval()

    torch.manual_seed(seed)
    # The audio VAE: stereo mel spectrograms at 16 kHz / hop 160, three levels (4x along time and mel).  Its
    # latent statistics are sized `base_channels`, which must equal latent channels x mel bins / 4 (128 =
    # 8 x 64 / 4 really), so the toy one is 16 wide with 4 latent channels and 16 mel bins.
    audio_vae = AutoencoderKLLTX2Audio(
        base_channels=AUDIO_TOKEN_DIM,
        output_channels=2,
        ch_mult=(1, 2, 4),
        num_res_blocks=1,
        attn_resolutions=None,
        in_channels=2,
        resolution=256,
        latent_channels=4,
        norm_type="pixel",
        causality_axis="height",
        mid_block_add_attention=False,
        sample_rate=16000,
        mel_hop_length=160,
        is_causal=True,
        mel_bins=16,
        double_z=True,
    ).eval()

    torch.manual_seed(seed)
    # The LTX-2.0 vocoder: stereo x mel bins in (2 x 64 really), upsampled 6*5*2*2*2 = 240x (100 mel
    # frames/s -> 24 kHz), stereo out.  32 hidden channels instead of 1024.
    vocoder = LTX2Vocoder(
        in_channels=2 * audio_vae.config.mel_bins,
        hidden_channels=32,
        out_channels=2,
        upsample_kernel_sizes=[16, 15, 8, 4, 4],
        upsample_factors=[6, 5, 2, 2, 2],
        resnet_kernel_sizes=[3, 7, 11],
        resnet_dilations=[[1, 3, 5], [1, 3, 5], [1, 3, 5]],
        act_fn="leaky_relu",
        leaky_relu_negative_slope=0.1,
        antialias=False,
        final_act_fn="tanh",
        final_bias=True,
        output_sampling_rate=24000,
    ).eval()

    # Lightricks/LTX-2's scheduler: flow matching with a resolution-dependent shift and a terminal shift.
    scheduler = FlowMatchEulerDiscreteScheduler(
        use_dynamic_shifting=True,
        base_shift=0.95,
        max_shift=2.05,
        base_image_seq_len=1024,
        max_image_seq_len=4096,
        shift_terminal=0.1,
    )
    return {
        "scheduler": scheduler,
        "vae": vae,
        "audio_vae": audio_vae,
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "connectors": connectors,
        "transformer": transformer,
        "vocoder": vocoder,
        "processor": None,
        "prompt_enhancer": None,
        "duration_head": None,
    }


# ----------------------------------------------------------------------------------------------------------
# HunyuanVideo 1.5 (480p text-to-video and image-to-video)
# ----------------------------------------------------------------------------------------------------------


def _qwen25vl_text_encoder(seed: int):
    """Qwen2.5-VL's text model (Qwen2_5_VLTextModel, as the Diffusers checkpoints keep it) at toy size:
    3 layers (the pipeline reads the third-last hidden state), 32 wide, multimodal RoPE sections summing to
    half the head width (8 = 2 + 3 + 3; 64 = 16 + 24 + 24 really)."""
    from transformers import Qwen2_5_VLTextConfig, Qwen2_5_VLTextModel

    tokenizer = build_qwen_chat_tokenizer()
    torch.manual_seed(seed)
    config = Qwen2_5_VLTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=LLM_DIM,
        intermediate_size=37,
        num_hidden_layers=3,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=2048,
        rope_scaling={"type": "mrope", "mrope_section": [2, 3, 3]},
        rope_theta=1000000.0,
        bos_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.pad_token_id,
    )
    return Qwen2_5_VLTextModel(config).eval(), tokenizer


def _byt5_text_encoder(seed: int):
    """The ByT5 glyph encoder (a T5EncoderModel; byt5-small with Glyph-SDXL-v2 weights really, 1472 wide,
    12 layers) at 32 wide and 1 layer, with transformers' ByT5Tokenizer, which needs no files."""
    from transformers import ByT5Tokenizer

    from spagent_graph.tool_adapters.demo_pipelines._base import _t5_text_encoder

    return _t5_text_encoder(seed, d_model=32, tokenizer=ByT5Tokenizer())


def _siglip_image_processor(size: int):
    """SigLIP's image processor at `size` px; its PIL backend where torchvision is absent (transformers 5
    would pick that with a warning), as `_base._clip_image_processor` does for CLIP."""
    import importlib.util

    import transformers

    cls = transformers.SiglipImageProcessor
    if importlib.util.find_spec("torchvision") is None and hasattr(transformers, "SiglipImageProcessorPil"):
        cls = transformers.SiglipImageProcessorPil
    return cls(size={"height": size, "width": size})


def _hunyuan15_components(seed: int, i2v: bool) -> dict[str, Any]:
    from diffusers import (
        AutoencoderKLHunyuanVideo15,
        ClassifierFreeGuidance,
        FlowMatchEulerDiscreteScheduler,
        HunyuanVideo15Transformer3DModel,
    )

    text_encoder, tokenizer = _qwen25vl_text_encoder(seed)
    text_encoder_2, tokenizer_2 = _byt5_text_encoder(seed)
    image_embed_dim = 16

    torch.manual_seed(seed)
    # HunyuanVideo 1.5: patch 1x1x1 over 65 input channels (32 noise + 32 image latents + 1 mask; the
    # text-to-video model gets zeros for the last 33), 3-axis RoPE whose axes sum to the head width
    # (16 = 4 + 6 + 6; 128 = 16 + 56 + 56 really), a token refiner over the Qwen states, a ByT5 projection
    # and an image projection of `image_embed_dim` (SigLIP's 1152 really).  2 heads x 16, 1 layer of 54.
    transformer = HunyuanVideo15Transformer3DModel(
        in_channels=65,
        out_channels=32,
        num_attention_heads=2,
        attention_head_dim=16,
        num_layers=1,
        num_refiner_layers=1,
        mlp_ratio=2.0,
        patch_size=1,
        patch_size_t=1,
        text_embed_dim=LLM_DIM,
        text_embed_2_dim=text_encoder_2.config.d_model,
        image_embed_dim=image_embed_dim,
        rope_axes_dim=(4, 6, 6),
        target_size=HUNYUAN_TINY_TARGET_SIZE,
        task_type="i2v" if i2v else "t2v",
    ).eval()

    torch.manual_seed(seed)
    # The HunyuanVideo 1.5 VAE's layout: five levels, spatial downsampling on the first four (16x) and
    # temporal on two of them (4x, first frame apart: 4k+1 frames), 32 latent channels.  8-32 channels
    # instead of 128-1024, one layer per block; the last width is a multiple of 2 x 32 latent channels.
    vae = AutoencoderKLHunyuanVideo15(
        in_channels=3,
        out_channels=3,
        latent_channels=32,
        block_out_channels=(8, 8, 16, 16, 64),
        layers_per_block=1,
        spatial_compression_ratio=16,
        temporal_compression_ratio=4,
    ).eval()

    components = {
        "transformer": transformer,
        "vae": vae,
        # The 480p checkpoints' scheduler and guider: flow shift 5, classifier-free guidance 6.
        "scheduler": FlowMatchEulerDiscreteScheduler(shift=5.0),
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "text_encoder_2": text_encoder_2,
        "tokenizer_2": tokenizer_2,
        "guider": ClassifierFreeGuidance(guidance_scale=6.0),
    }
    if i2v:
        from transformers import SiglipVisionConfig, SiglipVisionModel

        torch.manual_seed(seed)
        # SigLIP so400m/14 at 384 px makes 27 x 27 = 729 image tokens, the count the pipeline and the
        # transformer expect; 54 px at patch 2 makes the same grid.
        image_encoder = SiglipVisionModel(
            SiglipVisionConfig(
                hidden_size=image_embed_dim, intermediate_size=37, num_hidden_layers=1, num_attention_heads=2,
                image_size=54, patch_size=2,
            )
        ).eval()
        components["image_encoder"] = image_encoder
        components["feature_extractor"] = _siglip_image_processor(54)
    return components


# ----------------------------------------------------------------------------------------------------------
# Specs
# ----------------------------------------------------------------------------------------------------------


def _specs() -> dict[str, DemoSpec]:
    import functools

    from .core import _spec

    video = {"height": TINY_HEIGHT, "width": TINY_WIDTH}
    specs = [
        _spec(
            "tiny-ltx2", "text_to_video", "LTX2Pipeline", _ltx2_components,
            description="LTX-2.0: audio-video transformer over a 32x/8x video VAE (128 channels), audio"
            " VAE, vocoder, text connectors and Gemma 3; LTX2ImageToVideoPipeline and LTX2ConditionPipeline"
            " load it too.",
            accepts_num_frames=True, call_kwargs=dict(video, num_frames=9),
            mirrors=("Lightricks/LTX-2",),
        ),
        _spec(
            "tiny-hunyuanvideo15-t2v", "text_to_video", "HunyuanVideo15Pipeline",
            functools.partial(_hunyuan15_components, i2v=False),
            description="HunyuanVideo 1.5 480p text-to-video: patch-1 transformer over a 16x/4x VAE with 32"
            " channels, Qwen2.5-VL text model + ByT5 glyph encoder, CFG guider.",
            accepts_num_frames=True, default_output_type="np", call_kwargs=dict(video, num_frames=9),
            mirrors=(
                "hunyuanvideo-community/HunyuanVideo-1.5-Diffusers-480p_t2v",
                "hunyuanvideo-community/HunyuanVideo-1.5-480p_t2v",
            ),
        ),
        _spec(
            "tiny-hunyuanvideo15-i2v", "image_to_video", "HunyuanVideo15ImageToVideoPipeline",
            functools.partial(_hunyuan15_components, i2v=True),
            description="HunyuanVideo 1.5 480p image-to-video: the text-to-video build plus a SigLIP image"
            " encoder (729 tokens); the size is the pipeline's own bucket for the image (96x64 for 3:2).",
            input_arg="image", accepts_num_frames=True, accepts_size=False, default_output_type="np",
            call_kwargs=dict(num_frames=9),
            mirrors=(
                "hunyuanvideo-community/HunyuanVideo-1.5-Diffusers-480p_i2v",
                "hunyuanvideo-community/HunyuanVideo-1.5-480p_i2v",
            ),
        ),
    ]
    return {spec.name: spec for spec in specs}


TINY: dict[str, DemoSpec] = _specs()
