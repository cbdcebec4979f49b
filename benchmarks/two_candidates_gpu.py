"""Two judged candidates against one plain call of the larger model, on one GPU, per acceleration profile.

    python benchmarks/two_candidates_gpu.py [--frames 49 --height 480 --width 720] [--profiles exact,balanced,fast]
                                            [--repeats 2] [--no-ablations] [--fidelity-frames 9]

On an H200 a round takes about 3 minutes (2.4 without the ablations), building and warming up 2.

The request is the one SPAgent makes of a text: route 1 is CogVideoX-2B text-to-video, route 2 is SD3
text-to-image then SVD-XT image-to-video, and both candidates are judged (the frame-statistics judge). All
three models are built at their real sizes with random weights (bf16, nothing downloaded), each with the
library entry's own settings and usual steps (50, 28, 25), and every call goes through spagent-graph's tool
(fitting, step reporting, the MP4/PNG writes) with the levers of the profile that the registry gives. The
routes run one after the other, as they do on one GPU (two at once was measured at 0.97x in issue 15).

Each profile has its own copy of each denoiser (the encoders and VAEs are shared, as the tool's pool
shares them), so compiled blocks and cache hooks never leak into the exact one. A profile's first request
is a warm-up of two steps at the same shapes (its seconds, less the exact warm-up's, are the compile time;
compiled code is shared by modules of one class and shape, so levers two profiles have in common are paid
by the first one warmed). Then `--repeats` rounds, each timing the plain call, one whole request per
profile and, where a profile pulls several levers on a model, that model's call less each lever in turn
(which splits its saving between the levers; `--no-ablations` leaves these out), the order rotated every
round so that drift on a shared machine falls on none; the table gives medians and each variant's fastest
and slowest run. The plain call is CogVideoXPipeline's own `pipe(...)` at the same settings, decode
included, no write. Fidelity is PSNR and SSIM of each profile's candidates against the exact profile's,
same seeds, over `--fidelity-frames` frames of each: with random weights it shows only that the levers run
and how far they move the output, not whether the videos would still look right (that needs trained
weights: `spagent bench` on the user's own).

The fast profile here uses the registry's cache without a bench record: this benchmark measures the levers
themselves (a real run would use the cache only after `spagent bench` passed).
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from pathlib import Path

import numpy as np
import torch
from _levered import levered_copy, pulled_levers, rotated_rounds
from _table import table
from tools_gpu import MODELS, PROMPT, build_folder
from tools_gpu import _sync_time as timed

DTYPE = torch.bfloat16
BUILDERS = ("cogvideox", "sd3", "svd")


def free() -> None:
    gc.collect()
    torch.cuda.empty_cache()


def main() -> None:
    from spagent_graph.judging import classical_evaluation
    from spagent_graph.media import read_frames
    from spagent_graph.metrics import psnr, ssim
    from spagent_graph.state import Candidate
    from spagent_graph.tool_adapters.registry import ToolRegistry, ToolSpec
    from spagent_graph.tool_adapters.toolbox import Toolbox

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=49)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=720)
    parser.add_argument("--profiles", default="exact,fast,balanced")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/two-candidates"))
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    parser.add_argument("--repeats", type=int, default=1, help="Timed rounds of every variant (default 1).")
    parser.add_argument("--no-ablations", action="store_true",
                        help="Leave out the calls less one lever (the levers' shares), which add about 50 s a round.")
    parser.add_argument("--fidelity-frames", type=int, default=9,
                        help="Frames of each video, spread evenly, in PSNR/SSIM (all 49 take a minute of CPU).")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    profiles = args.profiles.split(",")
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}, dtype {DTYPE}", flush=True)

    library = ToolRegistry.from_yaml("library")
    specs: dict[str, ToolSpec] = {}
    for name in BUILDERS:
        # The library entry as declared, its weights the random build below, in bf16.
        specs[name] = library.get(name).model_copy(update={"model": f"/random/{name}", "torch_dtype": "bfloat16",
                                                           "variant": None})
    toolbox = Toolbox(ToolRegistry(specs), device="cuda")

    # Real-size random weights, built on the GPU; one copy of the pipelines per profile.
    base = {}
    for name in BUILDERS:
        seconds, pipeline = timed(lambda name=name: _built(name, args.workdir))
        base[name] = pipeline
        print(f"built and loaded {name} in {seconds:.1f} s", flush=True)
    levers = {p: {name: _profile_levers(specs[name], p) for name in specs} for p in profiles}
    # Where a profile pulls more than one lever on a model, that model's call is also timed less each
    # lever, which splits its saving between them.
    ablations = {} if args.no_ablations else {
        f"{profile} {name} less {lever}": (name, without) for profile in profiles for name in specs
        if len(pulled := pulled_levers(levers[profile][name])) > 1 for lever, without in pulled.items()}
    for variant_name, (name, chosen) in [(f"{profile} {name}", (name, levers[profile][name]))
                                         for profile in profiles for name in specs] + list(ablations.items()):
        variant = levered_copy(base[name], chosen)
        toolbox.pool.get(toolbox.tool(name).pool_key(chosen), lambda device, variant=variant: variant, device="cuda")
        print(f"{variant_name}: {chosen.in_words()}", flush=True)
    print(f"{torch.cuda.memory_allocated() / 2**30:.1f} GiB of weights resident", flush=True)

    # The plain call: CogVideoX's own pipeline at the request's settings (the larger model of the two routes).
    cog = specs["cogvideox"]
    frames, height, width, _ = cog.fit_size(args.frames, args.height, args.width)
    plain_kwargs = dict(prompt=PROMPT, num_frames=frames, height=height, width=width, output_type="pil",
                        num_inference_steps=cog.defaults["num_inference_steps"], **cog.call)

    def plain_call(steps: int | None = None) -> float:
        kwargs = {**plain_kwargs, "num_inference_steps": steps or plain_kwargs["num_inference_steps"]}
        with torch.inference_mode():
            return timed(lambda: base["cogvideox"](**kwargs, generator=torch.Generator("cpu").manual_seed(0)))[0]

    plain_call(steps=2)  # the plain pipeline's own warm-up

    asked = {"prompt": PROMPT, "num_frames": args.frames, "height": args.height, "width": args.width,
             "fps": 8, "seed": 0}
    route_2_image = {}  # SVD's input, for an ablation of SVD's levers: the image SD3 made last

    def request(profile: str, tag: str, steps: int | None = None) -> dict:
        """One request's work on one GPU: both routes, one after the other, then judging both."""
        config = {"configurable": {"levers": levers[profile]}}
        common = {**asked, "num_inference_steps": steps}
        out = args.workdir / f"{profile}-{tag}"
        out.mkdir(exist_ok=True)
        seconds = {}
        started = time.perf_counter()
        seconds["cogvideox"], video_1 = timed(lambda: toolbox.tool("cogvideox").invoke(
            {**common, "output_path": str(out / "route-1.mp4")}, config=config))
        seconds["sd3"], image = timed(lambda: toolbox.tool("sd3").invoke(
            {**common, "output_path": str(out / "route-2-image.png")}, config=config))
        route_2_image["path"] = image
        seconds["svd"], video_2 = timed(lambda: toolbox.tool("svd").invoke(
            {**common, "image": image, "output_path": str(out / "route-2.mp4")}, config=config))
        judged_started = time.perf_counter()
        for candidate_id, video in (("route-1", video_1), ("route-2", video_2)):
            classical_evaluation(Candidate(id=candidate_id, route_indices=(0,), tasks=("text_to_video",),
                                           tools=("x",), seed=0, video=Path(video)), None)
        seconds["judge"] = time.perf_counter() - judged_started
        seconds["total"] = time.perf_counter() - started
        return {"seconds": seconds, "videos": [video_1, video_2]}

    def ablated_call(variant: str, tag: str, steps: int | None = None) -> dict:
        """The call of one model that an ablation changes, alone, at the request's settings."""
        name, chosen = ablations[variant]
        config = {"configurable": {"levers": {name: chosen}}}
        out = args.workdir / f"{variant.replace(' ', '-')}-{tag}"
        out.mkdir(exist_ok=True)
        extra = {"image": route_2_image["path"]} if name == "svd" else {}
        output = out / (f"{name}.png" if specs[name].task == "text_to_image" else f"{name}.mp4")
        seconds, _ = timed(lambda: toolbox.tool(name).invoke(
            {**asked, **extra, "num_inference_steps": steps, "output_path": str(output)}, config=config))
        return {"seconds": {name: seconds, "total": seconds}}

    warm_ups = {}
    for variant in [*profiles, *ablations]:
        run = request(variant, "warm-up", steps=2) if variant in profiles else ablated_call(variant, "warm-up", 2)
        warm_ups[variant] = run["seconds"]["total"]
        print(f"{variant} warm-up: {warm_ups[variant]:.1f} s", flush=True)
    variants = ["plain", *profiles, *ablations]
    runs: dict[str, list[dict]] = {variant: [] for variant in variants}
    for round_index, variant in rotated_rounds(variants, args.repeats):
        free()
        torch.cuda.reset_peak_memory_stats()
        if variant == "plain":
            run = {"seconds": {"total": plain_call()}}
        elif variant in ablations:
            run = ablated_call(variant, f"timed-{round_index}")
        else:
            run = request(variant, f"timed-{round_index}")
        run["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
        runs[variant].append(run)
        print(f"round {round_index + 1} {variant}: "
              f"{json.dumps({k: round(v, 2) for k, v in run['seconds'].items()})}, "
              f"peak {run['peak_gib']:.1f} GiB", flush=True)

    def median(variant: str, key: str) -> float:
        return float(np.median([run["seconds"][key] for run in runs[variant]]))

    plain_s, plain_peak = median("plain", "total"), max(run["peak_gib"] for run in runs["plain"])
    exact_warm_up = warm_ups.get("exact")
    results = {}
    for profile in profiles:
        totals = [run["seconds"]["total"] for run in runs[profile]]
        results[profile] = {
            "seconds": {key: median(profile, key) for key in runs[profile][0]["seconds"]},
            "totals": totals, "peak_gib": max(run["peak_gib"] for run in runs[profile]),
            "warm_up_s": warm_ups[profile], "videos": runs[profile][0]["videos"],
        }

    rows = []
    exact = results.get("exact")
    for profile, result in results.items():
        s = result["seconds"]
        fidelity = ["-", "-"]
        if exact is not None and profile != "exact":
            pairs = [(a, b) for ours, theirs in zip(result["videos"], exact["videos"])
                     for a, b in zip(read_frames(ours, args.fidelity_frames),
                                     read_frames(theirs, args.fidelity_frames))]
            fidelity = [f"{np.mean([psnr(np.asarray(a), np.asarray(b)) for a, b in pairs]):.1f}",
                        f"{np.mean([ssim(np.asarray(a), np.asarray(b)) for a, b in pairs]):.3f}"]
        compile_s = result["warm_up_s"] - exact_warm_up if exact_warm_up is not None and profile != "exact" else 0.0
        spread = f"{min(result['totals']):.1f}-{max(result['totals']):.1f}"
        rows.append([profile, f"{s['total']:.1f}", spread, f"{s['total'] / plain_s:.2f}", f"{s['cogvideox']:.1f}",
                     f"{s['sd3']:.1f}", f"{s['svd']:.1f}", f"{s['judge']:.1f}", f"{result['peak_gib']:.1f}",
                     f"{compile_s:.1f}", *fidelity])
    plain_totals = [run["seconds"]["total"] for run in runs["plain"]]
    print(f"\nplain CogVideoX-2B call ({frames} frames, {width}x{height}, {plain_kwargs['num_inference_steps']} steps, "
          f"decode included): {plain_s:.1f} s (median of {len(plain_totals)}, {min(plain_totals):.1f}-"
          f"{max(plain_totals):.1f}), peak {plain_peak:.1f} GiB\n")
    print(table(["profile", "request s", "runs s", "x plain", "route 1 CogVideoX s", "SD3 s", "SVD s", "judge s", "peak GiB",
                 "compile s", "PSNR vs exact", "SSIM vs exact"], rows))
    if exact is not None:
        print("\nshare of each profile's saving, by tool (seconds saved against exact):")
        for profile, result in results.items():
            if profile != "exact":
                saved = {k: exact["seconds"][k] - result["seconds"][k] for k in ("cogvideox", "sd3", "svd")}
                print(f"  {profile}: " + ", ".join(f"{k} {v:+.1f}" for k, v in saved.items()))
        for variant, (name, _) in ablations.items():
            profile, lever = variant.split(" ")[0], variant.rsplit(" ", 1)[1]
            everything = exact["seconds"][name] - results[profile]["seconds"][name]
            without = exact["seconds"][name] - median(variant, name)
            print(f"  {profile} {name}: all its levers save {everything:.1f} s; less the {lever} they save "
                  f"{without:.1f} s, so the {lever}'s share is {everything - without:.1f} s")
    if args.json:
        args.json.write_text(json.dumps({"plain_s": plain_s, "plain_runs_s": plain_totals,
                                         "plain_peak_gib": plain_peak, "results": {
            p: {k: v for k, v in r.items() if k != "videos"} for p, r in results.items()},
            "ablations_s": {variant: [run["seconds"]["total"] for run in runs[variant]] for variant in ablations},
            "warm_ups_s": warm_ups}, indent=2))


def _built(name: str, workdir: Path):
    """Saved by tools_gpu.py's builder and loaded back, as a user's weights are (a pipeline built
    under the CUDA device keeps some tables there that its scheduler and UNet expect on the CPU)."""
    import diffusers

    folder, _, _ = build_folder(name, workdir)
    pipeline = getattr(diffusers, MODELS[name]["pipeline"]).from_pretrained(folder, dtype=DTYPE).to("cuda")
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def _profile_levers(spec, profile: str):
    from spagent_graph.tool_adapters.acceleration import Levers

    if profile == "exact":
        return Levers()
    return spec.acceleration.get(profile) or spec.acceleration.get("balanced") or Levers()


if __name__ == "__main__":
    main()
