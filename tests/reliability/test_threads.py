"""Many runs on one thread: each request is a run of its own (its own id, candidates,
evaluations and winner), the earlier runs stay in the thread's history, and a checkpointer
the user makes round-trips our state with no serializer warning, strict mode or not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).parents[1] / "scripts"
ROOT = Path(__file__).parents[2]


def three_runs_on_one_thread(kind: str, target: str, tmp_path: Path, cache: Path, strict: bool,
                             script: str = "three_runs.py", *extra: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LANGGRAPH_STRICT_MSGPACK": "true" if strict else "false"}
    done = subprocess.run([sys.executable, str(SCRIPTS / script), kind, target, str(tmp_path / "runs"), str(cache),
                           *extra], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def assert_three_runs_apart(result: dict) -> None:
    runs = result["runs"]
    assert len({run["run_id"] for run in runs}) == 3
    assert [run["text"] for run in runs] == ["a red fox running through snow", "a sailboat crossing a bay at dawn",
                                             "a cyclist racing downhill"]
    for run in runs:
        assert run["candidates"] == ["route-1", "route-2"]  # its own two, nothing left of the run before
        assert sorted(run["evaluations"]) == ["route-1", "route-2"]
        assert run["videos_in_run_folder"]
        assert run["choice"] == run["winner"]  # the winner's video and score belong together
    assert result["history_run_ids"] == sorted(run["run_id"] for run in runs)
    assert result["warnings"] == []


@pytest.mark.slow
@pytest.mark.parametrize("strict", [True, False], ids=["strict", "default"])
@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_three_runs_on_one_thread(kind: str, strict: bool, tmp_path: Path, demo_cache: Path):
    result = three_runs_on_one_thread(kind, str(tmp_path / "checkpoints.sqlite"), tmp_path, demo_cache, strict)
    assert_three_runs_apart(result)


def three_turns_on_one_thread(kind: str, target: str, tmp_path: Path, cache: Path) -> dict:
    """The conversation of `tests/scripts/three_turns.py`, under strict msgpack."""
    from PIL import Image

    from tests.conftest import smooth_picture

    image = tmp_path / "parrot.png"
    Image.fromarray(smooth_picture(1, tint=(0.85, 0.1, 0.1))).save(image)
    return three_runs_on_one_thread(kind, target, tmp_path, cache, True, "three_turns.py", str(image))


def assert_three_turns(result: dict) -> None:
    first, follow_up, new_image = result["turns"]
    assert first["visual_type"] == "None" and first["input"] == "your text"
    # Turn 2 said nothing of a visual: it refines turn 1's winner, and the intent stage sees a video.
    assert follow_up["video_input"] == first["winner"] and follow_up["visual_type"] == "video"
    assert follow_up["input"] == "your text and the video of the last turn"
    # Turn 3's own image replaces the last video.
    assert new_image["video_input"] is None and new_image["visual_type"] == "single image"
    assert new_image["image_input"].endswith("inputs/message-image.png") and new_image["input"] == "your text and image"
    for turn in result["turns"]:
        assert turn["blocks"] == ["text", "video"] and turn["video"] == turn["winner"]
        assert f"The video: {turn['winner']}." in turn["text"]
    assert len({turn["run_id"] for turn in result["turns"]}) == 3
    assert result["messages"] == ["human", "ai"] * 3
    assert result["warnings"] == []


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_three_turns_of_a_conversation_on_one_thread(kind: str, tmp_path: Path, demo_cache: Path):
    assert_three_turns(three_turns_on_one_thread(kind, str(tmp_path / "checkpoints.sqlite"), tmp_path, demo_cache))
