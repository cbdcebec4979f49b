"""Two judged candidates against one plain call of the route-1 model, on one GPU, per acceleration profile.

    python benchmarks/two_candidates_gpu.py [--preset cogvideox|wan22|ltx2] [--profiles exact,fast,balanced]
                                            [--repeats 2] [--no-ablations] [--fidelity-frames 9] [--deadline-s S]
    python benchmarks/two_candidates_gpu.py --route1 wan22-5b-t2v --route2 qwen-image-2.1,wan22-5b-i2v \
                                            --plain wan22-5b-t2v --profiles fast
    python benchmarks/two_candidates_gpu.py --preset wan22 --tiny --device cpu --steps 2 --frames 9 \
                                            --height 64 --width 96             # the script tried on a CPU

The request is the one SPAgent makes of a text: route 1 is a text-to-video entry, route 2 an image entry
then an image-to-video entry, and both candidates are judged (the frame-statistics judge). The presets:

    cogvideox (default)  CogVideoX-2B | SD3 then SVD-XT            49 frames at 720x480 (tools_gpu.py's builds)
    wan22                Wan 2.2 TI2V-5B | Qwen-Image-2.1 then Wan 2.2 TI2V-5B image-to-video   121 x 1280x704
    ltx2                 LTX-2 | Qwen-Image-2.1 then LTX-2 image-to-video                       121 x 768x512

(`--route1`, `--route2` and `--plain` name any library entries that `real_size.py` builds, overriding the
preset.) Every model is built at its real size with random weights (bf16, nothing downloaded; the entry's
own dtypes and scheduler settings, placed as its `memory` says), and every call goes through
spagent-graph's tool (fitting, step reports, the MP4/PNG writes) with the levers of the profile that the
registry gives (`--levers` overrides them: JSON, profile -> tool -> levers), each tool at its usual steps.
The request's frames and size are route 1's usual ones unless given; the image tool fits them to its own
rules (Qwen-Image-2.1: at most 1024 on a side), the image-to-video tool to its own. Entries on the same
weights (Wan 2.2 TI2V-5B's two pipelines, LTX-2's) hold the same modules, as the tool's pool shares them. The
routes run one after the other, as they do on one GPU (two at once was measured at 0.97x in issue 15).

Each profile has its own copy of each levered denoiser (the encoders and VAEs are shared, as the pool
shares them), so compiled blocks and cache hooks never leak into the exact one; where those copies would
not fit beside the models (`--one-denoiser`, or found so: LTX-2's is 35 GiB), one denoiser takes each
call's levers in turn (`LeverSwitch`; compiled code is kept per block class and shape, so it is not
compiled again). A profile's first request is a warm-up of two steps at the same shapes (its seconds, less
the exact warm-up's or, without an exact profile, the plain warm-up's, are about the compile time;
compiled code is shared by modules of one class and shape, so levers two profiles have in common are paid
by the first one warmed). Then `--repeats` rounds, each timing the plain call, one whole request per
profile and, where a profile pulls several levers on a model, that model's call less each lever in turn
(which splits its saving between the levers; `--no-ablations` leaves these out), the order rotated every
round so that drift on a shared machine falls on none; the table gives medians and each variant's fastest
and slowest run. With `--deadline-s`, a run of a later round that would end past the deadline (by the
slowest earlier run of the same variant) is left out, and the table says how many runs each median has.
The plain call is the route-1 pipeline's own `pipe(...)` at the same settings (the entry's call
arguments), decode included, no write; a text encoder remembers its outputs within a request only (the
pool's memo, cleared before every request and plain call).

Fidelity: PSNR and SSIM over `--fidelity-frames` frames of each, against the exact profile's candidates
where it ran, and route 1 of each profile against the plain call's output (same seed and settings; written
with the tool's writer outside the timing), which gives the route-1 levers' fidelity at the full size. With
random weights it shows only how far the levers move the output, not whether the videos would still look
right (that needs trained weights: `spagent bench` on the user's own).

The fast profile here uses the registry's cache without a bench record: this benchmark measures the levers
themselves (a real run would use the cache only after `spagent bench` passed).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import real_size
import torch
from _levered import Device, LeverSwitch, denoiser_bytes, levered_copy, pulled_levers, rotated_rounds
from _table import table
from tools_gpu import MODELS, PROMPT, build_folder

DTYPE = torch.bfloat16
GiB = 2**30

PRESETS = {
    "cogvideox": {"route1": "cogvideox", "route2": ("sd3", "svd"), "plain": "cogvideox",
                  "frames": 49, "height": 480, "width": 720},
    "wan22": {"route1": "wan22-5b-t2v", "route2": ("qwen-image-2.1", "wan22-5b-i2v"), "plain": "wan22-5b-t2v"},
    "ltx2": {"route1": "ltx-2", "route2": ("qwen-image-2.1", "ltx-2-i2v"), "plain": "ltx-2"},
}


def main() -> None:
    from spagent_graph.tool_adapters.acceleration import Levers, float8_runs_on
    from spagent_graph.tool_adapters.pipeline_calls import CALL_STYLES
    from spagent_graph.tool_adapters.pool import PipelinePool
    from spagent_graph.tool_adapters.registry import ToolRegistry, ToolSpec
    from spagent_graph.tool_adapters.sharing import remember_encodings
    from spagent_graph.tool_adapters.toolbox import Toolbox

    from spagent_graph.judging import classical_evaluation
    from spagent_graph.media import read_frames, write_video
    from spagent_graph.metrics import psnr, ssim
    from spagent_graph.state import Candidate

    started = time.monotonic()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cogvideox")
    parser.add_argument("--route1", help="The text-to-video entry of route 1 (default: the preset's).")
    parser.add_argument("--route2", help="IMAGE,IMAGE_TO_VIDEO: the entries of route 2 (default: the preset's).")
    parser.add_argument("--plain", help="The entry whose plain pipeline call is the yardstick (default: route 1's).")
    parser.add_argument("--frames", type=int)
    parser.add_argument("--height", type=int)
    parser.add_argument("--width", type=int)
    parser.add_argument("--steps", type=int, help="Every tool's steps (default: each entry's usual ones).")
    parser.add_argument("--profiles", default="exact,fast,balanced")
    parser.add_argument("--levers", help="JSON (or @FILE holding it): profile -> tool -> levers, replacing the "
                        "registry's for those.")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/two-candidates"))
    parser.add_argument("--json", type=Path, help="Also write the figures here (after every round too).")
    parser.add_argument("--repeats", type=int, default=1, help="Timed rounds of every variant (default 1).")
    parser.add_argument("--deadline-s", type=float,
                        help="Leave out a later round's run that would end past this many seconds from the start.")
    parser.add_argument("--no-ablations", action="store_true",
                        help="Leave out the calls less one lever (the levers' shares).")
    parser.add_argument("--one-denoiser", action="store_true",
                        help="One denoiser per model that takes each call's levers in turn, instead of a copy each.")
    parser.add_argument("--fidelity-frames", type=int, default=9,
                        help="Frames of each video, spread evenly, in PSNR/SSIM.")
    parser.add_argument("--recompile-limit", type=int, default=64,
                        help="dynamo's recompiles per code object (8 by default; every compiled class and shape "
                        "of all profiles counts against it)")
    parser.add_argument("--device", default="cuda", help="cuda; cpu only with --tiny, to try the script")
    parser.add_argument("--tiny", action="store_true",
                        help="The entries' tiny stand-ins (tests/tiny_pipelines, float32) instead of real sizes.")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    torch._dynamo.config.recompile_limit = args.recompile_limit
    preset = PRESETS[args.preset]
    route1 = args.route1 or preset["route1"]
    route2 = tuple(args.route2.split(",")) if args.route2 else preset["route2"]
    plain_tool = args.plain or (route1 if args.route1 else preset["plain"])
    if len(route2) != 2:
        raise SystemExit("--route2 names two entries: an image one, then an image-to-video one")
    tools = [route1, *route2]
    profiles = args.profiles.split(",")
    overrides = json.loads(_text_or_file(args.levers) or "{}")
    device = Device(args.device)
    dtype = torch.float32 if args.tiny else DTYPE
    import diffusers
    import transformers

    print(f"device: {device.name()}, torch {torch.__version__}, diffusers {diffusers.__version__}, transformers "
          f"{transformers.__version__}, dtype {dtype}", flush=True)
    print(f"route 1: {route1}; route 2: {route2[0]} then {route2[1]}; plain: {plain_tool}", flush=True)

    library = ToolRegistry.from_yaml("library")
    specs: dict[str, ToolSpec] = {}
    for name in dict.fromkeys([*tools, plain_tool]):
        update = {"model": f"/random/{name}"}
        if name in MODELS or args.tiny:  # saved and loaded in one dtype; the tiny builds are float32
            update.update(torch_dtype="float32" if args.tiny else "bfloat16", variant=None)
        specs[name] = library.get(name).model_copy(update=update)
    # The pipelines are built here and put in the pool by hand: the pool must not evict one to make room for
    # a call or after an out-of-memory (this script holds them all, so nothing would be freed, and the next
    # call would load from disk).
    toolbox = Toolbox(ToolRegistry(specs), device=args.device, pool=PipelinePool(manage_memory=False))

    # Real-size random weights (or the tiny stand-ins), built on the device; one pipeline per entry, entries on
    # the same weights sharing their modules.
    base: dict[str, object] = {}
    for name in specs:
        same = next((other for other in base if library.get(other).model == library.get(name).model
                     and other not in MODELS and name not in MODELS), None)
        seconds, pipeline = device.timed(lambda name=name, same=same: (
            real_size.sibling(base[same], name) if same else _built(name, args, device, specs[name])))
        base[name] = pipeline
        for component_name, component in pipeline.components.items():
            if component_name.startswith("text_encoder") and isinstance(component, torch.nn.Module):
                remember_encodings(component)
        print(f"built {name} in {seconds:.1f} s" + (f" (on {same}'s modules)" if same else ""), flush=True)
    weights = _resident_bytes(base.values())
    print(f"{weights / GiB:.1f} GiB of weights", flush=True)

    # FP8 weights only where a run would pull them (the gate drops them elsewhere, and on the CPU torchao's
    # float8 does not run).
    float8 = float8_runs_on(args.device)

    def profile_levers(profile: str, name: str) -> Levers:
        if name in overrides.get(profile, {}):
            chosen_levers = Levers.model_validate(overrides[profile][name])
        else:
            chosen_levers = _profile_levers(specs[name], profile)
        return chosen_levers if float8 else chosen_levers.model_copy(update={"quantize": None})

    levers = {p: {name: profile_levers(p, name) for name in tools} for p in profiles}
    ablations = {} if args.no_ablations else {
        f"{profile} {name} less {lever}": (name, without) for profile in profiles for name in tools
        if len(pulled := pulled_levers(levers[profile][name])) > 1 for lever, without in pulled.items()}
    chosen = [(f"{profile} {name}", name, levers[profile][name]) for profile in profiles for name in tools]
    chosen += [(variant, name, without) for variant, (name, without) in ablations.items()]

    # A copy of each levered denoiser, unless those would not fit beside the models: then one denoiser per model.
    copies = sum(denoiser_bytes(base[name], chosen_levers.target) for _, name, chosen_levers in chosen
                 if not chosen_levers.is_plain)
    free, total = device.free_and_total()
    switches: dict[str, LeverSwitch] = {}
    if args.one_denoiser or copies > free - 0.35 * total:
        by_denoiser: dict[int, LeverSwitch] = {}
        for name in tools:
            denoiser = _denoiser(base[name])
            switches[name] = by_denoiser.setdefault(id(denoiser), LeverSwitch(base[name]))
        print(f"one denoiser per model for every profile: a copy each would take {copies / GiB:.0f} GiB of the "
              f"{free / GiB:.0f} GiB free", flush=True)
        if any(chosen_levers.quantize for _, _, chosen_levers in chosen):
            # FP8 cannot be taken off a shared denoiser again: with one denoiser, the profiles run without it.
            print("FP8 weights left out: one denoiser per model cannot give them back", flush=True)
            levers = {p: {n: lv.model_copy(update={"quantize": None}) for n, lv in by_name.items()}
                      for p, by_name in levers.items()}
            chosen = [(variant, name, lv.model_copy(update={"quantize": None})) for variant, name, lv in chosen]
    registered: set[tuple[str, str]] = set()
    for variant, name, chosen_levers in chosen:
        key = toolbox.tool(name).pool_key(chosen_levers)
        if (name, key) not in registered:
            registered.add((name, key))
            pipeline = base[name] if switches else levered_copy(base[name], chosen_levers)
            toolbox.pool.get(key, lambda _, pipeline=pipeline: pipeline, device=args.device)
        print(f"{variant}: {chosen_levers.in_words()}", flush=True)
    for name in tools:  # the exact pipelines, for the plain levers of any profile
        toolbox.pool.get(toolbox.tool(name).pool_key(Levers()), lambda _, name=name: base[name], device=args.device)
    print(f"{_allocated(device) / GiB:.1f} GiB resident with the profiles' copies", flush=True)

    def use(name: str, chosen_levers: Levers) -> None:
        if name in switches:
            switches[name].use(chosen_levers)

    def forget_encodings() -> None:
        for pipeline in base.values():
            for component_name, component in pipeline.components.items():
                memo = vars(component).get("forward") if isinstance(component, torch.nn.Module) else None
                if component_name.startswith("text_encoder") and hasattr(memo, "clear"):
                    memo.clear()

    # The request as asked of route 1, and the plain call: route 1's usual size unless given.
    usual = specs[route1].usual
    asked = {"prompt": PROMPT, "seed": 0,
             "num_frames": args.frames or preset.get("frames") or usual.frames,
             "height": args.height or preset.get("height") or usual.height,
             "width": args.width or preset.get("width") or usual.width,
             "fps": specs[route1].native_fps or 8}
    plain_spec = specs[plain_tool]
    frames, height, width, _ = plain_spec.fit_size(asked["num_frames"], asked["height"], asked["width"])
    steps_of = {name: args.steps or specs[name].defaults.get("num_inference_steps") for name in specs}

    def plain_call(steps: int | None = None, output_type: str = "pil"):
        """The plain pipeline's own call at the request's settings, as the tool would make it."""
        use(plain_tool, Levers())
        pipeline = base[plain_tool]
        offered = {**plain_spec.defaults, "prompt": PROMPT, "height": height, "width": width, "num_frames": frames,
                   "num_inference_steps": steps or steps_of[plain_tool], "output_type": output_type,
                   "generator": torch.Generator("cpu").manual_seed(0)}
        kwargs = CALL_STYLES[plain_spec.call_style](pipeline, offered, plain_spec)
        forget_encodings()
        with torch.inference_mode():
            return device.timed(lambda: pipeline(**kwargs))

    plain_warm_up, _ = plain_call(steps=2, output_type="latent")
    print(f"plain warm-up (2 steps, no decode): {plain_warm_up:.1f} s", flush=True)

    route_2_image = {}  # the image-to-video input for an ablation of route 2's levers: the last image made

    def invoke(name: str, chosen_levers: Levers, request: dict) -> tuple[float, str]:
        use(name, chosen_levers)
        config = {"configurable": {"levers": {name: chosen_levers}}}
        return device.timed(lambda: toolbox.tool(name).invoke(request, config=config))

    def request(profile: str, tag: str, steps: int | None = None) -> dict:
        """One request's work on one GPU: both routes, one after the other, then judging both."""
        out = args.workdir / f"{profile}-{tag}"
        out.mkdir(exist_ok=True)
        common = {**asked, "num_inference_steps": steps}
        image_tool, video_tool = route2
        seconds = {}
        forget_encodings()
        begun = time.perf_counter()
        seconds["route1"], video_1 = invoke(route1, levers[profile][route1], {
            **common, "num_inference_steps": steps or steps_of[route1], "output_path": str(out / "route-1.mp4")})
        seconds["image"], image = invoke(image_tool, levers[profile][image_tool], {
            **common, "num_inference_steps": steps or steps_of[image_tool],
            "output_path": str(out / "route-2-image.png")})
        route_2_image["path"] = image
        seconds["image_to_video"], video_2 = invoke(video_tool, levers[profile][video_tool], {
            **common, "num_inference_steps": steps or steps_of[video_tool], "image": image,
            "output_path": str(out / "route-2.mp4")})
        judged = time.perf_counter()
        for candidate_id, video in (("route-1", video_1), ("route-2", video_2)):
            classical_evaluation(Candidate(id=candidate_id, route_indices=(0,), tasks=("text_to_video",),
                                           tools=("x",), seed=0, video=Path(video)), None)
        seconds["judge"] = time.perf_counter() - judged
        seconds["total"] = time.perf_counter() - begun
        return {"seconds": seconds, "videos": [video_1, video_2]}

    def ablated_call(variant: str, tag: str, steps: int | None = None) -> dict:
        """The call of one model that an ablation changes, alone, at the request's settings."""
        name, chosen_levers = ablations[variant]
        out = args.workdir / f"{variant.replace(' ', '-')}-{tag}"
        out.mkdir(exist_ok=True)
        extra = {"image": route_2_image["path"]} if name == route2[1] else {}
        output = out / (f"{name}.png" if specs[name].task == "text_to_image" else f"{name}.mp4")
        forget_encodings()
        seconds, _ = invoke(name, chosen_levers, {**asked, **extra, "output_path": str(output),
                                                  "num_inference_steps": steps or steps_of[name]})
        return {"seconds": {name: seconds, "total": seconds}}

    warm_ups = {}
    for variant in [*profiles, *ablations]:
        run = request(variant, "warm-up", steps=2) if variant in profiles else ablated_call(variant, "warm-up", 2)
        warm_ups[variant] = run["seconds"]["total"]
        print(f"{variant} warm-up: {warm_ups[variant]:.1f} s", flush=True)

    variants = ["plain", *profiles, *ablations]
    runs: dict[str, list[dict]] = {variant: [] for variant in variants}
    left_out: list[str] = []
    plain_video: dict[str, str] = {}
    for round_index, variant in rotated_rounds(variants, args.repeats):
        earlier = [run["seconds"]["total"] for run in runs[variant]]
        if args.deadline_s and earlier and time.monotonic() - started + max(earlier) > args.deadline_s:
            left_out.append(f"round {round_index + 1} {variant}")
            print(f"round {round_index + 1} {variant}: left out (about {max(earlier):.0f} s would end past the "
                  f"deadline)", flush=True)
            continue
        resident = device.fresh_peak()
        if variant == "plain":
            seconds, result = plain_call()
            run = {"seconds": {"total": seconds}}
            if not plain_video and output_kind_of(plain_spec) == "video":  # kept for fidelity, outside the timing
                path = args.workdir / "plain.mp4"
                plain_video["path"] = str(write_video(list(result.frames[0]), path, fps=asked["fps"]))
            del result
        elif variant in ablations:
            run = ablated_call(variant, f"timed-{round_index}")
        else:
            run = request(variant, f"timed-{round_index}")
        run["peak_gib"] = device.peak() / GiB
        run["above_resident_gib"] = (device.peak() - resident) / GiB
        runs[variant].append(run)
        print(f"round {round_index + 1} {variant}: "
              f"{json.dumps({k: round(v, 2) for k, v in run['seconds'].items()})}, "
              f"peak {run['peak_gib']:.1f} GiB ({run['above_resident_gib']:.1f} above what was resident)", flush=True)
        if args.json:
            _write_json(args.json, runs, warm_ups, left_out, {}, asked, tools, plain_tool, levers)

    def median(variant: str, key: str) -> float:
        return float(np.median([run["seconds"][key] for run in runs[variant]]))

    def fidelity(ours: list[str], theirs: list[str]) -> tuple[float, float]:
        pairs = [(a, b) for mine, other in zip(ours, theirs)
                 for a, b in zip(read_frames(mine, args.fidelity_frames), read_frames(other, args.fidelity_frames))]
        return (float(np.mean([psnr(np.asarray(a), np.asarray(b)) for a, b in pairs])),
                float(np.mean([ssim(np.asarray(a), np.asarray(b)) for a, b in pairs])))

    plain_s = median("plain", "total")
    plain_totals = [run["seconds"]["total"] for run in runs["plain"]]
    plain_peak = max(run["peak_gib"] for run in runs["plain"])
    reference_warm_up = warm_ups.get("exact", plain_warm_up)
    results = {}
    for profile in profiles:
        if not runs[profile]:
            continue
        first_videos = runs[profile][0]["videos"]
        results[profile] = {
            "seconds": {key: median(profile, key) for key in runs[profile][0]["seconds"]},
            "totals": [run["seconds"]["total"] for run in runs[profile]],
            "peak_gib": max(run["peak_gib"] for run in runs[profile]),
            "above_resident_gib": max(run["above_resident_gib"] for run in runs[profile]),
            "warm_up_s": warm_ups[profile], "compile_s": warm_ups[profile] - reference_warm_up,
            "videos": first_videos,
            "vs_exact": fidelity(first_videos, runs["exact"][0]["videos"]) if profile != "exact" and runs.get(
                "exact") else None,
            "route1_vs_plain": fidelity(first_videos[:1], [plain_video["path"]])
            if plain_video and route1 == plain_tool else None,
        }

    def cell(pair, digits: int) -> list[str]:
        return ["-", "-"] if pair is None else [f"{pair[0]:.1f}", f"{pair[1]:.{digits}f}"]

    rows = []
    for profile, result in results.items():
        s = result["seconds"]
        spread = f"{min(result['totals']):.1f}-{max(result['totals']):.1f} ({len(result['totals'])})"
        rows.append([profile, f"{s['total']:.1f}", spread, f"{s['total'] / plain_s:.2f}", f"{s['route1']:.1f}",
                     f"{s['image']:.1f}", f"{s['image_to_video']:.1f}", f"{s['judge']:.1f}",
                     f"{result['peak_gib']:.1f}", f"{result['compile_s']:.1f}",
                     *cell(result["route1_vs_plain"], 3), *cell(result["vs_exact"], 3)])
    print(f"\nplain {plain_tool} call ({frames} frames, {width}x{height}, {steps_of[plain_tool]} steps, decode "
          f"included): {plain_s:.1f} s (median of {len(plain_totals)}, {min(plain_totals):.1f}-"
          f"{max(plain_totals):.1f}), peak {plain_peak:.1f} GiB\n")
    print(table(["profile", "request s", "runs s (n)", "x plain", f"route 1 {route1} s", f"{route2[0]} s",
                 f"{route2[1]} s", "judge s", "peak GiB", "compile s", "route 1 PSNR vs plain",
                 "route 1 SSIM vs plain", "PSNR vs exact", "SSIM vs exact"], rows))
    exact = results.get("exact")
    if exact is not None:
        print("\nshare of each profile's saving, by tool (seconds saved against exact):")
        for profile, result in results.items():
            if profile != "exact":
                saved = {k: exact["seconds"][k] - result["seconds"][k] for k in ("route1", "image", "image_to_video")}
                print(f"  {profile}: " + ", ".join(f"{k} {v:+.1f}" for k, v in saved.items()))
        for variant, (name, _) in ablations.items():
            if not runs[variant]:
                continue
            profile, lever = variant.split(" ")[0], variant.rsplit(" ", 1)[1]
            key = "route1" if name == route1 else "image" if name == route2[0] else "image_to_video"
            everything = exact["seconds"][key] - results[profile]["seconds"][key]
            without = exact["seconds"][key] - median(variant, name)
            print(f"  {profile} {name}: all its levers save {everything:.1f} s; less the {lever} they save "
                  f"{without:.1f} s, so the {lever}'s share is {everything - without:.1f} s")
    if left_out:
        print(f"\nleft out at the deadline: {', '.join(left_out)}")
    print(f"\n{time.monotonic() - started:.0f} s in all", flush=True)
    if args.json:
        _write_json(args.json, runs, warm_ups, left_out, results, asked, tools, plain_tool, levers,
                    plain={"seconds": plain_s, "runs_s": plain_totals, "peak_gib": plain_peak,
                           "warm_up_s": plain_warm_up, "frames": frames, "height": height, "width": width,
                           "steps": steps_of[plain_tool]}, steps=steps_of, device=device.name())


