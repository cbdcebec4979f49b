"""Tool overhead on a GPU at real model sizes (random weights, nothing downloaded).

For each model, the same pipeline folder is run two ways: the raw diffusers
call (`Pipeline.from_pretrained(folder)` then `pipe(...)`), and the same call
through spagent-graph's tool (`Toolbox(...).tool(name).invoke(...)`, which
also fits the request, reports steps and writes the MP4/PNG). Cold is the
first call of a fresh process state (load + call); warm is the median of the
following calls, which take the variants in turn (raw, raw+write, tool), the
order rotated each round, so that drift on a shared machine falls on none. The raw call is timed bare and again followed by writing its
output with the tool's own writer, since a caller who keeps the result pays
for that write either way. Prints one table; the two overhead columns are tool
warm / raw warm - 1 against each, measured in the same run.

    python benchmarks/tools_gpu.py --models cogvideox,svd,sd3 --workdir /tmp/spagent-bench

Shapes: CogVideoX-2B (transformer 30 layers x 30 heads, T5-XXL text encoder),
Stable Video Diffusion XT (UNet, temporal VAE decoder, CLIP ViT-H image
encoder), Stable Diffusion 3 medium (MMDiT 18 layers, CLIP-L, CLIP-G, T5-XXL),
all in bfloat16.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from _table import table
from PIL import Image

DTYPE = torch.bfloat16


# Real-size components -----------------------------------------------------------

def _t5_xxl():
    from transformers import T5Config, T5EncoderModel

    return T5EncoderModel(T5Config(
        vocab_size=32128, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
        feed_forward_proj="gated-gelu", relative_attention_num_buckets=32, is_encoder_decoder=False,
    ))


def _clip_text(hidden: int, layers: int, heads: int, intermediate: int, projection: int):
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    return CLIPTextModelWithProjection(CLIPTextConfig(
        vocab_size=49408, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        intermediate_size=intermediate, projection_dim=projection, max_position_embeddings=77, hidden_act="gelu",
    ))


def build_cogvideox():
    from diffusers import AutoencoderKLCogVideoX, CogVideoXDDIMScheduler, CogVideoXPipeline, CogVideoXTransformer3DModel
    from spagent_graph.tool_adapters.demo_pipelines import build_t5_tokenizer

    return CogVideoXPipeline(
        tokenizer=build_t5_tokenizer(model_max_length=226), text_encoder=_t5_xxl(),
        vae=AutoencoderKLCogVideoX(), transformer=CogVideoXTransformer3DModel(),  # defaults are CogVideoX-2B's
        scheduler=CogVideoXDDIMScheduler(
            beta_schedule="scaled_linear", prediction_type="v_prediction", rescale_betas_zero_snr=True,
            snr_shift_scale=3.0, timestep_spacing="trailing", clip_sample=False,
        ),
    )


def build_svd():
    from diffusers import AutoencoderKLTemporalDecoder, EulerDiscreteScheduler, StableVideoDiffusionPipeline
    from diffusers import UNetSpatioTemporalConditionModel
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=1280, num_hidden_layers=32, num_attention_heads=16, intermediate_size=5120,
        projection_dim=1024, image_size=224, patch_size=14, hidden_act="gelu",
    ))
    return StableVideoDiffusionPipeline(
        # The class defaults are a one-block toy; these are SVD's (8x spatial compression).
        vae=AutoencoderKLTemporalDecoder(
            block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
            layers_per_block=2, latent_channels=4, scaling_factor=0.18215,
        ),
        image_encoder=encoder, unet=UNetSpatioTemporalConditionModel(),
        scheduler=EulerDiscreteScheduler(
            beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, prediction_type="v_prediction",
            use_karras_sigmas=True, sigma_min=0.002, sigma_max=700.0, timestep_type="continuous",
            interpolation_type="linear", steps_offset=1,
        ),
        feature_extractor=CLIPImageProcessor(crop_size=224, size={"shortest_edge": 224}),
    )


def build_sd3():
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel, StableDiffusion3Pipeline
    from spagent_graph.tool_adapters.demo_pipelines import build_clip_tokenizer, build_t5_tokenizer

    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=16, block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4, layers_per_block=2,
        scaling_factor=1.5305, shift_factor=0.0609, use_quant_conv=False, use_post_quant_conv=False,
    )
    return StableDiffusion3Pipeline(
        transformer=SD3Transformer2DModel(),  # defaults are SD3-medium's
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0), vae=vae,
        text_encoder=_clip_text(768, 12, 12, 3072, 768), tokenizer=build_clip_tokenizer(),
        text_encoder_2=_clip_text(1280, 32, 20, 5120, 1280), tokenizer_2=build_clip_tokenizer(),
        text_encoder_3=_t5_xxl(), tokenizer_3=build_t5_tokenizer(model_max_length=256),
    )


MODELS = {
    "cogvideox": dict(build=build_cogvideox, task="text_to_video", pipeline="CogVideoXPipeline", frames=49,
                      height=480, width=720, steps=10, default_steps=50, rule={"offset": 1, "step": 8, "max": 49}, size_multiple=16,
                      call={"guidance_scale": 6.0}),
    "svd": dict(build=build_svd, task="image_to_video", pipeline="StableVideoDiffusionPipeline", frames=25,
                height=576, width=1024, steps=10, default_steps=25, rule={"max": 25}, size_multiple=8,
                call={"decode_chunk_size": 8}),
    "sd3": dict(build=build_sd3, task="text_to_image", pipeline="StableDiffusion3Pipeline", frames=1,
                height=1024, width=1024, steps=14, default_steps=28, rule={}, size_multiple=16, call={"guidance_scale": 7.0}),
}
PROMPT = "a red fox running through fresh snow at dawn"


def _sync_time(fn):
    torch.cuda.synchronize()
    started = time.perf_counter()
    result = fn()
    torch.cuda.synchronize()
    return time.perf_counter() - started, result


def _free():
    gc.collect()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()


def build_folder(name: str, workdir: Path) -> tuple[Path, float, float]:
    folder = workdir / name
    if not (folder / "model_index.json").exists():
        with torch.device("cuda"):
            pipeline = MODELS[name]["build"]()
        pipeline.to(DTYPE)
        pipeline.save_pretrained(folder)
        del pipeline
        _free()
    params = 0
    for file in folder.rglob("*.safetensors"):
        params += file.stat().st_size / 2  # bfloat16: two bytes a parameter
    size_gb = sum(f.stat().st_size for f in folder.rglob("*.safetensors")) / 1e9
    return folder, params / 1e9, size_gb


def measure(name: str, workdir: Path, repeats: int, image_path: Path) -> dict:
    import diffusers

    from spagent_graph.media import write_image, write_video
    from spagent_graph.tool_adapters.registry import ToolRegistry, ToolSpec
    from spagent_graph.tool_adapters.toolbox import Toolbox

    settings = MODELS[name]
    _free()
    print(f"{name}: {torch.cuda.memory_allocated() / 2**30:.2f} GiB allocated before building", flush=True)
    folder, billions, size_gb = build_folder(name, workdir)
    image = Image.open(image_path).convert("RGB").resize((settings["width"], settings["height"]))
    offered = {"prompt": PROMPT, "height": settings["height"], "width": settings["width"],
               "num_frames": settings["frames"], "num_inference_steps": settings["steps"], "output_type": "pil",
               "image": image, **settings["call"]}

    # 1. Raw diffusers and the tool, both loaded from the same folder (two copies of the weights).
    _free()
    cls = getattr(diffusers, settings["pipeline"])
    raw_load, pipe = _sync_time(lambda: cls.from_pretrained(folder, dtype=DTYPE).to("cuda"))
    pipe.set_progress_bar_config(disable=True)
    import inspect

    accepted = inspect.signature(pipe.__call__).parameters
    kwargs = {k: v for k, v in offered.items() if k in accepted}
    spec = ToolSpec(name=name, task=settings["task"], pipeline=settings["pipeline"], model=str(folder),
                    torch_dtype="bfloat16", call=settings["call"], frames=settings["rule"],
                    size_multiple=settings["size_multiple"])
    toolbox = Toolbox(ToolRegistry({name: spec}), device="cuda")
    tool = toolbox.tool(name)
    suffix = ".mp4" if settings["task"].endswith("video") else ".png"
    call = {"prompt": PROMPT, "height": settings["height"], "width": settings["width"], "num_frames": settings["frames"],
            "num_inference_steps": settings["steps"], "fps": 8, "seed": 0}
    if settings["task"].startswith("image"):
        call["image"] = str(image_path)

    def raw_call():
        with torch.inference_mode():
            return pipe(**kwargs, generator=torch.Generator("cpu").manual_seed(0))

    # The same raw call followed by the write any user of the output makes, with the
    # tool's own writer: what the tool adds beyond that is its orchestration.
    def raw_call_and_write(i: int):
        result = raw_call()
        if hasattr(result, "frames"):
            return write_video(list(result.frames[0]), workdir / f"{name}-raw-{i}.mp4", fps=8)
        return write_image(result.images[0], workdir / f"{name}-raw-{i}.png")

    def tool_call(i: int):
        return tool.invoke({"output_path": str(workdir / f"{name}-{i}{suffix}"), **call})

    raw_first, _ = _sync_time(raw_call)
    tool_cold, _ = _sync_time(lambda: tool_call(-1))  # loads the tool's own copy
    # 2. Warm calls, the three variants in turn and the order rotated each round, so that drift on
    #    a shared machine does not fall on one variant (all raw calls first showed up to +35%).
    variants = {"raw": lambda i: raw_call(), "raw+write": raw_call_and_write, "tool": tool_call}
    runs: dict[str, list[float]] = {key: [] for key in variants}
    peaks: dict[str, float] = {key: 0.0 for key in variants}
    resident = torch.cuda.memory_allocated()
    for i in range(repeats):
        order = list(variants)[i % 3:] + list(variants)[:i % 3]
        for key in order:
            torch.cuda.reset_peak_memory_stats()
            runs[key].append(_sync_time(lambda key=key, i=i: variants[key](i))[0])
            # Both copies are resident: a variant's peak is its activations over them, plus one copy.
            peaks[key] = max(peaks[key], (torch.cuda.max_memory_allocated() - resident) / 2**30)
    weights = sum(p.numel() * p.element_size() for m in pipe.components.values()
                  if isinstance(m, torch.nn.Module) for p in m.parameters()) / 2**30
    raw_warm, raw_written, tool_warm = runs["raw"], runs["raw+write"], runs["tool"]
    raw_peak, tool_peak = weights + peaks["raw"], weights + peaks["tool"]
    toolbox.unload_all()
    del pipe, tool, toolbox
    _free()

    raw_median, tool_median = statistics.median(raw_warm), statistics.median(tool_warm)
    written_median = statistics.median(raw_written)
    return {
        "model": name, "params_b": billions, "disk_gb": size_gb, "raw_load_s": raw_load, "raw_cold_call_s": raw_first,
        "raw_warm_s": raw_median, "tool_cold_s": tool_cold, "tool_warm_s": tool_median,
        "raw_written_s": written_median, "overhead": tool_median / raw_median - 1,
        "overhead_vs_written": tool_median / written_median - 1, "raw_peak_gib": raw_peak, "tool_peak_gib": tool_peak,
        "raw_runs": raw_warm, "raw_written_runs": raw_written, "tool_runs": tool_warm,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="cogvideox,svd,sd3")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/spagent-bench"))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--steps", type=int, default=None, help="Denoising steps for every model (default: each model's row).")
    parser.add_argument("--default-steps", action="store_true", help="Each model's usual step count (50, 25, 28).")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    image_path = args.workdir / "input.png"
    Image.fromarray((np.random.default_rng(0).random((576, 1024, 3)) * 255).astype(np.uint8)).save(image_path)

    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}, dtype {DTYPE}")
    header = ("model", "steps", "params (B)", "raw load s", "raw 1st call s", "raw warm s", "tool cold s", "tool warm s",
              "raw+write warm s", "overhead vs raw", "overhead vs raw+write", "raw peak GiB", "tool peak GiB")
    rows = []
    for name in args.models.split(","):
        if args.steps or args.default_steps:
            MODELS[name]["steps"] = args.steps or MODELS[name]["default_steps"]
        r = measure(name, args.workdir, args.repeats, image_path)
        rows.append((r["model"], str(MODELS[name]["steps"]), f"{r['params_b']:.2f}", f"{r['raw_load_s']:.1f}", f"{r['raw_cold_call_s']:.2f}",
                     f"{r['raw_warm_s']:.2f}", f"{r['tool_cold_s']:.2f}", f"{r['tool_warm_s']:.2f}",
                     f"{r['raw_written_s']:.2f}", f"{100 * r['overhead']:+.2f}%", f"{100 * r['overhead_vs_written']:+.2f}%",
                     f"{r['raw_peak_gib']:.1f}", f"{r['tool_peak_gib']:.1f}"))
        print(f"{name}: warm runs raw {['%.3f' % t for t in r['raw_runs']]}, raw+write "
              f"{['%.3f' % t for t in r['raw_written_runs']]}, tool {['%.3f' % t for t in r['tool_runs']]}", flush=True)
    print(table(header, rows))


if __name__ == "__main__":
    main()
