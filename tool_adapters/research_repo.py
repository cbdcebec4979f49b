"""Runs a research repository's own inference script as a tool.

For models with no diffusers pipeline (LaVie, OpenSora, SEINE, ...): the
registry entry names the user's clone (`repo_dir`) and the command as an
argument list with placeholders. The command runs with the clone as its
working directory, inputs and outputs pass as files, and the video it leaves
under its output folder is picked up, checked and converted to our MP4.

Safety: arguments go to the process as a list, never through a shell; a
placeholder fills exactly one argument (or part of one), so user text can
never become a second argument or a command; the program itself is fixed or
`{python}`. A step that outlives `timeout_s` is killed with its whole
process group.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from string import Formatter
from typing import Any

import yaml
from PIL import Image, ImageOps

from spagent_graph.errors import ConfigError, ToolError, ToolTimeoutError
from spagent_graph.media import inspect_media, read_frames, resample, write_image, write_video

from .base import GenerationArgs, GenerativeTool, StepControl

__all__ = ["PLACEHOLDERS", "ResearchRepoTool"]

PLACEHOLDERS = (
    "python", "repo_dir", "output_dir", "prompt", "prompt_file", "image", "video", "frames_dir", "input_dir",
    "run_id", "num_frames", "height", "width", "fps", "seed", "steps", "config_file", "checkpoint",
)
# In a config file these stay numbers when a value is exactly the placeholder.
_NUMERIC = ("num_frames", "height", "width", "fps", "seed", "steps")
_STDERR_TAIL = 2000


class ResearchRepoTool(GenerativeTool):
    """A registry entry whose `adapter` is `research_repo`."""

    def __init__(self, spec, **kwargs: Any) -> None:
        kwargs.pop("pool", None)
        kwargs.pop("device", None)
        kwargs.pop("cache_dir", None)
        super().__init__(spec, **kwargs)
        for part in [*spec.command, *(arg for argv in spec.prepare for arg in argv), *_strings(spec.config),
                     spec.output_glob]:
            for _, field, _, _ in Formatter().parse(part):
                if field is not None and field not in PLACEHOLDERS:
                    raise ConfigError(f"Tool `{spec.name}`: unknown placeholder {{{field}}}; known: {', '.join(PLACEHOLDERS)}.")

    def _generate(self, args: GenerationArgs, control: StepControl) -> Path:
        repo_dir = self._repo_dir()
        with tempfile.TemporaryDirectory(prefix=f"{self.name}-", dir=Path(args.output_path).parent) as scratch:
            scratch = Path(scratch)
            output_dir = scratch / "output"
            output_dir.mkdir()
            values = self._placeholder_values(args, repo_dir, scratch, output_dir)
            for argv in [*self.spec.prepare, self.spec.command]:
                self._run_command([_fill(part, values) for part in argv], repo_dir, control)
            control.step(1, 1)
            return self._collect(output_dir, _fill(self.spec.output_glob, values), args)

    def _repo_dir(self) -> Path:
        if not self.spec.repo_dir:
            raise ConfigError(f"Tool `{self.name}`: `repo_dir` is not set; point it at your clone of the model's repository.")
        repo_dir = Path(self.spec.repo_dir).expanduser()
        if not repo_dir.is_dir():
            raise ConfigError(f"Tool `{self.name}`: `repo_dir` {repo_dir} is not a folder; point it at your clone.")
        return repo_dir

    def _placeholder_values(self, args: GenerationArgs, repo_dir: Path, scratch: Path, output_dir: Path) -> dict[str, str]:
        prompt_file = scratch / "prompt.txt"
        prompt_file.write_text((args.prompt or "").replace("\n", " ") + "\n", encoding="utf-8")
        values = {
            "python": self.spec.python or sys.executable,
            "repo_dir": str(repo_dir),
            "output_dir": str(output_dir),
            "prompt": args.prompt or "",
            "prompt_file": str(prompt_file),
            "image": "",
            "video": "",
            "frames_dir": "",
            "num_frames": str(args.num_frames),
            "height": str(args.height),
            "width": str(args.width),
            "fps": str(args.fps),
            "seed": str(args.seed),
            "steps": str(args.num_inference_steps or self.spec.defaults.get("num_inference_steps", "")),
            "checkpoint": self.spec.model or "",
            "config_file": "",
            "run_id": f"spagent-{uuid.uuid4().hex[:12]}",
        }
        size = (args.width, args.height)
        # {input_dir}: the step's inputs alone in one folder, for scripts that read a folder.
        input_dir = scratch / "inputs"
        input_dir.mkdir()
        (input_dir / "prompt.txt").write_text(prompt_file.read_text(encoding="utf-8"), encoding="utf-8")
        values["input_dir"] = str(input_dir)
        if args.image:
            picture = ImageOps.fit(Image.open(args.image).convert("RGB"), size)
            values["image"] = str(write_image(picture, scratch / "input.png"))
            write_image(picture, input_dir / "input.png")
        if args.video:
            frames = [ImageOps.fit(frame, size) for frame in resample(read_frames(args.video), args.num_frames)]
            values["video"] = str(write_video(frames, scratch / "input.mp4", fps=args.fps))
            # Named after the video's stem: some repos find cached inversions by that name.
            frames_dir = scratch / "frames" / "input"
            for index, frame in enumerate(frames):
                write_image(frame, frames_dir / f"{index:05d}.png")
            values["frames_dir"] = str(frames_dir)
        if self.spec.config:
            config_file = scratch / "config.yaml"
            # Many of these repos read configs with OmegaConf, which would resolve `${...}`
            # found in user text; escaped, it stays literal.
            config_values = {**values, "prompt": values["prompt"].replace("${", "\\${")}
            config_file.write_text(yaml.safe_dump(_fill_tree(self.spec.config, config_values), sort_keys=False))
            values["config_file"] = str(config_file)
        return values

    def _run_command(self, command: list[str], repo_dir: Path, control: StepControl) -> None:
        environment = {**os.environ, **self.spec.env}
        timeout = self.spec.timeout_s
        # A session of its own, so a timeout can end the script and everything it started.
        process = subprocess.Popen(
            command, cwd=repo_dir, env=environment, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise ToolTimeoutError(self.name, timeout or 0.0) from None
        if process.returncode != 0:
            tail = (stderr or stdout or "")[-_STDERR_TAIL:]
            raise ToolError(self.name, f"`{Path(command[1] if len(command) > 1 else command[0]).name}` exited with "
                                       f"status {process.returncode}:\n{tail}")

    def _collect(self, output_dir: Path, pattern: str, args: GenerationArgs) -> Path:
        # A relative pattern looks in the step's output folder; some repos only write into
        # their clone, which an absolute pattern (e.g. "{repo_dir}/results/...") reaches.
        base = Path("/") if Path(pattern).is_absolute() else output_dir
        made = sorted(base.glob(pattern.lstrip("/")), key=lambda p: p.stat().st_mtime)
        if not made:
            found = sorted(str(p.relative_to(output_dir)) for p in output_dir.rglob("*")) or ["nothing"]
            raise ToolError(self.name, f"wrote no file matching `{pattern}` (found: {', '.join(found[:10])}).")
        produced = made[-1]
        info = inspect_media(produced, "video")  # a broken file fails here, naming it
        output = Path(args.output_path)
        if self.output_suffix == ".png":
            return write_image(read_frames(produced, max_frames=1)[0], output)
        if info.kind != "video":
            raise ToolError(self.name, f"made {produced.name}, a single image, where a video was expected.")
        return write_video(read_frames(produced), output, fps=args.fps)


def _fill(template: str, values: dict[str, str]) -> str:
    return template.format_map(values)


def _fill_tree(tree: Any, values: dict[str, str]) -> Any:
    if isinstance(tree, str):
        for name in _NUMERIC:
            if tree == f"{{{name}}}" and values[name].lstrip("-").isdigit():
                return int(values[name])
        return _fill(tree, values)
    if isinstance(tree, dict):
        return {key: _fill_tree(value, values) for key, value in tree.items()}
    if isinstance(tree, list):
        return [_fill_tree(value, values) for value in tree]
    return tree


def _strings(tree: Any) -> list[str]:
    if isinstance(tree, str):
        return [tree]
    if isinstance(tree, dict):
        return [s for value in tree.values() for s in _strings(value)]
    if isinstance(tree, list):
        return [s for value in tree for s in _strings(value)]
    return []


