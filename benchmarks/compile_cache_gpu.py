"""A profile's first request in a fresh process, with a cold and then a warm persistent compile cache.

    python benchmarks/compile_cache_gpu.py --tool wan22-5b-t2v --profile balanced [--processes cold,warm]
    python benchmarks/compile_cache_gpu.py --tool wan22-5b-t2v --tiny --device cpu --usual '9 96x64'  # on a CPU

Each process is a new Python process that does what a restarted server does for a tool it warms up
(`serve_warm_up`) or what a new `spagent run` does at its first call: the tool loads its pipeline and pulls
the profile's levers (`DiffusersTool._load`, which points PyTorch's compile caches at
`<cache_dir>/torch-compile`: acceleration.use_compile_cache), then makes a 2-step call at the entry's usual
size without decoding (`DiffusersTool.warm_up`), which compiles. The weights are the real-size random build
of `real_size.py` in place of `from_pretrained` (its seconds are reported apart, as "build s", and left out
of "first call s"). A second 2-step call in the same process gives the call without any compile, so
first - second is what the compile cost that process.

The processes run one after the other with the same, initially empty, cache folder: the first finds it cold,
the next warm. (PyTorch's default cache, under /tmp, would also be warm for a second process on the same
machine until /tmp is emptied; the tool's folder keeps it where its cache is kept.)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

GiB = 2**30


def child(args: argparse.Namespace) -> None:
    import diffusers
    import real_size
    from _levered import Device
    from spagent_graph.tool_adapters.acceleration import COMPILE_CACHE_VARIABLE, Levers
    from spagent_graph.tool_adapters.registry import ToolRegistry
    from spagent_graph.tool_adapters.toolbox import Toolbox

    begun = time.perf_counter()
    device = Device(args.device)
    library = ToolRegistry.from_yaml("library")
    spec = library.get(args.tool).model_copy(update={"model": f"/random/{args.tool}"})
    if args.tiny:
        spec = spec.model_copy(update={"torch_dtype": "float32", "variant": None})
    if args.usual:
        frames, width, height = (int(n) for n in args.usual.replace("x", " ").split())
        spec = spec.model_copy(update={"usual": spec.usual.model_copy(
            update={"frames": frames, "width": width, "height": height})})
    levers = Levers.model_validate(json.loads(args.levers)) if args.levers else spec.acceleration[args.profile]
    built = {}
    # The tiny stand-in loads with the class's own from_pretrained, so it is made before that is replaced.
    tiny = real_size.tiny(args.tool, Path(args.cache) / "tiny", device.device) if args.tiny else None

    def from_pretrained(cls, *_, **__):
        seconds, pipeline = device.timed(lambda: tiny if tiny is not None else real_size.build(args.tool, device.device))
        built["seconds"] = seconds
        return pipeline

    pipeline_cls = getattr(diffusers, spec.pipeline)
    pipeline_cls.from_pretrained = classmethod(from_pretrained)
    toolbox = Toolbox(ToolRegistry({args.tool: spec}), device=args.device, cache_dir=Path(args.cache))
    tool = toolbox.tool(args.tool)
    first = device.timed(lambda: tool.warm_up(levers, steps=2))[0]
    peak = device.peak()
    second = device.timed(lambda: tool.warm_up(levers, steps=2))[0]
    folder = Path(args.cache) / "torch-compile"
    files = [f for f in folder.rglob("*") if f.is_file()]
    print(json.dumps({
        "first_call_s": first - built["seconds"], "build_s": built["seconds"], "second_call_s": second,
        "compile_s": first - built["seconds"] - second, "process_s": time.perf_counter() - begun,
        "peak_gib": peak / GiB, "levers": levers.in_words(), "cache_variable": __import__("os").environ.get(
            COMPILE_CACHE_VARIABLE), "cache_files": len(files), "cache_mib": sum(f.stat().st_size for f in files) / 2**20,
    }), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tool", default="wan22-5b-t2v")
    parser.add_argument("--profile", default="balanced", help="The registry profile whose levers are pulled.")
    parser.add_argument("--levers", help="JSON levers instead of the profile's.")
    parser.add_argument("--processes", default="cold,warm", help="Labels of the processes run in turn.")
    parser.add_argument("--cache", type=Path, help="The tool's cache folder (default: a new empty one).")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="The entry's tiny stand-in, to try this on a CPU.")
    parser.add_argument("--usual", help="FRAMES WxH instead of the entry's usual size (a tiny try: '9 96x64').")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    cache = args.cache or Path(tempfile.mkdtemp(prefix="spagent-compile-cache-"))
    print(f"torch {torch.__version__}; tool {args.tool}, profile {args.profile}; cache folder {cache}", flush=True)
    results = {}
    for label in args.processes.split(","):
        command = [sys.executable, __file__, "--child", "--tool", args.tool, "--profile", args.profile,
                   "--cache", str(cache), "--device", args.device, *(["--levers", args.levers] if args.levers else []),
                   *(["--tiny"] if args.tiny else []),
                   *(["--usual", args.usual] if args.usual else [])]
        begun = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stdout[-3000:], done.stderr[-6000:], flush=True)
            raise SystemExit(f"the {label} process failed ({done.returncode})")
        results[label] = json.loads(done.stdout.strip().splitlines()[-1])
        results[label]["wall_s"] = time.perf_counter() - begun
        print(f"{label}: {json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in results[label].items()})}",
              flush=True)
    print("\nprocess | first call s (2 steps, compile included) | second call s | compile s | build s | process s "
          "| cache files (MiB)")
    print("--------|------------------------------------------|---------------|-----------|---------|-----------"
          "|------------------")
    for label, r in results.items():
        print(f"{label:7s} | {r['first_call_s']:40.1f} | {r['second_call_s']:13.1f} | {r['compile_s']:9.1f} | "
              f"{r['build_s']:7.1f} | {r['wall_s']:9.1f} | {r['cache_files']} ({r['cache_mib']:.0f})")
    if args.json:
        args.json.write_text(json.dumps({"tool": args.tool, "profile": args.profile, "torch": torch.__version__,
                                         "processes": results}, indent=1))


if __name__ == "__main__":
    main()
