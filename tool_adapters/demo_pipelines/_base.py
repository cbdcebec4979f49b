"""Shared parts of the tiny pipelines: sizes, the spec record, locally built tokenizers and the small
components (CLIP, T5/UMT5, AutoencoderKL, UNet, motion adapter, SD scheduler) that several pipelines reuse.

See the package docstring for the ideas behind the sizes.
"""

from __future__ import annotations

import json
import pathlib
import string
import tempfile
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

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
      pipelines and Wan, ``"pil"`` for the others);
    * ``call_kwargs``: further keyword arguments a call at the build's size (64x64 for the demos) needs or
      should get;
    * ``mirrors``: the hub ids whose structure the build copies at toy width (tiny builds only), so a test can
      swap a registry entry's real ``model`` (or component) for the matching tiny folder.

    A spec whose ``pipeline_class`` is a model class rather than a pipeline (the AnimateDiff motion adapter)
    builds and saves that single model: it stands in for a registry entry's ``components``.
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
    mirrors: tuple[str, ...] = ()


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


def _t5_text_encoder(seed: int, d_model: int = T5_D_MODEL, umt5: bool = False, tokenizer: Any = None):
    """A one-layer T5 v1.1 encoder (or UMT5, Wan's text encoder) with the locally built tokenizer.

    One gated-GELU layer (the T5 v1.1 block SD3, Flux, CogVideoX, LTX and Latte use; UMT5 shares it), 4 heads
    of ``d_model / 4``; 8 relative-position buckets are plenty for a random model.  ``d_model`` is the width
    the denoiser's text projection expects (64 for SD3, 32 for the video transformers). A `tokenizer` may
    be given instead of the locally built T5 one (ByT5's needs no files).
    """
    from transformers import T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel

    tokenizer = tokenizer or build_t5_tokenizer()
    torch.manual_seed(seed)
    config_cls, model_cls = (UMT5Config, UMT5EncoderModel) if umt5 else (T5Config, T5EncoderModel)
    config = config_cls(
        vocab_size=len(tokenizer),
        d_model=d_model,
        d_kv=d_model // 4,
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
    return model_cls(config).eval(), tokenizer


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


def _clip_vision_encoder(seed: int, image_size: int, patch_size: int, with_projection: bool = True):
    from transformers import CLIPVisionConfig, CLIPVisionModel, CLIPVisionModelWithProjection

    torch.manual_seed(seed)
    # Same 32-wide, 2-layer shape as the text encoders; projection_dim is the UNet's cross_attention_dim
    # because the projected image embedding is what the video UNets cross-attend to.  Wan's image encoder is
    # a plain CLIPVisionModel (it reads the penultimate hidden state, not the projection).
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
    cls = CLIPVisionModelWithProjection if with_projection else CLIPVisionModel
    return cls(config).eval()


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


def _motion_adapter(seed: int, block_out_channels: tuple[int, ...] = UNET_BLOCK_OUT_CHANNELS):
    from diffusers import MotionAdapter

    torch.manual_seed(seed)
    # Must mirror the UNet it is merged into: same block widths and motion_layers_per_block ==
    # layers_per_block (UNetMotionModel.from_unet2d copies the 2D weights into a config built from both).
    # 32 positions cover the 8 test frames with room to spare (AnimateDiff v1.5 adapters also use 32).
    return MotionAdapter(
        block_out_channels=block_out_channels,
        motion_layers_per_block=1,
        motion_mid_block_layers_per_block=1,
        motion_num_attention_heads=4,
        motion_norm_num_groups=8,
        motion_max_seq_length=32,
        use_motion_mid_block=True,
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



# ----------------------------------------------------------------------------------------------------------
# Specs
# ----------------------------------------------------------------------------------------------------------


def pipeline_builder(
    pipeline_class: str, components: Callable[[int], dict[str, Any]]
) -> Callable[[int], Any]:
    """``build(seed)``: ``diffusers.<pipeline_class>(**components(seed))`` with its progress bar off."""

    def build(seed: int = 0):
        import diffusers

        cls = getattr(diffusers, pipeline_class)
        pipe = cls(**components(seed))
        pipe.set_progress_bar_config(disable=True)
        return pipe

    build.__name__ = f"build_{pipeline_class}"
    return build


def make_spec(
    registry: dict[str, Callable[[int], dict[str, Any]]],
    name: str,
    task: str,
    pipeline_class: str,
    components: Callable[[int], dict[str, Any]],
    **kw: Any,
) -> DemoSpec:
    """A DemoSpec whose builder calls ``pipeline_class(**components(seed))``; ``components`` is recorded in
    ``registry`` under ``name`` for :func:`build_demo_components`."""
    registry[name] = components
    builder = pipeline_builder(pipeline_class, components)
    return DemoSpec(name=name, task=task, pipeline_class=pipeline_class, builder=builder, **kw)
