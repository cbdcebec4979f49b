"""One tool's acceleration levers, each set against the plain call, on a GPU at the model's real size.

    python benchmarks/levers_gpu.py --tool svd --frames 25 --height 480 --width 720 --repeats 3 \
        --levers '{"blocks": {"target": "unet", "compile": "blocks",
                              "blocks": ["TransformerSpatioTemporalModel", "SpatioTemporalResBlock"]},
                   "whole": {"target": "unet", "compile": "whole"}}'

Without `--levers`, the tool's registry profiles (`balanced`, `fast`) and, where a profile pulls more than
one lever, that profile less each lever (the lever's share). The tool is one of `tools_gpu.py`'s real-size
random builds (cogvideox, sd3, svd, bf16); every call goes through spagent-graph's tool as a run makes it,
each set of levers on its own copy of the denoiser. A variant's first call is at the full settings and
counts its compile (first s); then `--repeats` rounds take every variant in turn, the order rotated each
round. Prints the median warm seconds, the ratio to the plain call, peak memory and the PSNR/SSIM of each
variant's output against the plain one (same seed; with random weights, only how far the levers move it).
"""

from __future__ import annotations

import argparse
import gc
import json
from pathlib import Path

import numpy as np
import torch
from _levered import levered_copy, pulled_levers, rotated_rounds
from _table import table
from tools_gpu import MODELS, PROMPT, build_folder
from tools_gpu import _sync_time as timed

DTYPE = torch.bfloat16


def lever_sets(spec, given: str | None) -> dict:
    """The variants to time: `given` (JSON, name -> levers), else the registry's profiles and their ablations."""
    from spagent_graph.tool_adapters.acceleration import Levers

    if given:
        return {name: Levers.model_validate(levers) for name, levers in json.loads(given).items()}
    sets = {}
    for profile, levers in spec.acceleration.items():
        sets[profile] = levers
        pulled = pulled_levers(levers)
        if len(pulled) > 1:
            for lever, without in pulled.items():
                sets[f"{profile} less {lever}"] = without
    return sets


def main() -> None:
    from spagent_graph.media import read_frames
    from spagent_graph.metrics import psnr, ssim
    from spagent_graph.tool_adapters.acceleration import Levers
    from spagent_graph.tool_adapters.registry import ToolRegistry
    from spagent_graph.tool_adapters.toolbox import Toolbox

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tool", choices=sorted(MODELS), default="svd")
    parser.add_argument("--frames", type=int)
    parser.add_argument("--height", type=int)
    parser.add_argument("--width", type=int)
    parser.add_argument("--steps", type=int, help="Default: the entry's usual steps.")
    parser.add_argument("--levers", help="JSON: name -> levers (the registry's fields); default: its profiles.")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/levers"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    settings = MODELS[args.tool]
    spec = ToolRegistry.from_yaml("library").get(args.tool)
    spec = spec.model_copy(update={"model": f"/random/{args.tool}", "torch_dtype": "bfloat16", "variant": None})
    toolbox = Toolbox(ToolRegistry({args.tool: spec}), device="cuda")
    tool = toolbox.tool(args.tool)
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}, dtype {DTYPE}", flush=True)

    import diffusers

    folder, _, _ = build_folder(args.tool, args.workdir)
    base = getattr(diffusers, settings["pipeline"]).from_pretrained(folder, dtype=DTYPE).to("cuda")
    base.set_progress_bar_config(disable=True)
    sets = {"plain": Levers(), **lever_sets(spec, args.levers)}
    for name, levers in sets.items():
        pipeline = levered_copy(base, levers)
        toolbox.pool.get(tool.pool_key(levers), lambda device, pipeline=pipeline: pipeline, device="cuda")
        print(f"{name}: {levers.in_words()}", flush=True)

    image = args.workdir / "image.png"
    from PIL import Image

    Image.fromarray(np.random.default_rng(0).integers(0, 255, (576, 1024, 3), dtype=np.uint8)).save(image)
    request = {"prompt": PROMPT, "num_frames": args.frames or settings["frames"], "seed": 0, "fps": 8,
               "height": args.height or settings["height"], "width": args.width or settings["width"],
               "num_inference_steps": args.steps or spec.defaults.get("num_inference_steps")}
    if spec.task == "image_to_video":
        request["image"] = str(image)
    suffix = ".png" if spec.task == "text_to_image" else ".mp4"

    def call(name: str, tag: str) -> float:
        config = {"configurable": {"levers": {args.tool: sets[name]}}}
        path = args.workdir / f"{name.replace(' ', '-')}-{tag}{suffix}"
        return timed(lambda: tool.invoke({**request, "output_path": str(path)}, config=config))[0]

    first = {}
    for name in sets:
        torch.cuda.reset_peak_memory_stats()
        first[name] = call(name, "first")
        print(f"{name} first call: {first[name]:.1f} s", flush=True)
    runs: dict[str, list[float]] = {name: [] for name in sets}
    peaks = dict.fromkeys(sets, 0.0)
    for round_index, name in rotated_rounds(list(sets), args.repeats):
        gc.collect()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        runs[name].append(call(name, f"round-{round_index}"))
        peaks[name] = max(peaks[name], torch.cuda.max_memory_allocated() / 2**30)
        print(f"round {round_index + 1} {name}: {runs[name][-1]:.2f} s", flush=True)

    plain = float(np.median(runs["plain"]))
    reference = read_frames(args.workdir / f"plain-round-0{suffix}")
    rows = []
    for name, levers in sets.items():
        median = float(np.median(runs[name]))
        fidelity = ["-", "-"]
        if name != "plain":
            pairs = list(zip(read_frames(args.workdir / f"{name.replace(' ', '-')}-round-0{suffix}"), reference))
            fidelity = [f"{np.mean([psnr(np.asarray(a), np.asarray(b)) for a, b in pairs]):.1f}",
                        f"{np.mean([ssim(np.asarray(a), np.asarray(b)) for a, b in pairs]):.3f}"]
        rows.append([name, levers.in_words(), f"{first[name]:.1f}", f"{median:.2f}",
                     f"{min(runs[name]):.2f}-{max(runs[name]):.2f}", f"{plain / median:.2f}x",
                     f"{peaks[name]:.1f}", *fidelity])
    print(f"\n{args.tool}: {request['num_frames']} frames, {request['width']}x{request['height']} asked, "
          f"{request['num_inference_steps']} steps, {args.repeats} rounds\n")
    print(table(["variant", "levers", "first s", "warm s", "runs s", "speedup", "peak GiB", "PSNR vs plain",
                 "SSIM vs plain"], rows))


if __name__ == "__main__":
    main()
