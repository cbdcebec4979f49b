"""The probe set that tool library expansion runs a new tool on.

Prompts are in `probes.yaml` (two descriptive prompts and one edit per
subject). The visual inputs that image- and video-taking tools need are made
here, not downloaded: a small scene per subject (sky, ground and a subject
shape in that subject's colours), and a video that pans across it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path

import numpy as np
import yaml

from spagent_graph.media import write_image, write_video
from spagent_graph.principles import input_kind
from spagent_graph.state import SUBJECTS, Subject, Task

__all__ = ["Probe", "probe_prompts", "probes_for", "make_probe_image", "make_probe_video"]

# Sky, ground and subject colours per subject, so that the scenes differ as the subjects do.
_PALETTES: dict[Subject, tuple[tuple[int, int, int], tuple[int, int, int], tuple[int, int, int]]] = {
    "sports": ((120, 170, 235), (235, 240, 245), (200, 40, 40)),
    "transportation": ((150, 180, 220), (110, 110, 115), (220, 60, 30)),
    "people": ((250, 215, 170), (170, 120, 80), (240, 190, 160)),
    "animals": ((200, 210, 230), (240, 240, 245), (210, 100, 30)),
    "objects": ((90, 70, 60), (150, 100, 60), (120, 200, 230)),
    "landscapes": ((180, 200, 220), (40, 40, 45), (60, 110, 160)),
}


@dataclass(frozen=True)
class Probe:
    """One generation request of the probe set."""

    subject: Subject
    text: str
    image: Path | None = None
    video: Path | None = None

    @property
    def id(self) -> str:
        kind = "video" if self.video else "image" if self.image else "text"
        return f"{self.subject}-{kind}-{abs(hash(self.text)) % 10_000:04d}"


@cache
def probe_prompts() -> dict[Subject, dict]:
    data = yaml.safe_load(files("spagent_graph.probes").joinpath("probes.yaml").read_text())
    missing = set(SUBJECTS) - set(data)
    if missing:
        raise ValueError(f"probes.yaml: no prompts for subjects {sorted(missing)}.")
    return data


def probes_for(task: Task, folder: Path, *, per_subject: int = 2, size: tuple[int, int] = (256, 160)) -> list[Probe]:
    """The probes a tool of `task` runs on, covering all six subjects.

    Text-taking tasks get the descriptive prompts. Image- and video-taking
    tasks get the subject's scene with a descriptive prompt (which matches
    it) and with the edit prompt (which asks for a change), so both kinds of
    request the tool will see are probed.
    """
    kind = input_kind(task)
    probes = []
    for subject in SUBJECTS:
        prompts = probe_prompts()[subject]
        described = list(prompts["describe"])[:per_subject]
        if kind == "text":
            probes.extend(Probe(subject, text) for text in described)
            continue
        texts = [*described[: max(1, per_subject - 1)], prompts["edit"]][:per_subject]
        image = make_probe_image(subject, folder / f"probe-{subject}.png", size)
        if kind == "image":
            probes.extend(Probe(subject, text, image=image) for text in texts)
        else:
            video = make_probe_video(subject, folder / f"probe-{subject}.mp4", size)
            probes.extend(Probe(subject, text, video=video) for text in texts)
    return probes


def _scene(subject: Subject, width: int, height: int) -> np.ndarray:
    sky, ground, figure = (np.array(c, dtype=np.float32) for c in _PALETTES[subject])
    rows = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    picture = np.where(rows < 0.6, sky * (0.8 + 0.2 * rows / 0.6), ground * (1.1 - 0.2 * rows))
    picture = np.broadcast_to(picture, (height, width, 3)).copy()
    y, x = np.mgrid[0:height, 0:width]
    centre_x, centre_y, radius = width * 0.45, height * 0.55, min(width, height) * 0.22
    inside = (x - centre_x) ** 2 + ((y - centre_y) * 1.4) ** 2 < radius**2
    picture[inside] = figure
    return picture.clip(0, 255).astype(np.uint8)


def make_probe_image(subject: Subject, path: Path, size: tuple[int, int] = (256, 160)) -> Path:
    """The subject's scene as a PNG of `size` (width, height); made once."""
    if not path.exists():
        write_image(_scene(subject, *size), path)
    return path


def make_probe_video(subject: Subject, path: Path, size: tuple[int, int] = (256, 160), frames: int = 16) -> Path:
    """A slow pan across a wider version of the subject's scene; made once."""
    if not path.exists():
        width, height = size
        wide = _scene(subject, width + 2 * frames, height)
        write_video([wide[:, 2 * i : 2 * i + width] for i in range(frames)], path, fps=8)
    return path
