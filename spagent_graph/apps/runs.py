"""`spagent runs` and `spagent replay`: the runs kept here, one run's manifest, making a run again."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import UsageError
from ..manifest import MANIFEST_FILE, ManifestError, RunManifest, read_manifest

__all__ = ["format_manifest", "format_replay", "kept_runs", "find_run", "runs_table"]


def kept_runs(artifacts_dir: Path | str) -> list[RunManifest]:
    """The runs whose manifest is in `artifacts_dir`, newest first; an unreadable one is left out."""
    runs = []
    for path in Path(artifacts_dir).expanduser().glob(f"*/{MANIFEST_FILE}"):
        try:
            manifest, _ = read_manifest(path)
        except ManifestError:
            continue
        if isinstance(manifest, RunManifest):
            runs.append(manifest)
    return sorted(runs, key=lambda m: m.created_at, reverse=True)


def find_run(artifacts_dir: Path | str, run_id: str) -> RunManifest:
    """The kept run `run_id` (or the one run whose id starts with it)."""
    runs = kept_runs(artifacts_dir)
    matching = [m for m in runs if m.run_id == run_id] or [m for m in runs if m.run_id.startswith(run_id)]
    if len(matching) == 1:
        return matching[0]
    if matching:
        raise UsageError(f"runs show {run_id}: {len(matching)} runs start with it ({', '.join(m.run_id for m in matching[:5])}); "
                         f"give more of the id.")
    listed = f"; the newest: {', '.join(m.run_id for m in runs[:5])}" if runs else "; it holds no runs"
    raise UsageError(f"runs show {run_id}: no run with that id in {artifacts_dir}{listed} (`spagent runs` lists them).")


def runs_table(runs: list[RunManifest]) -> list[tuple[str, ...]]:
    rows = []
    for run in runs:
        text = (run.request.get("text") or "").replace("\n", " ")
        text = text if len(text) <= 40 else text[:39] + "…"
        visual = next((name for name in ("image", "video") if run.request.get(name)), None)
        rows.append((run.run_id, run.created_at[:19].replace("T", " "), run.thread_id or "-",
                     text + (f" [+{visual}]" if visual else "") or f"[{visual}]", _winner(run),
                     f"{run.seconds:.1f} s" if run.seconds is not None else "-"))
    return rows


def _winner(run: RunManifest) -> str:
    if run.winner is None:
        return "none"
    candidate = next((c for c in run.candidates if c.id == run.winner), None)
    tools = " -> ".join(s.tool for s in candidate.steps) if candidate else "?"
    overall = (run.decisions.get("choice") or {}).get("overall")
    return f"{run.winner} ({tools})" + (f" {overall:.1f}/20" if isinstance(overall, (int, float)) else "")


def format_manifest(run: RunManifest) -> str:
    """One run's manifest in words: what was asked, where it ran, each step's tool, weights and options."""
    env = run.environment
    lines = [f"run {run.run_id}  (thread {run.thread_id or '-'}, {run.created_at}, "
             f"{f'{run.seconds:.1f} s' if run.seconds is not None else 'time unknown'})",
             f"request: {json.dumps(run.request.get('text'))}"
             + "".join(f", {name} {record.path} (sha256 {record.sha256[:12]})" for name, record in run.inputs.items()),
             f"winner:  {_winner(run)}",
             f"python {env.python} on {env.platform}",
             "libraries: " + ", ".join(f"{k} {v}" for k, v in env.packages.items() if v),
             "GPU: " + ("; ".join(f"{g.name} ({g.memory_gib:g} GiB)" for g in env.gpus) or "none")
             + (f", driver {env.driver}, CUDA {env.cuda}" if env.gpus else ""),
             f"MLLM: {run.mllm.model or '-'} at {run.mllm.url} ({len(run.mllm.answers)} answers)" if run.mllm.url
             else "MLLM: none (the MLLM-free planner and judge decided)"]
    for candidate in run.candidates:
        lines.append(f"{candidate.id}:" + (f" failed: {candidate.error}" if candidate.error else ""))
        for step in candidate.steps:
            made = step.made_with
            options = ", ".join(f"{k}={v}" for k, v in step.options.items() if v is not None)
            lines.append(f"  {step.index + 1}. {step.task} with {step.tool}: {made.pipeline or made.adapter}, "
                         f"{made.dtype or '-'}, {made.device or '-'}; {options}")
            for weights in made.weights:
                where = f"revision {weights.revision}" if weights.revision else weights.folder
                lines.append(f"     weights {weights.model} ({where}; {len(weights.files)} files hashed)")
            lines.append(f"     levers: {step.acceleration or 'none'}")
            lines.append(f"     -> {step.output}" + (f" (sha256 {step.output_sha256[:12]})" if step.output_sha256 else ""))
    changed = {k: v for k, v in run.setting_sources.items() if v != "default"}
    lines.append("settings changed from the default: "
                 + (", ".join(f"{k}={json.dumps(run.settings.get(k))} ({v})" for k, v in changed.items()) or "none"))
    return "\n".join(lines)


def format_replay(result) -> str:
    lines = [f"replayed: {c.in_words()}" for c in result.comparisons]
    verdict = ("identical to the recorded run" if result.identical
               else "not identical to the recorded run")
    took = f"{result.seconds:.1f} s"
    if result.recorded_seconds:
        took += f" (the run took {result.recorded_seconds:.1f} s)"
    lines.append(f"replay: {verdict}; files in {result.folder}; {took}")
    return "\n".join(lines)
