"""The ten demo pipelines of ``registries/demo.yaml``: two per task, 64x64, 8 frames for video."""

from __future__ import annotations

import functools
from typing import Any, Callable

import torch

from ._base import (
    CROSS_ATTENTION_DIM,
    DEMO_NUM_FRAMES,
    DEMO_RESOLUTION,
    LATENT_SIZE,
    T5_D_MODEL,
    UNET_BLOCK_OUT_CHANNELS,
    VAE_BLOCK_OUT_CHANNELS,
    DemoSpec,
    _autoencoder_kl,
    _clip_image_processor,
    _clip_text_encoder,
    _clip_vision_encoder,
    _ddim_sd_scheduler,
    _motion_adapter,
    _t5_text_encoder,
    _unet_2d,
    make_spec,
)

__all__ = ["DEMO_PIPELINES", "DEMO_COMPONENT_BUILDERS"]


def _unet_3d(seed: int):
    from diffusers import UNet3DConditionModel

    torch.manual_seed(seed)
    # ModelScope-style UNet: two levels, one layer per block.  Note that UNet3DConditionModel (legacy
    # naming) uses ``attention_head_dim`` as the *number* of heads; 4 heads divide both widths.  Its
    # temporal input transformer has 8 hard-coded heads of ``attention_head_dim`` channels.
    return UNet3DConditionModel(
        sample_size=LATENT_SIZE,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
        up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
        block_out_channels=UNET_BLOCK_OUT_CHANNELS,
        layers_per_block=1,
        cross_attention_dim=CROSS_ATTENTION_DIM,
        attention_head_dim=4,
        norm_num_groups=8,
    ).eval()



def _animatediff_components(seed: int) -> dict[str, Any]:
    text_encoder, tokenizer = _clip_text_encoder(seed)
    return {
        "vae": _autoencoder_kl(seed),
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "unet": _unet_2d(seed),
        "motion_adapter": _motion_adapter(seed),
        # AnimateDiff's recommended DDIM settings: linear betas, linspace spacing, no clipping.
        "scheduler": _ddim_sd_scheduler(beta_schedule="linear", timestep_spacing="linspace"),
        "feature_extractor": None,
        "image_encoder": None,
    }


def _modelscope_components(seed: int) -> dict[str, Any]:
    text_encoder, tokenizer = _clip_text_encoder(seed)
    return {
        "vae": _autoencoder_kl(seed),
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "unet": _unet_3d(seed),
        "scheduler": _ddim_sd_scheduler(),
    }


def _svd_components(seed: int) -> dict[str, Any]:
    from diffusers import (
        AutoencoderKLTemporalDecoder,
        EulerDiscreteScheduler,
        UNetSpatioTemporalConditionModel,
    )

    torch.manual_seed(seed)
    # in_channels 8 = noisy latents (4) + the conditioning image's latents (4).  Widths 32/64 are the
    # minimum (GroupNorm with 32 groups is hard-coded).  The three added time ids (fps, motion bucket, noise
    # aug) are each embedded in addition_time_embed_dim=8 channels, hence
    # projection_class_embeddings_input_dim = 3 * 8.  num_frames=8 makes 8 the pipeline's default.
    unet = UNetSpatioTemporalConditionModel(
        sample_size=LATENT_SIZE,
        in_channels=8,
        out_channels=4,
        down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
        block_out_channels=UNET_BLOCK_OUT_CHANNELS,
        layers_per_block=1,
        cross_attention_dim=CROSS_ATTENTION_DIM,
        num_attention_heads=(2, 4),
        addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=3 * 8,
        num_frames=DEMO_NUM_FRAMES,
    ).eval()

    torch.manual_seed(seed)
    # Four 32-wide blocks -> factor 8 (32: the temporal decoder hard-codes 32 norm groups).
    vae = AutoencoderKLTemporalDecoder(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * len(VAE_BLOCK_OUT_CHANNELS),
        block_out_channels=VAE_BLOCK_OUT_CHANNELS,
        layers_per_block=1,
        latent_channels=4,
        sample_size=DEMO_RESOLUTION,
    ).eval()

    # SVD always resizes the conditioning image to 224x224 before the image encoder (it does not use the
    # processor's resize), so the vision tower must take 224x224; 32-pixel patches keep that to 7x7=49 tokens.
    image_encoder = _clip_vision_encoder(seed, image_size=224, patch_size=32)
    torch.manual_seed(seed)
    feature_extractor = _clip_image_processor(224)

    # The real SVD scheduler config (EDM-style Euler with Karras sigmas and v-prediction).
    scheduler = EulerDiscreteScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        interpolation_type="linear",
        prediction_type="v_prediction",
        sigma_max=700.0,
        sigma_min=0.002,
        steps_offset=1,
        timestep_spacing="leading",
        timestep_type="continuous",
        use_karras_sigmas=True,
    )
    return {
        "vae": vae,
        "image_encoder": image_encoder,
        "unet": unet,
        "scheduler": scheduler,
        "feature_extractor": feature_extractor,
    }