def _text_or_file(value: str | None) -> str | None:
    """A JSON argument, or the file it names after an @."""
    return Path(value[1:]).read_text() if value and value.startswith("@") else value


def output_kind_of(spec) -> str:
    from spagent_graph.principles import output_kind

    return output_kind(spec.task)


def _write_json(path: Path, runs, warm_ups, left_out, results, asked, tools, plain_tool, levers, **more) -> None:
    path.write_text(json.dumps({
        "tools": tools, "plain_tool": plain_tool, "request": asked, "torch": torch.__version__,
        "levers": {p: {name: chosen.model_dump(mode="json") for name, chosen in by_tool.items()}
                   for p, by_tool in levers.items()},
        "warm_ups_s": warm_ups, "left_out": left_out,
        "runs": {variant: [{k: v for k, v in run.items() if k != "videos"} for run in r] for variant, r in runs.items()},
        "results": {p: {k: v for k, v in r.items() if k != "videos"} for p, r in results.items()},
        **more}, indent=1))


def _built(name: str, args, device: Device, spec):
    """The entry's pipeline on the device: tools_gpu.py's builds saved and loaded back, as a user's weights are
    (a pipeline built under the CUDA device keeps some tables there that its scheduler and UNet expect on the
    CPU); the library's newer entries built in memory at real size (real_size.py) and placed as the tool
    places a loaded pipeline; or, with --tiny, the entry's tiny stand-in."""
    import diffusers
    from spagent_graph.tool_adapters.diffusers_adapter import _place

    if args.tiny:
        return _place(real_size.tiny(name, args.workdir / "tiny", device.device), spec.memory, device.device)
    if name in MODELS:
        folder, _, _ = build_folder(name, args.workdir)
        pipeline = getattr(diffusers, MODELS[name]["pipeline"]).from_pretrained(folder, dtype=DTYPE).to(device.device)
        pipeline.set_progress_bar_config(disable=True)
        return pipeline
    return _place(real_size.build(name, device.device), spec.memory, device.device)


def _denoiser(pipeline):
    return getattr(pipeline, "transformer", None) or getattr(pipeline, "unet", None)


def _resident_bytes(pipelines) -> int:
    seen, total = set(), 0
    for pipeline in pipelines:
        for module in pipeline.components.values():
            if isinstance(module, torch.nn.Module):
                for tensor in [*module.parameters(), *module.buffers()]:
                    if id(tensor) not in seen:
                        seen.add(id(tensor))
                        total += tensor.numel() * tensor.element_size()
    return total


def _allocated(device: Device) -> int:
    return torch.cuda.memory_allocated() if device.cuda else 0


def _profile_levers(spec, profile: str):
    from spagent_graph.tool_adapters.acceleration import Levers

    if profile == "exact":
        return Levers()
    return spec.acceleration.get(profile) or spec.acceleration.get("balanced") or Levers()


if __name__ == "__main__":
    main()
