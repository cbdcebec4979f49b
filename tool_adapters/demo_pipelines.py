"""Tiny random-weight diffusers pipelines, built entirely in code, for demos and tests.

Each demo pipeline is assembled the way diffusers' own fast tests do it in ``get_dummy_components()``:
every component is created right after ``torch.manual_seed(seed)`` with the smallest configuration that
still exercises the real code path, and the whole pipeline is written with ``save_pretrained``.  The tool
adapter then loads it with the ordinary ``PipelineClass.from_pretrained(local_dir)`` call, exactly as it
loads a real checkpoint, so a demo run goes through the same loading, argument handling and video/image
post-processing as a real one.

Nothing is downloaded: the CLIP tokenizers are generated from a byte-level vocabulary written to a temporary
directory, the T5 tokenizer of the SD3 demos from a character-level unigram vocabulary built with the
``tokenizers`` library, and the image processors and schedulers are configured in code.

Size choices shared by all pipelines (see the constants below):

* VAEs have four blocks, so they downsample by 8 like the real SD/SVD/ModelScope VAEs: a 64x64 frame
  becomes an 8x8 latent and ``height``/``width`` must be multiples of 8 (16 for SD3, whose transformer also
  patchifies by 2) -- the same divisibility rules an adapter meets with real checkpoints.
* Denoisers have two resolution levels (8x8 and 4x4 latents) with 32/64 channels and one layer per block;
  text and image encoders are 2-layer, 32-wide CLIP models.  A 2-step call at 64x64 (8 frames for video)
  takes about 0.05-0.3 s on a 2-core CPU, and each saved pipeline is 2-9 MB.
* The denoisers' ``sample_size`` is 8 (latent) so that the *default* height/width is already 64 wherever a
  pipeline derives it from the config.  SVD and I2VGen-XL have hard-coded defaults (576x1024, 704x1280):
  pass ``height=64, width=64`` to them (``DemoSpec.call_kwargs`` does).

Only torch, diffusers, transformers, tokenizers and the standard library are imported.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import shutil
import string
import tempfile
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

__all__ = [
    "DemoSpec",
    "DEMO_PIPELINES",
    "build_demo_pipeline",
    "ensure_demo_pipeline",
    "build_demo_components",
    "build_clip_tokenizer",
    "build_t5_tokenizer",
]

# ----------------------------------------------------------------------------------------------------------
# Shared sizes
# ----------------------------------------------------------------------------------------------------------

#: Output resolution every demo pipeline produces by default (and is tested at).
DEMO_RESOLUTION = 64
#: Number of frames the video demos are tested with; also the default ``num_frames`` of the SVD UNet.
DEMO_NUM_FRAMES = 8
#: Four VAE blocks -> three 2x downsamplings -> a factor of 8, as in the real SD/SVD VAEs.
VAE_SCALE_FACTOR = 8
#: Latent side for a 64x64 output; used as ``sample_size`` so the pipelines' config-derived defaults give
#: 64x64.
LATENT_SIZE = DEMO_RESOLUTION // VAE_SCALE_FACTOR
#: 32 channels per VAE block: the SVD temporal decoder hard-codes GroupNorm(32 groups), so 32 is its minimum;
#: the plain AutoencoderKL uses the same widths (with 8 norm groups) so that all VAEs cost about the same.
VAE_BLOCK_OUT_CHANNELS = (32, 32, 32, 32)
#: Two resolution levels for the denoisers; 32 is the smallest width the SVD UNet accepts (GroupNorm(32)
#: inside).
UNET_BLOCK_OUT_CHANNELS = (32, 64)
#: Width of every text/image embedding the denoisers cross-attend to (CLIP hidden size / projection size).
CROSS_ATTENTION_DIM = 32
#: CLIP's usual context length; the text encoders' position table has exactly this many entries.
TOKENIZER_MAX_LENGTH = 77
#: Width of the tiny T5 used by the SD3 demos (= the transformer's joint_attention_dim = 2 x CLIP width).
T5_D_MODEL = 2 * CROSS_ATTENTION_DIM


@dataclass(frozen=True)
class DemoSpec:
    """How to build one demo pipeline and how to call it.

    ``builder(seed)`` returns the pipeline object (not saved); :func:`build_demo_pipeline` saves it.
    The other fields describe the call, for adapters and tests:

    * ``input_arg``: the ``__call__`` argument carrying the conditioning image/video (``None`` for text only);
    * ``output_attr``: the output attribute holding the result (``"frames"`` for video, else ``"images"``);
    * ``takes_prompt``: whether ``__call__`` takes ``prompt`` (SVD does not);
    * ``accepts_num_frames``: whether ``__call__`` takes ``num_frames`` (video-to-video pipelines take the
      frame count from the input video);
    * ``accepts_size``: whether ``__call__`` takes ``height``/``width`` (VideoToVideoSD and InstructPix2Pix
      do not: their output has the input's size);
    * ``default_output_type``: the ``output_type`` used when none is passed (``"np"`` for the two ModelScope
      pipelines, ``"pil"`` for the others);
    * ``call_kwargs``: further keyword arguments a 64x64 call needs or should get.
    """

    name: str
    task: str
    pipeline_class: str
    builder: Callable[[int], Any] = field(repr=False, compare=False)
    description: str = ""
    input_arg: str | None = None
    output_attr: str = "frames"
    takes_prompt: bool = True
    accepts_num_frames: bool = False
    accepts_size: bool = True
    default_output_type: str = "pil"
    call_kwargs: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------------------
# Tokenizer and image processor, built locally
# ----------------------------------------------------------------------------------------------------------


def _bytes_to_unicode() -> dict[int, str]:
    """The GPT-2/CLIP byte -> printable-unicode table (the algorithm of ``bytes_to_unicode``)."""
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("\N{INVERTED EXCLAMATION MARK}"), ord("\N{NOT SIGN}") + 1))
        + list(range(ord("\N{REGISTERED SIGN}"), ord("\N{LATIN SMALL LETTER Y WITH DIAERESIS}") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(2**8):
        if b not in bs:
            bs.append(b)
            cs.append(2**8 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def _clip_vocab() -> dict[str, int]:
    """A byte-level CLIP vocabulary with no merges: every byte symbol, every byte symbol + ``</w>``, then the
    two special tokens at the end (as in the real CLIP vocab, where they are the two highest ids)."""
    symbols = list(_bytes_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols] + ["<|startoftext|>", "<|endoftext|>"]
    return {tok: i for i, tok in enumerate(tokens)}


def build_clip_tokenizer(model_max_length: int = TOKENIZER_MAX_LENGTH):
    """A CLIPTokenizer (514 tokens, no merges: it tokenises text byte by byte) built from files written to a
    temporary directory, so it goes through the same ``from_pretrained`` path as a real one."""
    from transformers import CLIPTokenizer

    with tempfile.TemporaryDirectory(prefix="demo-clip-tokenizer-") as tmp:
        tmp_path = pathlib.Path(tmp)
        (tmp_path / "vocab.json").write_text(json.dumps(_clip_vocab(), ensure_ascii=False), encoding="utf-8")
        # The header line is what every CLIP merges.txt starts with; no merge rules follow.
        (tmp_path / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
        tokenizer = CLIPTokenizer.from_pretrained(
            tmp,
            model_max_length=model_max_length,
            bos_token="<|startoftext|>",
            eos_token="<|endoftext|>",
            unk_token="<|endoftext|>",
            pad_token="<|endoftext|>",
        )
    return tokenizer


def _t5_vocab() -> list[tuple[str, float]]:
    """A character-level SentencePiece-style unigram vocabulary: the three T5 specials (pad=0, eos=1, unk=2),
    the word-boundary marker, then every printable ASCII character with and without the marker."""
    chars = [c for c in string.printable if not c.isspace()]
    return (
        [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
        + [("\u2581" + c, -3.0) for c in chars]
        + [(c, -4.0) for c in chars]
    )


def build_t5_tokenizer(model_max_length: int = 256):
    """A T5TokenizerFast (192 tokens, character level, no sentinel ids) built with the ``tokenizers`` library,
    written as tokenizer.json to a temporary directory and loaded with ``from_pretrained``."""
    from tokenizers import Tokenizer, decoders, pre_tokenizers, processors
    from tokenizers.models import Unigram
    from transformers import T5TokenizerFast

    tok = Tokenizer(Unigram(_t5_vocab(), unk_id=2, byte_fallback=False))
    # The same pre-tokenizer/decoder/post-processor as the real T5 tokenizer.json: split on whitespace, mark
    # word starts with U+2581, append </s>.
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.WhitespaceSplit(),
            pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always"),
        ]
    )
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(
        single=["$A", "</s>"], pair=["$A", "</s>", "$B", "</s>"], special_tokens=[("</s>", 1)]
    )
    with tempfile.TemporaryDirectory(prefix="demo-t5-tokenizer-") as tmp:
        tok.save(str(pathlib.Path(tmp) / "tokenizer.json"))
        config = {
            "model_max_length": model_max_length,
            "eos_token": "</s>",
            "unk_token": "<unk>",
            "pad_token": "<pad>",
            "extra_ids": 0,
        }
        (pathlib.Path(tmp) / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
        tokenizer = T5TokenizerFast.from_pretrained(tmp, extra_ids=0)
    return tokenizer


def _t5_text_encoder(seed: int):
    from transformers import T5Config, T5EncoderModel

    tokenizer = build_t5_tokenizer()
    torch.manual_seed(seed)
    # One gated-GELU layer (the T5 v1.1 block SD3 uses), 64 wide (= the transformer's joint_attention_dim),
    # 4 heads of 16; 8 relative-position buckets are plenty for a random model.
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=T5_D_MODEL,
        d_kv=16,
        d_ff=37,
        num_layers=1,
        num_heads=4,
        relative_attention_num_buckets=8,
        relative_attention_max_distance=32,
        dropout_rate=0.0,
        feed_forward_proj="gated-gelu",
        is_encoder_decoder=False,
        use_cache=False,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )
    return T5EncoderModel(config).eval(), tokenizer


def _clip_image_processor(size: int):
    """CLIP's image processor with the given resize/crop size.

    transformers 5 without torchvision maps ``CLIPImageProcessor`` to ``CLIPImageProcessorPil`` with a
    warning; we instantiate that class directly when it exists so the warning is not printed and the saved
    ``model_index.json`` names the class that was actually used.
    """
    import transformers

    cls = getattr(transformers, "CLIPImageProcessor")
    try:  # transformers >= 5: pick the PIL backend explicitly when torchvision is absent.
        import importlib.util

        if importlib.util.find_spec("torchvision") is None and hasattr(transformers, "CLIPImageProcessorPil"):
            cls = getattr(transformers, "CLIPImageProcessorPil")
    except Exception:  # pragma: no cover - defensive: fall back to the default class
        pass
    return cls(size={"shortest_edge": size}, crop_size={"height": size, "width": size})


# ----------------------------------------------------------------------------------------------------------
# Component builders
# ----------------------------------------------------------------------------------------------------------


def _clip_text_config(tokenizer, projection_dim: int = CROSS_ATTENTION_DIM):
    from transformers import CLIPTextConfig

    # 32 wide (= the denoisers' cross_attention_dim), 2 layers, 4 heads: the smallest encoder that still has
    # multi-head attention and a pooled/projected output.  vocab_size is exactly the tokenizer's size and the
    # special-token ids come from the tokenizer so pooling picks the real end-of-text position.
    return CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=CROSS_ATTENTION_DIM,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=TOKENIZER_MAX_LENGTH,
        projection_dim=projection_dim,
        hidden_act="gelu",
        layer_norm_eps=1e-5,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def _clip_text_encoder(seed: int, with_projection: bool = False):
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    tokenizer = build_clip_tokenizer()
    torch.manual_seed(seed)
    cls = CLIPTextModelWithProjection if with_projection else CLIPTextModel
    text_encoder = cls(_clip_text_config(tokenizer)).eval()
    return text_encoder, tokenizer


def _clip_vision_encoder(seed: int, image_size: int, patch_size: int):
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(seed)
    # Same 32-wide, 2-layer shape as the text encoders; projection_dim is the UNet's cross_attention_dim
    # because the projected image embedding is what the video UNets cross-attend to.
    config = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=image_size,
        patch_size=patch_size,
        projection_dim=CROSS_ATTENTION_DIM,
        hidden_act="gelu",
    )
    return CLIPVisionModelWithProjection(config).eval()


def _autoencoder_kl(seed: int, **overrides):
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    # Four blocks -> downsampling by 8 (see VAE_SCALE_FACTOR); one resnet per block and 4 latent channels
    # keep it cheap; 8 norm groups divide the 32-channel blocks.
    kwargs = dict(
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * len(VAE_BLOCK_OUT_CHANNELS),
        up_block_types=["UpDecoderBlock2D"] * len(VAE_BLOCK_OUT_CHANNELS),
        block_out_channels=list(VAE_BLOCK_OUT_CHANNELS),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=DEMO_RESOLUTION,
        # force_upcast only matters in float16; with it, AnimateDiffVideoToVideoPipeline casts the VAE to
        # float32 and back on every call, and diffusers logs a warning each time.
        force_upcast=False,
    )
    kwargs.update(overrides)
    return AutoencoderKL(**kwargs).eval()


def _unet_2d(seed: int, in_channels: int = 4):
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    # Two levels (8x8 -> 4x4 latents), one layer per block, cross-attention on the high-resolution level
    # only (mirrored in the up path, as in SD).  8 norm groups divide 32 and 64.  By diffusers' legacy naming
    # attention_head_dim is the number of heads here: 8 heads of 4 channels.
    return UNet2DConditionModel(
        sample_size=LATENT_SIZE,
        in_channels=in_channels,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        block_out_channels=UNET_BLOCK_OUT_CHANNELS,
        layers_per_block=1,
        cross_attention_dim=CROSS_ATTENTION_DIM,
        attention_head_dim=8,
        norm_num_groups=8,
    ).eval()


def _motion_adapter(seed: int):
    from diffusers import MotionAdapter

    torch.manual_seed(seed)
    # Must mirror the UNet it is merged into: same block widths and motion_layers_per_block ==
    # layers_per_block (UNetMotionModel.from_unet2d copies the 2D weights into a config built from both).
    # 32 positions cover the 8 test frames with room to spare (AnimateDiff v1.5 adapters also use 32).
    return MotionAdapter(
        block_out_channels=UNET_BLOCK_OUT_CHANNELS,
        motion_layers_per_block=1,
        motion_mid_block_layers_per_block=1,
        motion_num_attention_heads=4,
        motion_norm_num_groups=8,
        motion_max_seq_length=32,
        use_motion_mid_block=True,
    ).eval()


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


def _ddim_sd_scheduler(**overrides):
    from diffusers import DDIMScheduler

    # The SD-1.x / ModelScope noise schedule (scaled_linear 0.00085 -> 0.012, steps_offset 1).
    kwargs = dict(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
        prediction_type="epsilon",
    )
    kwargs.update(overrides)
    return DDIMScheduler(**kwargs)


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

_COMPONENT_BUILDERS: dict[str, Callable[[int], dict[str, Any]]] = {}


def _pipeline_builder(
    pipeline_class: str, components: Callable[[int], dict[str, Any]]
) -> Callable[[int], Any]:
    def build(seed: int = 0):
        import diffusers

        cls = getattr(diffusers, pipeline_class)
        pipe = cls(**components(seed))
        pipe.set_progress_bar_config(disable=True)
        return pipe

    build.__name__ = f"build_{pipeline_class}"
    return build


def _spec(
    name: str, task: str, pipeline_class: str, components: Callable[[int], dict[str, Any]], **kw: Any
) -> DemoSpec:
    _COMPONENT_BUILDERS[name] = components
    builder = _pipeline_builder(pipeline_class, components)
    return DemoSpec(name=name, task=task, pipeline_class=pipeline_class, builder=builder, **kw)


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


def build_demo_components(name: str, seed: int = 0) -> dict[str, Any]:
    """The keyword arguments for ``PipelineClass(**components)`` of demo pipeline ``name``."""
    if name not in _COMPONENT_BUILDERS:
        raise KeyError(f"unknown demo pipeline {name!r}; known: {sorted(DEMO_PIPELINES)}")
    return _COMPONENT_BUILDERS[name](seed)


def build_demo_pipeline(name: str, dest: pathlib.Path, seed: int = 0) -> pathlib.Path:
    """Builds the tiny pipeline `name`, saves it with save_pretrained into dest, returns dest."""
    if name not in DEMO_PIPELINES:
        raise KeyError(f"unknown demo pipeline {name!r}; known: {sorted(DEMO_PIPELINES)}")
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    dest = pathlib.Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    # Building logs warnings that say nothing about the demo (the deprecation notice of the ModelScope and
    # I2VGen-XL pipeline classes, UNetMotionModel's "modules that should be kept in float32: []") and
    # transformers draws a "Writing model shards" bar per encoder: keep both out of the build.  Loading and
    # calling the saved pipeline still log whatever diffusers logs.
    previous = diffusers_logging.get_verbosity()
    bars = transformers_logging.is_progress_bar_enabled()
    diffusers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    try:
        pipe = DEMO_PIPELINES[name].builder(seed)
        pipe.save_pretrained(dest, safe_serialization=True)
    finally:
        diffusers_logging.set_verbosity(previous)
        if bars:
            transformers_logging.enable_progress_bar()
    return dest


#: Written next to model_index.json by :func:`ensure_demo_pipeline`; diffusers ignores it when loading.
STAMP_FILE = "demo_build.json"
_ENSURE_LOCK = threading.Lock()


def _fingerprint(name: str, seed: int) -> dict[str, Any]:
    """What a cached build depends on: the demo, the seed, this module's code and the library versions."""
    import diffusers
    import transformers

    source = pathlib.Path(__file__).read_bytes()
    return {
        "name": name,
        "seed": seed,
        "module_sha256": hashlib.sha256(source).hexdigest(),
        "diffusers": diffusers.__version__,
        "transformers": transformers.__version__,
    }


def ensure_demo_pipeline(name: str, cache_dir: pathlib.Path, seed: int = 0) -> pathlib.Path:
    """Returns ``cache_dir / name``, building the demo pipeline there first unless an up-to-date build is
    already there.

    A build is up to date when its stamp file matches this module's code, the seed and the installed
    diffusers/transformers versions.  The pipeline is built in a temporary sibling folder and moved into
    place, so an interrupted build never leaves a half-written folder behind, and concurrent callers in one
    process build it once.
    """
    if name not in DEMO_PIPELINES:
        raise KeyError(f"unknown demo pipeline {name!r}; known: {sorted(DEMO_PIPELINES)}")
    cache_dir = pathlib.Path(cache_dir)
    dest = cache_dir / name
    wanted = _fingerprint(name, seed)

    def up_to_date() -> bool:
        try:
            stamp = json.loads((dest / STAMP_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return stamp == wanted and (dest / "model_index.json").is_file()

    with _ENSURE_LOCK:
        if up_to_date():
            return dest
        cache_dir.mkdir(parents=True, exist_ok=True)
        staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{name}-", dir=cache_dir))
        try:
            build_demo_pipeline(name, staging, seed=seed)
            (staging / STAMP_FILE).write_text(json.dumps(wanted, indent=2), encoding="utf-8")
            if dest.exists():
                shutil.rmtree(dest)
            staging.rename(dest)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return dest
