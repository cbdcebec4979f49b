"""Tiny stand-ins for the wan22 checkpoints of the tool library (see _tiny.py for the rules they follow).

* ``tiny-wan22-ti2v-5b`` -- Wan 2.2 TI2V 5B: the Wan 2.2 VAE (a 2x2 pixel patchifier, then three 2x
  downsamplings: 16x spatial, 4x temporal, 48 latent channels), a 1x2x2-patch transformer over 48 channels
  (so sides are multiples of 16 x 2 = 32), and ``expand_timesteps``: the first latent frame gets timestep 0,
  which is how the same weights do image-to-video.  Saved as the hub repo is, a ``WanPipeline``;
  ``WanImageToVideoPipeline`` loads it too (its optional ``image_encoder`` stays ``None``).
* ``tiny-wan22-t2v-a14b`` / ``tiny-wan22-i2v-a14b`` -- the Wan 2.2 A14B pairs: a high-noise ``transformer``
  and a low-noise ``transformer_2`` over the Wan 2.1 VAE (8x, 4x, 16 channels), switched at the pipeline
  config's ``boundary_ratio`` (0.875 T2V, 0.9 I2V).  The two experts are built from different seeds, as the
  real ones hold different weights.  The I2V pair takes 36 input channels (noise 16 + mask 4 + image
  latents 16) and, unlike Wan 2.1 I2V, has no CLIP image encoder.
* ``tiny-wan-vace`` -- Wan 2.1 VACE (1.3B and 14B): a ``WanVACETransformer3DModel`` whose VACE blocks read 96
  control channels (inactive and reactive video latents, 16 + 16, and the 8x8 pixel mask folded into 64)
  and add hints to every second block (the 1.3B's layout; the 14B's every fifth).

Widths are 16-32 channels and one or three layers, as in _tiny.py; text is a 32-wide UMT5.
"""

from __future__ import annotations

import functools
from typing import Any

import torch

from spagent_graph.tool_adapters.demo_pipelines._base import DemoSpec, _t5_text_encoder

# The package's __init__ imports _tiny before anything else, and _tiny imports this module only at its
# end, so everything below already exists there when these names are read.
from .core import _VIDEO, TEXT_DIM, TINY_WAN_DENOISER, _spec, _wan21_vae

__all__ = ["TINY"]

#: Wan 2.2 VAE's per-channel latent statistics (Wan-AI/Wan2.2-TI2V-5B-Diffusers, vae/config.json).
WAN22_LATENTS_MEAN = [
    -0.2289, -0.0052, -0.1323, -0.2339, -0.2799, 0.0174, 0.1838, 0.1557, -0.1382, 0.0542, 0.2813, 0.0891,
    0.157, -0.0098, 0.0375, -0.1825, -0.2246, -0.1207, -0.0698, 0.5109, 0.2665, -0.2108, -0.2158, 0.2502,
    -0.2055, -0.0322, 0.1109, 0.1567, -0.0729, 0.0899, -0.2799, -0.123, -0.0313, -0.1649, 0.0117, 0.0723,
    -0.2839, -0.2083, -0.052, 0.3748, 0.0152, 0.1957, 0.1433, -0.2944, 0.3573, -0.0548, -0.1681, -0.0667,
]
WAN22_LATENTS_STD = [
    0.4765, 1.0364, 0.4514, 1.1677, 0.5313, 0.499, 0.4818, 0.5013, 0.8158, 1.0344, 0.5894, 1.0901,
    0.6885, 0.6165, 0.8454, 0.4978, 0.5759, 0.3523, 0.7135, 0.6804, 0.5833, 1.4146, 0.8986, 0.5659,
    0.7069, 0.5338, 0.4889, 0.4917, 0.4069, 0.4999, 0.6866, 0.4093, 0.5709, 0.6065, 0.6415, 0.4944,
    0.5726, 1.2042, 0.5458, 1.6887, 0.3971, 1.06, 0.3943, 0.5537, 0.5444, 0.4089, 0.7468, 0.7744,
]


def _wan_transformer(seed: int, in_channels: int, out_channels: int = 16):
    from diffusers import WanTransformer3DModel

    torch.manual_seed(seed)
    # Every Wan 2.x denoiser: 1x2x2 patches, RoPE, RMS-normed q/k across heads, a normed cross-attention to
    # the UMT5 tokens (text_dim = the tiny UMT5 width).  2 heads of 16 (RoPE splits the head over 3 axes),
    # one layer.  No image_dim: only Wan 2.1 I2V cross-attends to CLIP image tokens.
    return WanTransformer3DModel(
        **TINY_WAN_DENOISER, in_channels=in_channels, out_channels=out_channels, num_layers=1
    ).eval()


def _wan22_vae(seed: int):
    from diffusers import AutoencoderKLWan

    torch.manual_seed(seed)
    # The Wan 2.2 VAE: 3 -> 12 channels by a 2x2 pixel patchifier, then four residual levels with three 2x
    # downsamplings (16x in all; time halves at the last two: 4x, first frame apart), 48 latent channels
    # with the real statistics.  Encoder 8 wide and decoder 16 wide instead of 160 and 256 (the real decoder
    # is wider too), one resnet per level instead of two.
    return AutoencoderKLWan(
        base_dim=8,
        decoder_base_dim=16,
        z_dim=48,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
        is_residual=True,
        in_channels=12,
        out_channels=12,
        patch_size=2,
        scale_factor_spatial=16,
        scale_factor_temporal=4,
        latents_mean=WAN22_LATENTS_MEAN,
        latents_std=WAN22_LATENTS_STD,
    ).eval()