def _i2vgenxl_components(seed: int) -> dict[str, Any]:
    from diffusers.models.unets import I2VGenXLUNet

    torch.manual_seed(seed)
    # Same two-level layout and head count as the ModelScope UNet (``attention_head_dim`` is again the
    # number of heads).  The image-latent context branch has a fixed AdaptiveAvgPool to 32x32, so it works at
    # any latent size.
    unet = I2VGenXLUNet(
        sample_size=LATENT_SIZE,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
        up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
        block_out_channels=UNET_BLOCK_OUT_CHANNELS,
        layers_per_block=1,
        cross_attention_dim=CROSS_ATTENTION_DIM,
        attention_head_dim=4,
        num_attention_heads=None,
        norm_num_groups=8,
    ).eval()
    text_encoder, tokenizer = _clip_text_encoder(seed)
    # I2VGen-XL resizes the image to the processor's crop_size itself, so a 32x32 vision tower (4x4 patches of
    # 8 pixels -> 16 tokens) is enough.
    image_encoder = _clip_vision_encoder(seed, image_size=32, patch_size=8)
    torch.manual_seed(seed)
    feature_extractor = _clip_image_processor(32)
    return {
        "vae": _autoencoder_kl(seed),
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "image_encoder": image_encoder,
        "feature_extractor": feature_extractor,
        "unet": unet,
        "scheduler": _ddim_sd_scheduler(),
    }


def _sd3_components(seed: int) -> dict[str, Any]:
    from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel

    torch.manual_seed(seed)
    # patch_size 2 like the real SD3 (so height/width must be multiples of 8 * 2 = 16): an 8x8 latent
    # becomes 4x4 = 16 image tokens.  4 heads x 8 = 32 inner width; caption_projection_dim must equal that
    # width.  joint_attention_dim = 64 = the T5 width, which is also the two CLIP hidden states concatenated
    # (32 + 32), so the pipeline's zero-padding of the CLIP features to the T5 width is a no-op (in the real
    # model 768 + 1280 CLIP channels are padded to 4096).  pooled_projection_dim = 64 = the two CLIP
    # text_embeds concatenated (32 + 32).  pos_embed_max_size 16 >= the 4x4 patch grid (it is cropped from a
    # 16x16 table).
    transformer = SD3Transformer2DModel(
        sample_size=LATENT_SIZE,
        patch_size=2,
        in_channels=4,
        out_channels=4,
        num_layers=2,
        attention_head_dim=8,
        num_attention_heads=4,
        joint_attention_dim=T5_D_MODEL,
        caption_projection_dim=32,
        pooled_projection_dim=2 * CROSS_ATTENTION_DIM,
        pos_embed_max_size=16,
    ).eval()
    text_encoder, tokenizer = _clip_text_encoder(seed, with_projection=True)
    text_encoder_2, tokenizer_2 = _clip_text_encoder(seed + 1, with_projection=True)
    text_encoder_3, tokenizer_3 = _t5_text_encoder(seed)
    # SD3's VAE has no quant convs and uses a shift as well as a scale for its latents.
    vae = _autoencoder_kl(
        seed, use_quant_conv=False, use_post_quant_conv=False, shift_factor=0.0609, scaling_factor=1.5035
    )
    return {
        "transformer": transformer,
        # The real SD3-medium scheduler config: flow matching with shift 3.
        "scheduler": FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=3.0),
        "vae": vae,
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "text_encoder_2": text_encoder_2,
        "tokenizer_2": tokenizer_2,
        # A tiny T5 rather than None: SD3 accepts text_encoder_3=None/tokenizer_3=None in its constructor, but
        # they are not "optional components", so a pipeline saved without them only loads with
        # from_pretrained(dir, text_encoder_3=None, tokenizer_3=None).  With a T5 the plain
        # from_pretrained(dir) works, like for a real SD3 checkpoint.
        "text_encoder_3": text_encoder_3,
        "tokenizer_3": tokenizer_3,
    }


def _sd_components(seed: int, in_channels: int = 4, scheduler=None) -> dict[str, Any]:
    text_encoder, tokenizer = _clip_text_encoder(seed)
    return {
        "vae": _autoencoder_kl(seed),
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "unet": _unet_2d(seed, in_channels=in_channels),
        "scheduler": scheduler if scheduler is not None else _ddim_sd_scheduler(),
        "safety_checker": None,
        "feature_extractor": None,
        "image_encoder": None,
        "requires_safety_checker": False,
    }


def _instruct_pix2pix_components(seed: int) -> dict[str, Any]:
    from diffusers import EulerAncestralDiscreteScheduler

    # in_channels 8 = noisy latents (4) + the input image's latents (4), as in timbrooks/instruct-pix2pix,
    # whose scheduler is Euler-ancestral on the SD-1.x schedule.
    scheduler = EulerAncestralDiscreteScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        steps_offset=1,
        prediction_type="epsilon",
    )
    return _sd_components(seed, in_channels=8, scheduler=scheduler)



