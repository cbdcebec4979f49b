"""One tool's acceleration levers, each set against the plain call, on a GPU at the model's real size.

    python benchmarks/levers_gpu.py --tool svd --frames 25 --height 480 --width 720 --repeats 3 \
        --levers '{"blocks": {"target": "unet", "compile": "blocks",
                              "blocks": ["TransformerSpatioTemporalModel", "SpatioTemporalResBlock"]},
                   "whole": {"target": "unet", "compile": "whole"}}'
    python benchmarks/levers_gpu.py --tool wan22-5b-t2v --steps-timed 4 --repeats 2 --complete plain,fast
    python benchmarks/levers_gpu.py --tool ltx-2 --steps-timed 4 --levers '{"balanced": {"compile": "blocks"}}'
    python benchmarks/levers_gpu.py --tool hunyuanvideo-1.5 --steps-timed 3 --levers @sets.json   # JSON in a file
    python benchmarks/levers_gpu.py --tool hunyuanvideo-1.5 --tiny --device cpu --steps 12 --frames 9 \
        --height 64 --width 96 --steps-timed 3                     # the script tried on the tiny stand-in

The tool is one of `tools_gpu.py`'s real-size builds (cogvideox, sd3, svd), saved and loaded back, or any
library entry that `real_size.py` builds (wan22-5b-t2v, ltx-2, ...), built in memory at real size with
random weights and placed as the entry's `memory` says. Without `--levers`, the variants are the registry's
profiles (`balanced`, `fast`) of the entry's acceleration family; with it, the sets it names. Either way,
where a set pulls more than one lever, that set less each lever is timed too (the lever's share:
what leaving it out costs). Every call goes through spagent-graph's tool as a run makes it (fitting, step
reports, the MP4/PNG write) at the entry's usual frames, size and steps unless told otherwise. Each set of
levers gets its own copy of the denoiser; where those copies would not fit beside the model
(`--one-denoiser`, or found so), one denoiser takes each variant's levers in turn before its call (but for a
set with FP8 weights, which keeps a copy of its own).

Whole calls (the default, for models of a minute or less): a variant's first call is at the full settings
and counts its compile (first s); then `--repeats` rounds take every variant in turn, the order rotated
each round; PSNR/SSIM compare each variant's first-round output with the plain one's.

Projected calls (`--steps-timed K`, for the long models, as `library_gpu.py` does for the plain call): a
call runs the usual schedule but ends after its K-th step (a step report raises; no decode, no write), so
a round costs K steps a variant. The step reports are timed (synchronised), and the full call is projected
as: the K steps (prompt encoding included) + the remaining steps at the variant's steady step time + the
decode and write of a complete plain call. The steady step time is the median step after the first for a
variant without a cache; with TaylorSeer, whose refresh comes every `cache_interval` steps from
`disable_cache_before_step`, the mean of the last `cache_interval` steps, which hold one refresh as every
such stretch does (its K is raised to reach past the warm-up: `disable_cache_before_step + cache_interval`);
the adaptive caches (First Block Cache, MagCache) and the timestep-ranged ones (PAB, FasterCache) get the
mean of the prefix's second half, marked `~` as a rough figure. A model of two experts (Wan 2.2 A14B: the
high-noise denoiser, then the low-noise one from the step where the timestep falls under its boundary) is
projected step by step instead, as a TaylorSeer hook counts its own denoiser's calls and the second expert
starts over with a warm-up: each remaining step that runs the blocks at the median of such steps in the
prefix, each predicted step at the median of those; both experts have the same blocks and shapes, so the
prefix (all of it the first expert's) gives the second's step times too. A set that names `"quantize": "float8"`
(a registry lever: torchao's FP8 weights and activations in the linear layers of the repeated blocks, before
the other levers are pulled; torchao carried as a wheel) counts the FP8 copy's weights in its peaks. Where a
copy of the denoiser has no room (or the pipeline is offloaded, whose hooks tie the denoiser to the other
models), such a set is timed after every other set, in rounds of its own, on the pipeline's denoiser
quantized in place, as the tool itself does. The first
call of each variant runs 2 steps (its compile). After the rounds, the variants in
`--complete` (default: plain and every set that changes the math: a cache, FP8) make one complete call each, decoded and written:
its seconds check the projection, its peak includes the decode, and PSNR/SSIM compare its frames with the
plain complete call's. `--deadline-s` leaves out a complete call that would end past it; in whole calls,
a round that would (its first call taken as its length), and PSNR/SSIM then compare the first calls' outputs.

Peak memory is one deployment's: the weights of one pipeline plus the most the call allocated on top of
what was resident before it (the other variants' copies are not counted). With `--model-offload-below` on a
smaller GPU (Wan 2.2 A14B on 80 GB) the pipeline is placed with model CPU offload and the peak is the call's
whole allocation; the steps after a denoiser's first run at the speed of all on the GPU, as it stays there
until the next component is called. With random weights, PSNR/SSIM
say only how far the levers move the numbers, not whether a video would still look right.
"""