def _unipc(flow_shift: float):
    from diffusers import UniPCMultistepScheduler

    # The Diffusers checkpoints' scheduler: UniPC on flow sigmas with a fixed shift.
    return UniPCMultistepScheduler(
        num_train_timesteps=1000,
        prediction_type="flow_prediction",
        use_flow_sigmas=True,
        flow_shift=flow_shift,
    )


def _ti2v_5b_components(seed: int) -> dict[str, Any]:
    text_encoder, tokenizer = _t5_text_encoder(seed, d_model=TEXT_DIM, umt5=True)
    return {
        "tokenizer": tokenizer,
        "text_encoder": text_encoder,
        "vae": _wan22_vae(seed),
        # Shift 5 (TI2V-5B's sampling shift).
        "scheduler": _unipc(5.0),
        # 48 channels in and out: noise only; the image of image-to-video replaces the first latent frame.
        "transformer": _wan_transformer(seed, in_channels=48, out_channels=48),
        "transformer_2": None,
        "boundary_ratio": None,
        "expand_timesteps": True,
    }


def _a14b_components(seed: int, i2v: bool) -> dict[str, Any]:
    text_encoder, tokenizer = _t5_text_encoder(seed, d_model=TEXT_DIM, umt5=True)
    in_channels = 36 if i2v else 16
    components = {
        "tokenizer": tokenizer,
        "text_encoder": text_encoder,
        "vae": _wan21_vae(seed),
        # Shift 3: what diffusers' conversion script writes for the A14B checkpoints.
        "scheduler": _unipc(3.0),
        # High-noise expert (timesteps >= boundary_ratio x 1000), then the low-noise one.
        "transformer": _wan_transformer(seed, in_channels=in_channels),
        "transformer_2": _wan_transformer(seed + 1, in_channels=in_channels),
        "boundary_ratio": 0.9 if i2v else 0.875,
    }
    if i2v:
        components.update(image_encoder=None, image_processor=None)
    return components


def _vace_components(seed: int) -> dict[str, Any]:
    from diffusers import WanVACETransformer3DModel

    torch.manual_seed(seed)
    # Three blocks with VACE hints into blocks 0 and 2 (the 1.3B: every second of 30).  vace_in_channels 96
    # is structural: 16 inactive + 16 reactive latent channels + the 8x8 mask positions of a latent pixel.
    transformer = WanVACETransformer3DModel(
        **TINY_WAN_DENOISER,
        in_channels=16,
        out_channels=16,
        num_layers=3,
        vace_layers=[0, 2],
        vace_in_channels=96,
    ).eval()
    text_encoder, tokenizer = _t5_text_encoder(seed, d_model=TEXT_DIM, umt5=True)
    return {
        "tokenizer": tokenizer,
        "text_encoder": text_encoder,
        "vae": _wan21_vae(seed),
        "scheduler": _unipc(3.0),
        "transformer": transformer,
        "transformer_2": None,
    }


TINY: dict[str, DemoSpec] = {
    spec.name: spec
    for spec in [
        _spec(
            "tiny-wan22-ti2v-5b", "text_to_video", "WanPipeline", _ti2v_5b_components,
            description="Wan 2.2 TI2V 5B: Wan 2.2 VAE 16x/4x with 48 channels, 1x2x2 patches (sides of 32),"
            " expand_timesteps; WanImageToVideoPipeline loads it too.",
            accepts_num_frames=True, default_output_type="np", call_kwargs=dict(_VIDEO, num_frames=9),
            mirrors=("Wan-AI/Wan2.2-TI2V-5B-Diffusers",),
        ),
        _spec(
            "tiny-wan22-t2v-a14b", "text_to_video", "WanPipeline",
            functools.partial(_a14b_components, i2v=False),
            description="Wan 2.2 T2V A14B: two experts (transformer, transformer_2) switched at"
            " boundary_ratio 0.875, Wan 2.1 VAE 8x/4x.",
            accepts_num_frames=True, default_output_type="np", call_kwargs=dict(_VIDEO, num_frames=9),
            mirrors=("Wan-AI/Wan2.2-T2V-A14B-Diffusers",),
        ),
        _spec(
            "tiny-wan22-i2v-a14b", "image_to_video", "WanImageToVideoPipeline",
            functools.partial(_a14b_components, i2v=True),
            description="Wan 2.2 I2V A14B: two 36-channel experts switched at boundary_ratio 0.9, no CLIP"
            " image encoder.",
            input_arg="image", accepts_num_frames=True, default_output_type="np",
            call_kwargs=dict(_VIDEO, num_frames=9),
            mirrors=("Wan-AI/Wan2.2-I2V-A14B-Diffusers",),
        ),
        _spec(
            "tiny-wan-vace", "video_to_video", "WanVACEPipeline", _vace_components,
            description="Wan 2.1 VACE: WanVACETransformer3DModel (96 control channels, hints every second"
            " block) over the Wan 2.1 VAE; the input video is the control.",
            input_arg="video", accepts_num_frames=True, default_output_type="np",
            call_kwargs=dict(_VIDEO, num_frames=9),
            mirrors=("Wan-AI/Wan2.1-VACE-1.3B-diffusers", "Wan-AI/Wan2.1-VACE-14B-diffusers"),
        ),
    ]
}
