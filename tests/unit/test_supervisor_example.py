"""examples/supervisor.py: SPAgent as the `video_maker` of a supervisor, whose model is scripted here."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.test_agents import call, scripted
from tests.unit.test_film_example import load_example


def test_the_supervisor_hands_the_request_to_spagent_and_answers_with_its_video(demo_context):
    team = load_example("supervisor").build_team(scripted(call("transfer_to_video_maker"), "Your fox video is ready."))
    final = team.invoke({"messages": [("user", "a red fox running through snow")]}, context=demo_context)
    made = [m for m in final["messages"] if "spagent" in m.response_metadata]
    assert len(made) == 1 and Path(made[0].response_metadata["spagent"]["video"]).is_file()
    assert final["messages"][-1].text == "Your fox video is ready."


def test_the_command_needs_the_supervisor_s_model(capsys):
    with pytest.raises(SystemExit) as stopped:
        load_example("supervisor").main([])
    assert stopped.value.code == 2 and "--llm-url" in capsys.readouterr().err