from __future__ import annotations

import argparse
import copy
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
WARM_UP_STEPS = 2


class StepsDone(Exception):
    """Raised from the step report once a call has run the steps it is timed for: the call ends there."""


def lever_sets(spec, given: str | None, extra: str | None = None, ablations: bool = True) -> tuple[dict, dict]:
    """The variants to time: `given` (JSON, name -> levers), else the registry's profiles, and the `extra`
    sets beside them; and, for each set pulling several levers, (set, lever) -> the variant that is that set
    less the lever (one already named when it is the same levers)."""
    from spagent_graph.tool_adapters.acceleration import Levers

    sets = dict(spec.acceleration) if given is None else {}
    for named in (given, extra):
        for name, levers in json.loads(named or "{}").items():
            sets[name] = Levers.model_validate(levers)
    less = {}
    if ablations:
        for name, levers in list(sets.items()):
            pulled = pulled_levers(levers)
            if len(pulled) < 2:
                continue
            for lever, without in pulled.items():
                same = next((other for other, chosen in sets.items() if chosen == without), None)
                less[(name, lever)] = same or f"{name} less {lever}"
                sets.setdefault(less[(name, lever)], without)
    return sets, less


def steady_step(levers, durations: list[float]) -> tuple[float, bool]:
    """The step time to project the rest of a call with, from the durations of steps 1.. of its prefix,
    and whether it is only a rough figure (a cache whose saving the prefix cannot show)."""
    cache = levers.cache
    if cache is None:
        return float(np.median(durations)), False
    if cache.kind == "taylorseer":
        period = cache.config.get("cache_interval", 5)
        return float(np.mean(durations[-period:])), False
    return float(np.mean(durations[len(durations) // 2:])), True


def expert_boundary(pipeline, steps: int) -> int | None:
    """For a model of two denoisers (Wan 2.2 A14B: the high-noise expert `transformer` while the timestep is
    at or over `boundary_ratio` of the training timesteps, then the low-noise `transformer_2`), the index of
    the first step the second one takes; None for a model of one."""
    ratio = getattr(pipeline, "config", {}).get("boundary_ratio")
    if ratio is None or getattr(pipeline, "transformer_2", None) is None:
        return None
    scheduler = copy.deepcopy(pipeline.scheduler)
    scheduler.set_timesteps(steps)
    return int((scheduler.timesteps >= ratio * scheduler.config.num_train_timesteps).sum())


def runs_blocks(levers, step: int, boundary: int | None) -> bool:
    """Whether a call with `levers` runs the denoiser's blocks at `step` (0-based) rather than predicting
    them: always, but for TaylorSeer between its refreshes. Its hooks count the calls of their own denoiser,
    so a second expert starts over with a warm-up of its own."""
    cache = levers.cache
    if cache is None or cache.kind != "taylorseer":
        return True
    config = cache.config
    warm_up, interval = config.get("disable_cache_before_step", 3), config.get("cache_interval", 5)
    # The hook's count starts at -1 and goes up before each call: the first step is count 0.
    count = step - boundary if boundary is not None and step >= boundary else step
    after = config.get("disable_cache_after_step")
    return count < warm_up or (count - warm_up - 1) % interval == 0 or (after is not None and count >= after)


def two_expert_rest(levers, durations: list[float], timed: int, steps: int, boundary: int) -> dict | None:
    """The steps after a timed prefix of a two-expert call, step by step: each step that runs the blocks at
    the median of such steps in the prefix, each predicted one at the median of those (steps 1.. of the
    prefix; step 0 holds the prompt encoding). None for a cache whose steps cannot be told in advance."""
    if levers.cache is not None and levers.cache.kind != "taylorseer":
        return None
    full = [d for i, d in enumerate(durations, start=1) if runs_blocks(levers, i, boundary)]
    predicted = [d for i, d in enumerate(durations, start=1) if not runs_blocks(levers, i, boundary)]
    full_s = float(np.median(full))
    predicted_s = float(np.median(predicted)) if predicted else full_s
    rest = range(timed, steps)
    runs = sum(runs_blocks(levers, i, boundary) for i in rest)
    return {"full_step_s": full_s, "predicted_step_s": predicted_s, "rest_full_steps": runs,
            "rest_predicted_steps": len(rest) - runs,
            "step_s": (runs * full_s + (len(rest) - runs) * predicted_s) / max(len(rest), 1)}


def needed_steps(levers) -> int:
    """The fewest timed steps whose last stretch shows `levers`' steady state (past a cache's warm-up)."""
    cache = levers.cache
    if cache is not None and cache.kind == "taylorseer":
        return cache.config.get("disable_cache_before_step", 3) + cache.config.get("cache_interval", 5)
    return 3


def float8_saved_bytes(pipeline, target: str) -> int:
    """What FP8 weights take off the denoisers' bf16 bytes: one byte of each parameter in the blocks' linears
    that FP8 takes (not those a model keeps in float32)."""
    from spagent_graph.tool_adapters.acceleration import _repeated_blocks, _takes_float8, denoisers_of

    return sum(m.weight.numel() for denoiser in denoisers_of(pipeline, target)
               for block in _repeated_blocks(denoiser) for m in block.modules() if _takes_float8(m))


def pipeline_bytes(pipeline) -> int:
    return sum(t.numel() * t.element_size() for m in pipeline.components.values() if isinstance(m, torch.nn.Module)
               for t in [*m.parameters(), *m.buffers()])


def reset_caches(pipeline, target: str) -> None:
    """What the pipeline's own end does (`maybe_free_model_hooks`) for a call that ended after its K-th step:
    a cache's state (its step count, TaylorSeer's factors) starts afresh in the next call."""
    from spagent_graph.tool_adapters.acceleration import denoisers_of

    for denoiser in denoisers_of(pipeline, target):
        if hasattr(denoiser, "_reset_stateful_cache"):
            denoiser._reset_stateful_cache()


def main() -> None:
    from spagent_graph.tool_adapters.acceleration import Levers
    from spagent_graph.tool_adapters.pool import PipelinePool
    from spagent_graph.tool_adapters.registry import ToolRegistry
    from spagent_graph.tool_adapters.toolbox import Toolbox

    from spagent_graph.media import read_frames
    from spagent_graph.metrics import PSNR_CAP_DB, psnr, ssim

    started = time.monotonic()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tool", choices=sorted({*MODELS, *real_size.BUILDERS}), default="svd")
    parser.add_argument("--frames", type=int)
    parser.add_argument("--height", type=int)
    parser.add_argument("--width", type=int)
    parser.add_argument("--steps", type=int, help="Default: the entry's usual steps.")
    parser.add_argument("--levers", help="JSON (or @FILE holding it): name -> levers (the registry's fields); "
                        "default: its profiles.")
    parser.add_argument("--extra-levers", help="JSON: more sets to time beside the registry's profiles.")
    parser.add_argument("--no-ablations", action="store_true", help="Leave out the sets less one lever.")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps-timed", type=int, default=0,
                        help="Time this many steps of each call and project the rest (default: whole calls).")
    parser.add_argument("--complete", help="With --steps-timed: variants that also make one complete call "
                        "(default: plain and every set with a cache).")
    parser.add_argument("--deadline-s", type=float, help="Start no complete call (in whole calls: no round) "
                        "that would end past this many seconds after the start.")
    parser.add_argument("--one-denoiser", action="store_true",
                        help="One denoiser that takes each variant's levers in turn, instead of a copy each.")
    parser.add_argument("--model-offload-below", type=float, metavar="GIB",
                        help="Place the pipeline with model CPU offload (one component on the GPU at a time) "
                        "where the GPU has less memory than this; peaks are then the call's whole allocation.")
    parser.add_argument("--fidelity-frames", type=int, default=9, help="Frames of each video in PSNR/SSIM.")
    parser.add_argument("--recompile-limit", type=int, default=64,
                        help="dynamo's recompiles per code object: every compiled module class and shape of "
                        "all variants counts against one limit in this process (8 by default)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/levers"))
    parser.add_argument("--json", type=Path, help="Also write every figure here.")
    parser.add_argument("--device", default="cuda", help="cuda; cpu only to try the script on a tiny model")
    parser.add_argument("--tiny", action="store_true", help="A library entry's tiny stand-in (tests/tiny_pipelines, "
                        "float32) instead of its real size, to try the script on a CPU in seconds.")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    torch._dynamo.config.recompile_limit = args.recompile_limit
    library = ToolRegistry.from_yaml("library")
    spec = library.get(args.tool)
    if args.tool in MODELS:
        settings = MODELS[args.tool]
        spec = spec.model_copy(update={"model": f"/random/{args.tool}", "torch_dtype": "bfloat16", "variant": None})
        usual = (settings["frames"], settings["height"], settings["width"])
    else:
        spec = spec.model_copy(update={"model": f"/random/{args.tool}"})
        usual = (spec.usual.frames, spec.usual.height, spec.usual.width)
    given, extra = (Path(v[1:]).read_text() if v and v.startswith("@") else v for v in (args.levers, args.extra_levers))
    sets, less = lever_sets(spec, given, extra, ablations=not args.no_ablations)
    if not sets:
        raise SystemExit(f"{args.tool}: its registry entry has no acceleration profiles; name sets with --levers")
    sets = {"plain": Levers(), **sets}
    steps = args.steps or spec.defaults.get("num_inference_steps") or MODELS.get(args.tool, {}).get("default_steps")
    # Steps timed per call of each variant: a cache's warm-up and one refresh period at least.
    timed = {name: max(args.steps_timed, needed_steps(levers)) for name, levers in sets.items()}
    projected = 0 < args.steps_timed and max(timed.values()) < steps
    device = Device(args.device)
    if args.model_offload_below and device.cuda and device.free_and_total()[1] < args.model_offload_below * GiB:
        spec = spec.model_copy(update={"memory": spec.memory.model_copy(update={"cpu_offload": "model"})})
    offloaded = spec.memory.cpu_offload != "none"
    # Each variant's pipeline is held here and put in the pool by hand: the pool must not evict one to make
    # room for a call or after an out-of-memory (its memory would not be freed, and its next call would load
    # the weights from disk).
    toolbox = Toolbox(ToolRegistry({args.tool: spec}), device=args.device,
                      pool=PipelinePool(manage_memory=False))
    tool = toolbox.tool(args.tool)
    import diffusers
    import transformers

    print(f"device: {device.name()}, torch {torch.__version__}, diffusers {diffusers.__version__}, transformers "
          f"{transformers.__version__}", flush=True)

    built = time.perf_counter()
    if args.tool in MODELS:
        folder, _, _ = build_folder(args.tool, args.workdir)
        base = getattr(diffusers, settings["pipeline"]).from_pretrained(folder, dtype=DTYPE).to(device.device)
    else:
        from spagent_graph.tool_adapters.diffusers_adapter import _place

        # The tool's own placement of a loaded pipeline (VAE tiling and the rest of the entry's `memory`).
        built_pipeline = (real_size.tiny(args.tool, args.workdir / "tiny", device.device) if args.tiny
                          else real_size.build(args.tool, device.device))
        base = _place(built_pipeline, spec.memory, device.device)
    base.set_progress_bar_config(disable=True)
    one_weights = pipeline_bytes(base)
    boundary = expert_boundary(base, steps)
    if boundary is not None:
        print(f"two experts: the first takes steps 0-{boundary - 1}, the second {boundary}-{steps - 1}", flush=True)
    print(f"built {args.tool} in {time.perf_counter() - built:.1f} s: {one_weights / GiB:.1f} GiB of weights"
          + (", model CPU offload" if offloaded else ""), flush=True)

    # A quantized set keeps a copy of its own: its weights cannot be given back to the others (where there
    # is no room for the copy, it is timed last, on the base denoiser quantized in place). The peaks count
    # one deployment's weights, the FP8 copy's where it has one.
    quantized = {name for name, levers in sets.items() if levers.quantize}
    saved = {name: float8_saved_bytes(base, sets[name].target) for name in quantized}
    levered = [levers for levers in sets.values() if not levers.is_plain]
    copies = sum(denoiser_bytes(base, levers.target) for levers in levered)
    free, total = device.free_and_total()
    switch = None
    # Offloaded, a denoiser cannot be copied (`check_room_for_copy`): the variants take turns on the one
    # there is.
    if args.one_denoiser or offloaded or copies > free - 0.35 * total:
        switch = LeverSwitch(base)
        why = ("the denoiser is offloaded" if offloaded else
               f"a copy each would take {copies / GiB:.0f} GiB of the {free / GiB:.0f} GiB free")
        print(f"one denoiser for the variants{' but the quantized' if quantized else ''}: {why}", flush=True)
    pipelines = {}
    switched: set[str] = set()  # the sets that run on the base pipeline's denoiser through the switch
    late: list[str] = []  # quantized sets with no room for a copy: timed after the others, quantized in place
    words = {name: levers.in_words() for name, levers in sets.items()}
    for name, levers in sets.items():
        if switch and name not in quantized:
            pipelines[name] = base
            switched.add(name)
        else:
            try:
                pipelines[name] = levered_copy(base, levers)
            except MemoryError as error:
                switch = switch or LeverSwitch(base)
                pipelines[name] = base
                switched.add(name)
                if name in quantized:
                    late.append(name)
                print(f"{name}: no copy, on the pipeline's own denoiser"
                      + (", quantized in place after the other sets are timed" if name in quantized else "")
                      + f" ({error})", flush=True)
            except Exception as error:  # noqa: BLE001 - a quantizer that does not run here: left out
                if name not in quantized:
                    raise
                print(f"{name}: left out ({levers.quantize}): {type(error).__name__}: {error}", flush=True)
                continue
        toolbox.pool.get(tool.pool_key(levers), lambda _, pipeline=pipelines[name]: pipeline, device=args.device)
        print(f"{name}: {words[name]}", flush=True)
    sets = {name: levers for name, levers in sets.items() if name in pipelines}
    timed = {name: timed[name] for name in sets}
    less = {key: without for key, without in less.items() if key[0] in sets and without in sets}
    # Sets whose levers are the same share the tool's pool key: such
    # a variant's own pipeline is put back in the pool before each of its calls.
    keys = [tool.pool_key(levers) for levers in sets.values()]
    shared_key = {name for name, levers in sets.items() if keys.count(tool.pool_key(levers)) > 1}

    image = args.workdir / "image.png"
    from PIL import Image

    Image.fromarray(np.random.default_rng(0).integers(0, 255, (576, 1024, 3), dtype=np.uint8)).save(image)
    request = {"prompt": PROMPT, "num_frames": args.frames or usual[0], "seed": 0,
               "fps": 8 if args.tool in MODELS else (spec.native_fps or 8),
               "height": args.height or usual[1], "width": args.width or usual[2], "num_inference_steps": steps}
    if spec.task == "image_to_video":
        request["image"] = str(image)
    suffix = ".png" if spec.task == "text_to_image" else ".mp4"

    def call(name: str, tag: str, stop_after: int | None) -> dict:
        """One call of `name` through the tool: its seconds, step ends (from its start), peak and output."""
        levers = sets[name]
        if name in switched:
            switch.use(levers)
        if name in shared_key:
            toolbox.pool.evict(tool.pool_key(levers))
            toolbox.pool.get(tool.pool_key(levers), lambda _: pipelines[name], device=args.device)
        marks: list[float] = []

        def progress(event: dict) -> None:
            device.sync()
            marks.append(time.perf_counter() - begun)
            if stop_after and event["step"] >= stop_after:
                raise StepsDone

        config = {"configurable": {"levers": {args.tool: levers}, "progress": progress}}
        path = args.workdir / f"{name.replace(' ', '-')}-{tag}{suffix}"
        resident = device.fresh_peak()
        device.sync()
        begun = time.perf_counter()
        finished = True
        try:
            tool.invoke({**request, "output_path": str(path)}, config=config)
        except Exception as error:  # noqa: BLE001 - the tool wraps the step report's StepsDone in its ToolError
            if not isinstance(error.__cause__, StepsDone):
                raise
            finished = False
            reset_caches(pipelines[name], levers.target)
        device.sync()
        seconds = time.perf_counter() - begun
        # Offloaded, the weights a call needs come onto the GPU inside it: its whole allocation is the peak.
        peak = device.peak() if offloaded else one_weights - saved.get(name, 0) + device.peak() - resident
        return {"seconds": seconds, "marks": marks, "peak_gib": peak / GiB, "output": str(path) if finished else None}

    def pace(run: dict) -> dict:
        """A timed call's figures: its timed steps (from the call's start) and the durations of steps 1.."""
        marks = run["marks"]
        return {"prefix_s": marks[-1], "durations_s": [b - a for a, b in zip(marks, marks[1:])]}

    def figures_of(name: str) -> dict:
        """`name`'s figures from its rounds: in projected calls its prefix and steady step, else its
        seconds."""
        levers = sets[name]
        if not projected:
            seconds = [run["seconds"] for run in runs[name]]
            return {"seconds": float(np.median(seconds)) if seconds else None}
        prefixes = [pace(run)["prefix_s"] for run in runs[name]]
        steadies = [steady_step(levers, pace(run)["durations_s"]) for run in runs[name]]
        figures = {"timed_steps": timed[name], "prefix_s": float(np.median(prefixes)),
                   "prefix_runs_s": prefixes, "step_s": float(np.median([s for s, _ in steadies])),
                   "rough": steadies[0][1]}
        # Two experts: the second starts its cache's warm-up over, which no prefix of the first shows.
        rests = [two_expert_rest(levers, pace(run)["durations_s"], timed[name], steps, boundary)
                 for run in runs[name]] if boundary is not None else []
        if rests and rests[0] is not None:
            figures.update({key: float(np.median([rest[key] for rest in rests])) for key in rests[0]})
            figures["rough"] = False
        return figures

    first_runs: dict[str, dict] = {}
    runs: dict[str, list[dict]] = {name: [] for name in sets}
    estimates: dict[str, dict] = {}
    complete: dict[str, dict] = {}
    tail = None
    wanted = (args.complete.split(",") if args.complete else
              [name for name, levers in sets.items() if name == "plain" or levers.changes_math])
    # The sets quantized in place come after every other: their FP8 weights cannot be taken off again.
    for phase in ([name for name in sets if name not in late], late):
        if not phase:
            continue
        for name in phase:
            run = call(name, "first", WARM_UP_STEPS if projected else None)
            first_runs[name] = run
            steps_shown = f" ({WARM_UP_STEPS} steps)" if projected else ""
            print(f"{name} first call{steps_shown}: {run['seconds']:.1f} s", flush=True)
        for round_index, name in rotated_rounds(phase, args.repeats):
            # Whole calls are complete calls too: the deadline holds for them, each bounded by its first
            # call (the compile included).
            first_s = first_runs[name]["seconds"]
            late_end = time.monotonic() - started + 1.1 * first_s
            if not projected and args.deadline_s and late_end > args.deadline_s:
                print(f"round {round_index + 1} {name}: not run (about {first_s:.0f} s would end past "
                      "the deadline)", flush=True)
                continue
            run = call(name, f"round-{round_index}", timed[name] if projected else None)
            runs[name].append(run)
            shown = (f"{pace(run)['prefix_s']:.2f} s for {timed[name]} steps" if projected
                     else f"{run['seconds']:.2f} s")
            print(f"round {round_index + 1} {name}: {shown}, peak {run['peak_gib']:.1f} GiB", flush=True)
        estimates.update({name: figures_of(name) for name in phase})
        if not projected:
            continue
        for name in [n for n in dict.fromkeys(("plain", *wanted)) if n in phase]:
            steps_s = estimates[name]["prefix_s"] + (steps - timed[name]) * estimates[name]["step_s"]
            expected = steps_s + (tail or 0.2 * steps_s)
            if args.deadline_s and time.monotonic() - started + 1.1 * expected > args.deadline_s:
                print(f"{name}: no complete call (about {expected:.0f} s would end past the deadline)", flush=True)
                continue
            run = call(name, "complete", None)
            complete[name] = run
            if tail is None:
                tail = run["seconds"] - run["marks"][-1]
            print(f"{name} complete call: {run['seconds']:.1f} s ({steps_s + tail:.1f} s projected), "
                  f"peak {run['peak_gib']:.1f} GiB", flush=True)
    if projected:
        for name, estimate in estimates.items():
            estimate["seconds"] = estimate["prefix_s"] + (steps - timed[name]) * estimate["step_s"] + (tail or 0.0)

    # The outputs compared: in whole calls each variant's first round (its first call where the deadline
    # left no round: the same arithmetic, compiled or not), else its complete call.
    outputs = ({name: run["output"] for name, run in complete.items()} if projected
               else {name: (runs[name] or [first_runs[name]])[0]["output"] for name in sets})
    fidelity = {}
    if outputs.get("plain"):
        reference = read_frames(outputs["plain"], args.fidelity_frames)
        for name, output in outputs.items():
            if name != "plain" and output:
                pairs = list(zip(read_frames(output, args.fidelity_frames), reference))
                fidelity[name] = (float(np.mean([psnr(np.asarray(a), np.asarray(b)) for a, b in pairs])),
                                  float(np.mean([ssim(np.asarray(a), np.asarray(b)) for a, b in pairs])))
                if fidelity[name][0] >= PSNR_CAP_DB and (sets[name].cache or sets[name].quantize):
                    print(f"{name}: frames identical to the plain call's though its levers change the arithmetic: "
                          "the output does not depend on what they touch (blocks gated off in a random build?)",
                          flush=True)

    plain = estimates["plain"]["seconds"]
    rows = []
    for name, levers in sets.items():
        estimate = estimates[name]
        mark = "~" if estimate.get("rough") else ""
        peaks = max(run["peak_gib"] for run in runs[name] or [first_runs[name]])
        row = [name, words[name], f"{first_runs[name]['seconds']:.1f}"]
        if projected:
            spread = f"{min(estimate['prefix_runs_s']):.2f}-{max(estimate['prefix_runs_s']):.2f}"
            done = complete.get(name)
            row += [f"{estimate['prefix_s']:.2f} ({timed[name]})", spread, f"{mark}{estimate['step_s']:.3f}",
                    f"{mark}{estimate['seconds']:.1f}", f"{mark}{plain / estimate['seconds']:.2f}x",
                    f"{done['seconds']:.1f}" if done else "-", f"{peaks:.1f}",
                    f"{done['peak_gib']:.1f}" if done else "-"]
        else:
            seconds = [run["seconds"] for run in runs[name]]
            row += ([f"{estimate['seconds']:.2f}", f"{min(seconds):.2f}-{max(seconds):.2f}"] if seconds
                    else ["-", "-"])
            speedup = f"{plain / estimate['seconds']:.2f}x" if plain and estimate["seconds"] else "-"
            row += [speedup, f"{peaks:.1f}"]
        row += [f"{fidelity[name][0]:.1f}", f"{fidelity[name][1]:.3f}"] if name in fidelity else ["-", "-"]
        rows.append(row)
    if args.json:
        args.json.write_text(json.dumps({
            "tool": args.tool, "request": request, "steps": steps, "timed_steps": timed if projected else None,
            "expert_boundary": boundary, "memory": spec.memory.model_dump(mode="json"),
            "device": device.name(), "torch": torch.__version__, "diffusers": diffusers.__version__,
            "levers": {name: levers.model_dump(mode="json") for name, levers in sets.items()},
            "float8_saved_bytes": saved, "in_words": words,
            "first_s": {name: run["seconds"] for name, run in first_runs.items()},
            "first_peak_gib": {name: run["peak_gib"] for name, run in first_runs.items()},
            "estimates": estimates, "tail_s": tail, "fidelity": fidelity,
            "runs": {name: [{k: v for k, v in run.items() if k != "output"} for run in r] for name, r in runs.items()},
            "complete": {name: {k: v for k, v in run.items() if k != "output"} for name, run in complete.items()},
        }, indent=1))

    print(f"\n{args.tool}: {request['num_frames']} frames, {request['width']}x{request['height']} asked, "
          f"{steps} steps, {args.repeats} rounds" + (f" of the first steps (their count beside their seconds); the "
          f"rest projected (decode and write {tail:.1f} s, from the plain complete call)" if projected and tail
          else "") + "\n")
    if projected:
        header = ["variant", "levers", f"first {WARM_UP_STEPS} steps s", "first steps s (count)", "runs s", "s/step",
                  "projected s", "speedup", "complete s", "steps peak GiB", "complete peak GiB"]
    else:
        header = ["variant", "levers", "first s", "warm s", "runs s", "speedup", "peak GiB"]
    print(table([*header, "PSNR vs plain", "SSIM vs plain"], rows))
    for (name, lever), without in less.items():
        if None in (plain, estimates[name]["seconds"], estimates[without]["seconds"]):
            continue
        share = estimates[without]["seconds"] - estimates[name]["seconds"]
        print(f"{name}: {plain - estimates[name]['seconds']:.1f} s saved against plain; less the {lever} "
              f"({without}) {plain - estimates[without]['seconds']:.1f} s, so the {lever}'s share is {share:.1f} s")


if __name__ == "__main__":
    main()