# ----------------------------------------------------------------------------------------------------------
# Registry
# ----------------------------------------------------------------------------------------------------------

DEMO_COMPONENT_BUILDERS: dict[str, Callable[[int], dict[str, Any]]] = {}
_spec = functools.partial(make_spec, DEMO_COMPONENT_BUILDERS)

_SIZE = {"height": DEMO_RESOLUTION, "width": DEMO_RESOLUTION}
_DEPRECATED = "deprecated pipeline class since diffusers 0.34, still shipped; logs a warning when built"

DEMO_PIPELINES: dict[str, DemoSpec] = {
    spec.name: spec
    for spec in [
        # ---- text_to_video ----
        _spec(
            "demo-animatediff", "text_to_video", "AnimateDiffPipeline", _animatediff_components,
            description="AnimateDiff: UNet2DConditionModel + MotionAdapter (merged into a UNetMotionModel"
            " when the pipeline is built, saved as such) + CLIP text encoder.",
            accepts_num_frames=True, call_kwargs=dict(_SIZE),
        ),
        _spec(
            "demo-modelscope-t2v", "text_to_video", "TextToVideoSDPipeline", _modelscope_components,
            description=f"ModelScope text-to-video: UNet3DConditionModel + CLIP text encoder"
            f" ({_DEPRECATED}).",
            accepts_num_frames=True, default_output_type="np", call_kwargs=dict(_SIZE),
        ),
        # ---- image_to_video ----
        _spec(
            "demo-svd", "image_to_video", "StableVideoDiffusionPipeline", _svd_components,
            description="Stable Video Diffusion: UNetSpatioTemporalConditionModel +"
            " AutoencoderKLTemporalDecoder + CLIPVisionModelWithProjection; no text prompt.",
            input_arg="image", takes_prompt=False, accepts_num_frames=True,
            call_kwargs=dict(_SIZE, decode_chunk_size=DEMO_NUM_FRAMES),
        ),
        _spec(
            "demo-i2vgenxl", "image_to_video", "I2VGenXLPipeline", _i2vgenxl_components,
            description=f"I2VGen-XL: I2VGenXLUNet + CLIP text and vision encoders ({_DEPRECATED}).",
            input_arg="image", accepts_num_frames=True,
            # clip_skip defaults to 1 in I2VGenXLPipeline, and that code path reads text_encoder.text_model,
            # which transformers 5's CLIPTextModel no longer has (AttributeError): pass clip_skip=None.
            call_kwargs=dict(_SIZE, decode_chunk_size=DEMO_NUM_FRAMES, clip_skip=None),
        ),
        # ---- video_to_video ----
        _spec(
            "demo-animatediff-v2v", "video_to_video", "AnimateDiffVideoToVideoPipeline",
            _animatediff_components,
            description="AnimateDiff video-to-video (SDEdit on a list of frames): the demo-animatediff"
            " components.",
            input_arg="video", call_kwargs=dict(_SIZE),
        ),
        _spec(
            "demo-modelscope-v2v", "video_to_video", "VideoToVideoSDPipeline", _modelscope_components,
            description="ModelScope/Zeroscope video-to-video: the demo-modelscope-t2v components"
            f" ({_DEPRECATED}).  No height/width arguments: the output has the input video's size.",
            input_arg="video", accepts_size=False, default_output_type="np",
        ),
        # ---- text_to_image ----
        _spec(
            "demo-sd3", "text_to_image", "StableDiffusion3Pipeline", _sd3_components,
            description="Stable Diffusion 3: SD3Transformer2DModel + two CLIPTextModelWithProjection + a tiny"
            " T5EncoderModel.",
            output_attr="images", call_kwargs=dict(_SIZE),
        ),
        _spec(
            "demo-sd", "text_to_image", "StableDiffusionPipeline", _sd_components,
            description="Stable Diffusion 1.x: UNet2DConditionModel + CLIP text encoder, no safety checker.",
            output_attr="images", call_kwargs=dict(_SIZE),
        ),
        # ---- image_to_image ----
        _spec(
            "demo-sd3-img2img", "image_to_image", "StableDiffusion3Img2ImgPipeline", _sd3_components,
            description="Stable Diffusion 3 img2img: the demo-sd3 components.",
            input_arg="image", output_attr="images", call_kwargs=dict(_SIZE),
        ),
        _spec(
            "demo-instruct-pix2pix", "image_to_image", "StableDiffusionInstructPix2PixPipeline",
            _instruct_pix2pix_components,
            description="InstructPix2Pix: UNet2DConditionModel with 8 input channels + CLIP text encoder.  No"
            " height/width arguments: the output has the input image's size.",
            input_arg="image", output_attr="images", accepts_size=False,
        ),
    ]
}
