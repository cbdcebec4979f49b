"""examples/film.py: the SPAgent graph run inside a node of a larger graph, once per shot."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from spagent_graph import Context
from spagent_graph.media import inspect_media

EXAMPLES = Path(__file__).parents[2] / "examples"


def load_example(name: str = "film"):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # LangGraph reads the state's type hints through the module
    spec.loader.exec_module(module)
    return module


def test_every_shot_is_filmed_with_spagent_and_cut_together(tmp_path: Path, demo_context, capsys):
    graph = load_example().build_film_graph()
    story = "A fox wakes at dawn. It runs across the snow. It reaches the river."
    stages = []
    result = None
    for namespace, mode, chunk in graph.stream({"story": story, "out": str(tmp_path / "film")}, context=demo_context,
                                               stream_mode=["updates", "values"], subgraphs=True):
        if mode == "updates":
            stages.extend((namespace, node) for node in chunk)
        elif not namespace:
            result = chunk
    shots = sorted(result["videos"], key=lambda v: v.index)
    assert [s.text for s in shots] == ["A fox wakes at dawn.", "It runs across the snow.", "It reaches the river."]
    assert all(s.video is not None and Path(s.video).is_file() for s in shots)
    film = inspect_media(result["film"], "video")
    assert film.frame_count == 3 * 8
    # SPAgent's own stages ran inside the parent, as subgraphs of its make_shot branches.
    inner = {node for namespace, node in stages if namespace}
    assert {"recognize_intent", "plan_routes", "execute_route", "choose_winner"} <= inner


def test_the_command_line_runs_on_its_defaults(tmp_path: Path, monkeypatch, capsys, seed_subject_fit):
    monkeypatch.delenv("SPAGENT_MLLM_URL", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    seed_subject_fit(Path(Context().cache_dir))  # the default cache folder, now under that home
    assert load_example().main(["A boat at sea.", "--out", str(tmp_path / "o"), "--device", "cpu"]) == 0
    assert "film: " in capsys.readouterr().out
