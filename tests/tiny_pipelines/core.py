"""``tiny-<model>``: toy-width stand-ins for the real checkpoints of ``registries/library.yaml``.

Each builder keeps what makes its model's requests valid or invalid and shrinks everything else:

* the same component classes, loaded by the same pipeline class (a tiny folder loads wherever the real
  checkpoint does, with the same ``components`` passed in);
* the VAE's spatial and temporal compression and the denoiser's patch sizes, so the frame rule (CogVideoX
  and LTX 8k+1, Wan 4k+1, Latte exactly 16) and the size multiple (16 for SD3/Flux/Wan/CogVideoX/Latte, 32
  for LTX and LEdits++) are the real ones;
* the latent channels, the kind of positional embedding (sincos, RoPE, learned -- CogVideoX-5b-I2V's only
  work at the size it was built for), the text encoder family (CLIP, T5, UMT5) and the noise schedule.

Widths are 8-32 channels, one layer per block; the text encoders are 32 wide (64 for SD3), so
``text_embed_dim``/``caption_channels``/``joint_attention_dim`` are 32 where the real models have 4096.
A 2-step call at 64x96 takes 0.02-0.5 s on a 2-core CPU; each build is 0.5-9 MB.

Where the real model has a fixed position table the tiny one has a small one too (Latte: 16 frames; the
CogVideoX-5b-I2V learned embeddings: a 64x96 video; SD3's 16x16 patch table: 128 px; AnimateDiff's 32 motion
positions).  ``DemoSpec.call_kwargs`` holds a request each tiny model accepts.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import torch

from spagent_graph.tool_adapters.demo_pipelines._base import (
    CROSS_ATTENTION_DIM,
    DemoSpec,
    _autoencoder_kl,
    _clip_image_processor,
    _clip_text_encoder,
    _clip_vision_encoder,
    _motion_adapter,
    _t5_text_encoder,
    make_spec,
)
from spagent_graph.tool_adapters.demo_pipelines._demo import _i2vgenxl_components, _instruct_pix2pix_components, _sd3_components, _svd_components

__all__ = ["TINY_PIPELINES", "TINY_COMPONENT_BUILDERS"]

#: Width of the T5/UMT5 encoders of the video transformers and Flux (4096 in the real models).
TEXT_DIM = 32
#: SD-1.5's four UNet levels at toy width: cross-attention on the first three, as in the real UNet.
SD15_UNET_BLOCK_OUT_CHANNELS = (32, 32, 64, 64)
#: The size every tiny video model is tested at by default: 64x96 keeps height != width, so a swapped
#: height/width shows, and is a multiple of 32 (LTX) -- 8x12 latents at 8x, 2x3 at 32x.
TINY_HEIGHT, TINY_WIDTH = 64, 96


# ----------------------------------------------------------------------------------------------------------
# Stable Diffusion 1.5 (LEdits++, and the AnimateDiff base) and the AnimateDiff motion adapter
# ----------------------------------------------------------------------------------------------------------


def _sd15_unet(seed: int):
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    # SD-1.5's layout: four levels, CrossAttnDownBlock2D on the first three, a plain block at the bottom
    # (mirrored on the way up).  LEdits++ needs that: its attention mask reads the cross-attention maps at
    # 1/4 of the latent size, i.e. the third level, so a two-level UNet fails there.  Widths 32/32/64/64
    # with 8 heads (legacy ``attention_head_dim`` = number of heads) and 8 norm groups.
    return UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        block_out_channels=SD15_UNET_BLOCK_OUT_CHANNELS,
        layers_per_block=1,
        cross_attention_dim=CROSS_ATTENTION_DIM,
        attention_head_dim=8,
        norm_num_groups=8,
    ).eval()


def _sd15_components(seed: int) -> dict[str, Any]:
    from diffusers import PNDMScheduler

    text_encoder, tokenizer = _clip_text_encoder(seed)
    return {
        "vae": _autoencoder_kl(seed),
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "unet": _sd15_unet(seed),
        # SD-1.5's own scheduler config.  Neither LEdits++ nor AnimateDiff is given another one by the
        # library entries, so they meet what they meet with the real checkpoint: LEdits++ swaps a PNDM
        # scheduler for DPMSolverMultistep (sde-dpmsolver++) with a warning, AnimateDiff runs PNDM.
        "scheduler": PNDMScheduler(
            num_train_timesteps=1000,
            beta_start=0.00085,
            beta_end=0.012,
            beta_schedule="scaled_linear",
            skip_prk_steps=True,
            steps_offset=1,
        ),
        "safety_checker": None,
        "feature_extractor": None,
        "image_encoder": None,
        "requires_safety_checker": False,
    }


def _build_sd15_motion_adapter(seed: int = 0):
    # AnimateDiff v1-5-2: a temporal transformer per UNet block and one in the mid block, 32 positions.
    return _motion_adapter(seed, block_out_channels=SD15_UNET_BLOCK_OUT_CHANNELS)


# ----------------------------------------------------------------------------------------------------------
# Latte
# ----------------------------------------------------------------------------------------------------------


def _latte_components(seed: int) -> dict[str, Any]:
    from diffusers import LatteTransformer3DModel

    torch.manual_seed(seed)
    # Latte-1: patch 2 over the SD VAE's 4 latent channels, learned sigma (out_channels 8), adaLN-single,
    # and a *fixed* sincos table of ``video_length`` = 16 temporal positions, so it makes exactly 16 frames.
    # 4 heads x 8 = 32 wide; caption_channels = the T5 width.
    transformer = LatteTransformer3DModel(
        sample_size=8,
        num_layers=1,
        patch_size=2,
        attention_head_dim=8,
        num_attention_heads=4,
        caption_channels=TEXT_DIM,
        in_channels=4,
        cross_attention_dim=32,
        out_channels=8,
        attention_bias=True,
        activation_fn="gelu-approximate",
        num_embeds_ada_norm=1000,
        norm_type="ada_norm_single",
        norm_elementwise_affine=False,
        norm_eps=1e-6,
        video_length=16,
    ).eval()
    text_encoder, tokenizer = _t5_text_encoder(seed, d_model=TEXT_DIM)
    return {
        "transformer": transformer,
        # The SD VAE (8x spatial, frame by frame).
        "vae": _autoencoder_kl(seed),
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        # Latte-1's DDIM on the linear DiT schedule.
        "scheduler": _ddim_linear_scheduler(),
    }


def _ddim_linear_scheduler():
    from diffusers import DDIMScheduler

    return DDIMScheduler(
        num_train_timesteps=1000, beta_start=0.0001, beta_end=0.02, beta_schedule="linear", clip_sample=False
    )


# ----------------------------------------------------------------------------------------------------------
# CogVideoX (2b text-to-video, 5b text/video-to-video, 5b-I2V)
# ----------------------------------------------------------------------------------------------------------


def _cogvideox_vae(seed: int, scaling_factor: float):
    from diffusers import AutoencoderKLCogVideoX

    torch.manual_seed(seed)
    # The real four CogVideoXDownBlock3D/UpBlock3D levels: 8x spatial, 4x temporal (the first frame kept
    # apart, so n frames -> (n - 1) / 4 + 1 latent frames), 16 latent channels; 8 channels per block instead
    # of 128-512.  The default sample size (480x720) only sets the tiling thresholds.
    return AutoencoderKLCogVideoX(
        block_out_channels=(8, 8, 8, 8),
        latent_channels=16,
        layers_per_block=1,
        norm_num_groups=2,
        temporal_compression_ratio=4,
        scaling_factor=scaling_factor,
    ).eval()


def _cogvideox_scheduler(five_b: bool):
    from diffusers import CogVideoXDDIMScheduler, CogVideoXDPMScheduler

    # The checkpoints' configs: v-prediction on a zero-terminal-SNR scaled-linear schedule, trailing spacing;
    # 2b uses DDIM with an SNR shift of 3, the 5b models DPM with no shift.
    cls = CogVideoXDPMScheduler if five_b else CogVideoXDDIMScheduler
    return cls(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        prediction_type="v_prediction",
        rescale_betas_zero_snr=True,
        set_alpha_to_one=True,
        snr_shift_scale=1.0 if five_b else 3.0,
        steps_offset=0,
        timestep_spacing="trailing",
    )


def _cogvideox_components(seed: int, variant: str) -> dict[str, Any]:
    from diffusers import CogVideoXTransformer3DModel

    five_b = variant in ("5b", "5b-i2v")
    i2v = variant == "5b-i2v"
    torch.manual_seed(seed)
    # CogVideoX 1.0: 2x2 spatial patches, no temporal patching (patch_size_t None), 226 text tokens in front
    # of the video tokens.  2b: sincos positions recomputed for any size; 5b: RoPE; 5b-I2V: RoPE *and* a
    # learned position table for one size (sample 60x90 latents = 480x720 in the real model, 8x12 = 64x96
    # here: any other size raises), and 32 input channels (noise + the image's latents).  2 heads of 16
    # (RoPE needs head_dim % 16 == 0); text_embed_dim = the T5 width.
    transformer = CogVideoXTransformer3DModel(
        num_attention_heads=2,
        attention_head_dim=16,
        in_channels=32 if i2v else 16,
        out_channels=16,
        time_embed_dim=8,
        text_embed_dim=TEXT_DIM,
        num_layers=1,
        sample_width=TINY_WIDTH // 8,
        sample_height=TINY_HEIGHT // 8,
        sample_frames=49,
        patch_size=2,
        temporal_compression_ratio=4,
        max_text_seq_length=226,
        use_rotary_positional_embeddings=five_b,
        use_learned_positional_embeddings=i2v,
    ).eval()
    text_encoder, tokenizer = _t5_text_encoder(seed, d_model=TEXT_DIM)
    return {
        "tokenizer": tokenizer,
        "text_encoder": text_encoder,
        "vae": _cogvideox_vae(seed, scaling_factor=0.7 if five_b else 1.15258426),
        "transformer": transformer,
        "scheduler": _cogvideox_scheduler(five_b),
    }


# ----------------------------------------------------------------------------------------------------------
# LTX-Video
# ----------------------------------------------------------------------------------------------------------


def _ltx_components(seed: int) -> dict[str, Any]:
    from diffusers import AutoencoderKLLTXVideo, FlowMatchEulerDiscreteScheduler, LTXVideoTransformer3DModel

    torch.manual_seed(seed)
    # LTX-Video 0.9: the transformer works on single latent pixels (patch 1x1x1) of 128 channels; the
    # compression is all in the VAE.  2 heads of 16; cross_attention_dim = the inner width; caption_channels
    # = the T5 width.
    transformer = LTXVideoTransformer3DModel(
        in_channels=128,
        out_channels=128,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=2,
        attention_head_dim=16,
        cross_attention_dim=32,
        num_layers=1,
        caption_channels=TEXT_DIM,
    ).eval()
    torch.manual_seed(seed)
    # The real VAE layout: a 4x4 pixel patchifier, then three of four blocks halving time, height and width:
    # 32x spatial, 8x temporal (first frame apart: n frames -> (n - 1) / 8 + 1), 128 latent channels.  8
    # channels per block instead of 128-512, one layer per block.
    vae = AutoencoderKLLTXVideo(
        latent_channels=128,
        block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, True, False),
        decoder_spatio_temporal_scaling=(True, True, True, False),
        patch_size=4,
        patch_size_t=1,
        timestep_conditioning=False,
    ).eval()
    text_encoder, tokenizer = _t5_text_encoder(seed, d_model=TEXT_DIM)
    # Lightricks/LTX-Video's scheduler config: flow matching with a resolution-dependent shift.
    scheduler = FlowMatchEulerDiscreteScheduler(
        num_train_timesteps=1000,
        base_image_seq_len=1024,
        max_image_seq_len=4096,
        base_shift=0.95,
        max_shift=2.05,
        shift_terminal=0.1,
        use_dynamic_shifting=True,
    )
    return {
        "scheduler": scheduler,
        "vae": vae,
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "transformer": transformer,
    }


# ----------------------------------------------------------------------------------------------------------
# Wan 2.1 (T2V 1.3B, also its video-to-video; I2V 14B 480P)
# ----------------------------------------------------------------------------------------------------------


def _wan21_vae(seed: int):
    """The Wan 2.1 VAE (also kept by Wan 2.2 A14B, VACE, SkyReels-V2 and SANA-Video): 8x spatial, 4x temporal
    (temperal_downsample [False, True, True]; n frames -> (n - 1) / 4 + 1), 16 latent channels with the real
    per-channel mean/std; base width 8 instead of 96."""
    from diffusers import AutoencoderKLWan

    torch.manual_seed(seed)
    return AutoencoderKLWan(
        base_dim=8, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True]
    ).eval()


#: What every tiny Wan-family denoiser (Wan 2.1 and 2.2, VACE, SkyReels-V2) shares: 1x2x2 patches, 2 heads of
#: 16 (RoPE splits a head over 3 axes), q/k RMS-normed across heads, a normed cross-attention to the tiny
#: UMT5's tokens.
TINY_WAN_DENOISER: dict[str, Any] = {
    "patch_size": (1, 2, 2), "num_attention_heads": 2, "attention_head_dim": 16, "text_dim": TEXT_DIM,
    "freq_dim": 32, "ffn_dim": 32, "cross_attn_norm": True, "qk_norm": "rms_norm_across_heads",
    "rope_max_seq_len": 1024,
}


def _wan_components(seed: int, i2v: bool = False) -> dict[str, Any]:
    from diffusers import UniPCMultistepScheduler, WanTransformer3DModel

    torch.manual_seed(seed)
    # Wan 2.1: 1x2x2 patches over 16 latent channels (so sides are multiples of 8 x 2 = 16).  The I2V model
    # takes 36 input channels (noise 16 + mask 4 + the image's latents 16) and cross-attends to CLIP image
    # tokens through added K/V projections (added_kv_proj_dim = inner width, image_dim = the CLIP width).
    # 2 heads of 16, one layer.
    transformer = WanTransformer3DModel(
        **TINY_WAN_DENOISER,
        in_channels=36 if i2v else 16,
        out_channels=16,
        num_layers=1,
        image_dim=32 if i2v else None,
        added_kv_proj_dim=32 if i2v else None,
    ).eval()
    vae = _wan21_vae(seed)
    text_encoder, tokenizer = _t5_text_encoder(seed, d_model=TEXT_DIM, umt5=True)
    # The Diffusers checkpoints' scheduler: UniPC on flow sigmas, shift 3 (the 480p setting).
    scheduler = UniPCMultistepScheduler(
        num_train_timesteps=1000, prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0
    )
    components = {
        "tokenizer": tokenizer,
        "text_encoder": text_encoder,
        "vae": vae,
        "scheduler": scheduler,
        "transformer": transformer,
    }
    if i2v:
        # A plain CLIPVisionModel (Wan reads its penultimate hidden state) at 224 px, like open-clip ViT-H/14.
        components["image_encoder"] = _clip_vision_encoder(
            seed, image_size=224, patch_size=32, with_projection=False
        )
        components["image_processor"] = _clip_image_processor(224)
    return components


# ----------------------------------------------------------------------------------------------------------
# Flux.1-dev
# ----------------------------------------------------------------------------------------------------------


def _flux1_scheduler():
    from diffusers import FlowMatchEulerDiscreteScheduler

    # FLUX.1-dev's scheduler config; FLUX.2-dev's converted checkpoint copies it.
    return FlowMatchEulerDiscreteScheduler(
        num_train_timesteps=1000,
        shift=3.0,
        use_dynamic_shifting=True,
        base_image_seq_len=256,
        max_image_seq_len=4096,
        base_shift=0.5,
        max_shift=1.15,
    )


def _flux_components(seed: int) -> dict[str, Any]:
    from diffusers import FluxTransformer2DModel

    torch.manual_seed(seed)
    # FLUX.1-dev: 16 latent channels packed into 2x2 patches (in_channels 64; sides multiples of 16),
    # guidance-distilled (guidance_embeds), 3-axis RoPE whose axes sum to the head width (16 = 4 + 6 + 6;
    # 128 = 16 + 56 + 56 in the real model).  joint_attention_dim = the T5 width, pooled_projection_dim = the
    # CLIP width.  One double-stream and one single-stream block.
    transformer = FluxTransformer2DModel(
        patch_size=1,
        in_channels=64,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=TEXT_DIM,
        pooled_projection_dim=CROSS_ATTENTION_DIM,
        guidance_embeds=True,
        axes_dims_rope=(4, 6, 6),
    ).eval()
    text_encoder, tokenizer = _clip_text_encoder(seed)
    text_encoder_2, tokenizer_2 = _t5_text_encoder(seed, d_model=TEXT_DIM)
    # The Flux VAE: 8x, 16 latent channels, no quant convs, its own shift and scale.
    vae = _autoencoder_kl(
        seed,
        latent_channels=16,
        use_quant_conv=False,
        use_post_quant_conv=False,
        shift_factor=0.1159,
        scaling_factor=0.3611,
    )
    scheduler = _flux1_scheduler()
    return {
        "scheduler": scheduler,
        "vae": vae,
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "text_encoder_2": text_encoder_2,
        "tokenizer_2": tokenizer_2,
        "transformer": transformer,
        "image_encoder": None,
        "feature_extractor": None,
    }


# ----------------------------------------------------------------------------------------------------------
# Registry
# ----------------------------------------------------------------------------------------------------------

TINY_COMPONENT_BUILDERS: dict[str, Callable[[int], dict[str, Any]]] = {}
_spec = functools.partial(make_spec, TINY_COMPONENT_BUILDERS)

_VIDEO = {"height": TINY_HEIGHT, "width": TINY_WIDTH}


def _model_spec(name: str, model_class: str, builder: Callable[[int], Any], **kw: Any) -> DemoSpec:
    """A tiny build that is one model, not a pipeline (it stands in for a registry entry's component)."""
    return DemoSpec(name=name, task="component", pipeline_class=model_class, builder=builder, **kw)


TINY_PIPELINES: dict[str, DemoSpec] = {
    spec.name: spec
    for spec in [
        # ---- Stable Diffusion 1.5 and AnimateDiff ----
        _spec(
            "tiny-sd15", "text_to_image", "StableDiffusionPipeline", _sd15_components,
            description="SD-1.5 layout (4-level UNet, cross-attention on 3 levels) with SD-1.5's PNDM"
            " scheduler; the base of LEdits++ and AnimateDiff.",
            output_attr="images", call_kwargs=dict(_VIDEO),
            mirrors=(
                "stable-diffusion-v1-5/stable-diffusion-v1-5",
                "runwayml/stable-diffusion-v1-5",
                "emilianJR/epiCRealism",
            ),
        ),
        _model_spec(
            "tiny-animatediff-motion-adapter", "MotionAdapter", _build_sd15_motion_adapter,
            description="A MotionAdapter matching tiny-sd15's UNet (32 motion positions, mid block), saved on"
            " its own like guoyww/animatediff-motion-adapter-v1-5-2.",
            mirrors=("guoyww/animatediff-motion-adapter-v1-5-2",),
        ),
        # ---- text_to_video ----
        _spec(
            "tiny-latte", "text_to_video", "LattePipeline", _latte_components,
            description="Latte-1: LatteTransformer3DModel (exactly 16 frames) + SD VAE + T5.",
            call_kwargs=dict(_VIDEO, video_length=16, clean_caption=False),
            mirrors=("maxin-cn/Latte-1",),
        ),
        _spec(
            "tiny-cogvideox-2b", "text_to_video", "CogVideoXPipeline",
            functools.partial(_cogvideox_components, variant="2b"),
            description="CogVideoX-2b: sincos positions, DDIM, 3D VAE 8x/4x.",
            accepts_num_frames=True, call_kwargs=dict(_VIDEO, num_frames=9),
            mirrors=("THUDM/CogVideoX-2b", "zai-org/CogVideoX-2b"),
        ),
        _spec(
            "tiny-cogvideox-5b", "text_to_video", "CogVideoXPipeline",
            functools.partial(_cogvideox_components, variant="5b"),
            description="CogVideoX-5b: RoPE, DPM, 3D VAE 8x/4x; CogVideoXVideoToVideoPipeline loads it too.",
            accepts_num_frames=True, call_kwargs=dict(_VIDEO, num_frames=9),
            mirrors=("THUDM/CogVideoX-5b", "zai-org/CogVideoX-5b"),
        ),
        _spec(
            "tiny-ltx-video", "text_to_video", "LTXPipeline", _ltx_components,
            description="LTX-Video 0.9: patch-1 transformer over a 32x/8x VAE with 128 latent channels;"
            " LTXImageToVideoPipeline loads it too.",
            accepts_num_frames=True, call_kwargs=dict(_VIDEO, num_frames=9),
            mirrors=("Lightricks/LTX-Video",),
        ),
        _spec(
            "tiny-wan-t2v", "text_to_video", "WanPipeline", _wan_components,
            description="Wan 2.1 T2V 1.3B: 1x2x2 patches, VAE 8x/4x, UMT5, UniPC flow shift 3;"
            " WanVideoToVideoPipeline loads it too.",
            accepts_num_frames=True, default_output_type="np",
            call_kwargs=dict(_VIDEO, num_frames=9),
            mirrors=("Wan-AI/Wan2.1-T2V-1.3B-Diffusers",),
        ),
        # ---- image_to_video ----
        _spec(
            "tiny-svd", "image_to_video", "StableVideoDiffusionPipeline", _svd_components,
            description="Stable Video Diffusion (the demo-svd build).",
            input_arg="image", takes_prompt=False, accepts_num_frames=True,
            call_kwargs=dict(height=64, width=64, decode_chunk_size=8),
            mirrors=(
                "stabilityai/stable-video-diffusion-img2vid-xt",
                "stabilityai/stable-video-diffusion-img2vid",
            ),
        ),
        _spec(
            "tiny-i2vgen-xl", "image_to_video", "I2VGenXLPipeline", _i2vgenxl_components,
            description="I2VGen-XL (the demo-i2vgenxl build).",
            input_arg="image", accepts_num_frames=True,
            call_kwargs=dict(height=64, width=64, decode_chunk_size=8, clip_skip=None),
            mirrors=("ali-vilab/i2vgen-xl",),
        ),
        _spec(
            "tiny-cogvideox-5b-i2v", "image_to_video", "CogVideoXImageToVideoPipeline",
            functools.partial(_cogvideox_components, variant="5b-i2v"),
            description="CogVideoX-5b-I2V: 32 input channels, RoPE + a learned position table that only fits"
            " 64x96 (480x720 in the real model).",
            input_arg="image", accepts_num_frames=True, call_kwargs=dict(_VIDEO, num_frames=9),
            mirrors=("THUDM/CogVideoX-5b-I2V", "zai-org/CogVideoX-5b-I2V"),
        ),
        _spec(
            "tiny-wan-i2v", "image_to_video", "WanImageToVideoPipeline",
            functools.partial(_wan_components, i2v=True),
            description="Wan 2.1 I2V 14B 480P: 36 input channels, CLIP image tokens through added K/V.",
            input_arg="image", accepts_num_frames=True, default_output_type="np",
            call_kwargs=dict(_VIDEO, num_frames=9),
            mirrors=("Wan-AI/Wan2.1-I2V-14B-480P-Diffusers",),
        ),
        # ---- text_to_image / image_to_image ----
        _spec(
            "tiny-sd3", "text_to_image", "StableDiffusion3Pipeline", _sd3_components,
            description="Stable Diffusion 3 medium (the demo-sd3 build; its 16x16 patch table covers"
            " 128 px).",
            output_attr="images", call_kwargs=dict(height=64, width=64),
            mirrors=("stabilityai/stable-diffusion-3-medium-diffusers",),
        ),
        _spec(
            "tiny-flux", "text_to_image", "FluxPipeline", _flux_components,
            description="FLUX.1-dev: packed 16-channel latents, guidance embedding, CLIP + T5.",
            output_attr="images", call_kwargs=dict(_VIDEO),
            mirrors=("black-forest-labs/FLUX.1-dev",),
        ),
        _spec(
            "tiny-instruct-pix2pix", "image_to_image", "StableDiffusionInstructPix2PixPipeline",
            _instruct_pix2pix_components,
            description="InstructPix2Pix (the demo-instruct-pix2pix build).",
            input_arg="image", output_attr="images", accepts_size=False,
            mirrors=("timbrooks/instruct-pix2pix",),
        ),
    ]
}
