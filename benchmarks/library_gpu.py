"""Time and GPU memory of the library's newer video models at their usual size, random weights at real size.

    python benchmarks/library_gpu.py --entries wan22-5b-t2v,ltx-2 --out results.jsonl

For each registry entry: the pipeline is built in memory at real size with random weights
(`benchmarks/real_size.py`; nothing downloaded, nothing saved: the Wan 2.2 A14B pair alone is 57 GB,
more than the benchmark machine's disk), placed as the entry says (all on the GPU unless `--offload`),
and called the way the tool calls it: the entry's call style and call arguments, its usual frames and
size (`usual`), an input image for image-to-video.

A call of the usual step count takes up to a quarter of an hour for the largest (Wan 2.2 A14B at
1280x720x81, 40 steps), so each model makes one warm-up call (2 steps, no decode: CUDA's and the
kernels' first-use costs) and one timed call of `--steps` steps with its decode. The step callbacks
time each step; the full call is projected as the timed call plus the remaining steps at the fastest
step time seen after the first (steps are identical in work; the first of a call also moves weights
under offload). The peak is `torch.cuda.max_memory_allocated` over the timed call, weights included;
`spagent doctor`'s estimate for the same request is printed beside it.

Tool overhead (fitting, writing the MP4) is not in these numbers: `tools_gpu.py` measured it at
+0.3% to +3% of the raw call.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
import traceback
from pathlib import Path

import torch
from _table import table
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
import real_size  # noqa: E402

ENTRIES = ("wan22-5b-t2v", "skyreels-v2-df", "sana-video", "kandinsky5-t2v", "ltx-2", "hunyuanvideo-1.5",
           "wan22-a14b-t2v", "skyreels-v2-t2v", "kandinsky5-i2v", "hunyuanvideo-1.5-i2v")
PROMPT = "a red fox running through fresh snow at dawn, the camera tracking alongside"
GiB = 2**30


def _synced() -> float:
    torch.cuda.synchronize()
    return time.perf_counter()


def _free() -> None:
    gc.collect()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()


def measure(entry: str, *, steps: int, offload: bool) -> dict:
    from spagent_graph.tool_adapters.pipeline_calls import CALL_STYLES
    from spagent_graph.tool_adapters.registry import ToolRegistry

    from spagent_graph.apps.doctor import estimate_memory

    spec = ToolRegistry.from_yaml("library").get(entry)
    usual = spec.usual
    frames, height, width, _ = spec.fit_size(usual.frames, usual.height, usual.width)
    _free()
    started = _synced()
    pipeline = real_size.build(entry, "cuda")
    built = _synced() - started
    pipeline.set_progress_bar_config(disable=True)
    weights = sum(p.numel() * p.element_size() for m in pipeline.components.values()
                  if isinstance(m, torch.nn.Module) for p in m.parameters())
    params = sum(p.numel() for m in pipeline.components.values() if isinstance(m, torch.nn.Module)
                 for p in m.parameters())
    if spec.memory.vae_tiling and hasattr(pipeline.vae, "enable_tiling"):
        pipeline.vae.enable_tiling()
    if offload:
        pipeline.enable_model_cpu_offload()
    image = Image.new("RGB", (width, height), (170, 90, 40)) if spec.task.startswith("image_to") else None
    marks: list[float] = []

    def on_step_end(pipe, step, timestep, tensors):
        marks.append(_synced())
        return tensors

    def call(count: int, output_type: str, callback) -> float:
        offered = {**spec.defaults, "prompt": PROMPT, "image": image, "video": None, "height": height,
                   "width": width, "num_frames": frames, "num_inference_steps": count,
                   "output_type": output_type, "generator": torch.Generator("cpu").manual_seed(0), "callback_on_step_end": callback}
        with torch.inference_mode():
            kwargs = CALL_STYLES[spec.call_style](pipeline, offered, spec)
            begun = _synced()
            pipeline(**kwargs)
            return _synced() - begun

    warm_up = call(2, "latent", None)
    torch.cuda.reset_peak_memory_stats()
    begun = _synced()
    timed = call(steps, "pil", on_step_end)
    peak = torch.cuda.max_memory_allocated()
    intervals = [b - a for a, b in zip(marks, marks[1:])]
    per_step = min(intervals) if intervals else timed / steps
    usual_steps = spec.defaults.get("num_inference_steps", steps)
    estimate = estimate_memory(spec, frames=frames, height=height, width=width)
    pipeline = None  # the next model needs the memory; `call` above still names it
    _free()
    return {
        "entry": entry, "pipeline": spec.pipeline, "params_b": params / 1e9, "weights_gib": weights / GiB,
        "frames": frames, "height": height, "width": width,
        "placement": "model offload" if offload else "all on GPU",
        "build_s": built, "warm_up_s": warm_up, "steps_timed": steps, "timed_call_s": timed,
        "step_s": per_step, "step_intervals_s": intervals, "before_first_step_s": marks[0] - begun - per_step,
        "decode_s": begun + timed - marks[-1], "usual_steps": usual_steps,
        "projected_call_s": timed + (usual_steps - steps) * per_step, "peak_gib": peak / GiB,
        "doctor_gib": None if estimate is None else (
            estimate.model_offload_peak_bytes if offload else estimate.peak_bytes) / GiB,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", default=",".join(ENTRIES))
    parser.add_argument("--steps", type=int, default=3, help="Steps of the timed call (default 3).")
    parser.add_argument("--offload", default="", help="Entries to run again with model CPU offload.")
    parser.add_argument("--out", type=Path, default=None, help="Append each result as a JSON line here.")
    args = parser.parse_args()
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}", flush=True)
    runs = [(e, False) for e in args.entries.split(",") if e]
    runs += [(e, True) for e in args.offload.split(",") if e]
    rows = []
    for entry, offload in runs:
        try:
            result = measure(entry, steps=args.steps, offload=offload)
        except Exception as error:  # noqa: BLE001 - one model's failure should not cost the others' numbers
            failure = f"{type(error).__name__}: {error}\n{traceback.format_exc(limit=-4)}"
            print(f"{entry}: failed: {failure}", flush=True)
            _free()
            continue
        print(json.dumps(result), flush=True)
        if args.out:
            with args.out.open("a") as out:
                out.write(json.dumps(result) + "\n")
        rows.append(result)
    header = ("entry", "params B", "frames x size", "placement", "warm-up s", "s/step", "decode s",
              f"{args.steps}-step call s", "steps", "projected call s", "peak GiB", "doctor GiB")
    print(table(header, [(
        r["entry"], f"{r['params_b']:.2f}", f"{r['frames']}x{r['width']}x{r['height']}", r["placement"],
        f"{r['warm_up_s']:.1f}", f"{r['step_s']:.2f}", f"{r['decode_s']:.1f}", f"{r['timed_call_s']:.1f}",
        str(r["usual_steps"]), f"{r['projected_call_s']:.0f}", f"{r['peak_gib']:.1f}",
        "-" if r["doctor_gib"] is None else f"{r['doctor_gib']:.1f}") for r in rows]))
    if rows:
        print(f"median s/step over models: {statistics.median(r['step_s'] for r in rows):.2f}")


if __name__ == "__main__":
    main()
