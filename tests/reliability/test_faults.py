"""Faults of the tools: an exception, a hang, a corrupt output, running out of memory twice. Each fails
its own candidate with an error that says how; the candidate that still stands is judged and returned."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from spagent_graph import build_graph

REQUEST = {"request": {"text": "a sailboat crossing a calm bay", "options": {"num_frames": 4, "height": 64, "width": 64}}}

SCRIPTS = {
    "an exception": "raise RuntimeError('the model blew up')\n",
    "a hang": "import time\ntime.sleep(600)\n",
    "a corrupt output": ("import sys, pathlib\n"
                         "out = pathlib.Path(sys.argv[1]); out.mkdir(parents=True, exist_ok=True)\n"
                         "(out / 'video.mp4').write_bytes(b'\\x00\\x00\\x00 not a video ' * 64)\n"),
}
SAYS = {"an exception": "the model blew up", "a hang": "timeout", "a corrupt output": "decoded"}


@pytest.mark.parametrize("fault", sorted(SCRIPTS))
def test_a_tool_fault_fails_its_candidate_and_the_other_is_judged_and_returned(demo_context, tmp_path: Path, fault):
    """Route 2's image-to-video tool fails; its candidate says how, and route 1 wins."""
    (tmp_path / "faulty_model.py").write_text(SCRIPTS[fault])
    registry = tmp_path / "registry.yaml"
    registry.write_text(yaml.safe_dump({"include": ["demo"], "only": ["demo-animatediff", "demo-sd3", "broken-i2v"],
                                        "tools": {"broken-i2v": {
                                            "task": "image_to_video", "adapter": "research_repo",
                                            "repo_dir": str(tmp_path), "timeout_s": 3, "max_retries": 0,
                                            "command": ["{python}", "faulty_model.py", "{output_dir}"]}}}))
    state = build_graph().invoke(REQUEST, context=demo_context.changed(registry=str(registry)))
    broken = next(c for c in state["candidates"] if "broken-i2v" in c.tools)
    assert broken.video is None and "broken-i2v" in broken.error and SAYS[fault] in broken.error
    assert broken.steps[0].output is not None and Path(broken.steps[0].output).is_file()  # the image step's file stays
    assert state["choice"].candidate_id != broken.id and state["choice"].video is not None
    assert [e.candidate_id for e in state["evaluations"]] == [state["choice"].candidate_id]


def test_out_of_memory_twice_fails_only_that_candidate(demo_context, monkeypatch):
    """A tool that runs out of memory again in its low-memory mode records the error; the other route wins."""
    import torch

    from spagent_graph.tool_adapters import pipeline_calls

    real = pipeline_calls.CALL_STYLES["generic"]

    def out_of_memory_for_svd(pipeline, offered, spec):
        if spec.name == "demo-svd":
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return real(pipeline, offered, spec)

    monkeypatch.setitem(pipeline_calls.CALL_STYLES, "generic", out_of_memory_for_svd)
    state = build_graph().invoke(REQUEST, context=demo_context)
    svd = next(c for c in state["candidates"] if "demo-svd" in c.tools)
    assert svd.video is None and "out of memory" in svd.error.lower()
    assert state["choice"].video is not None and state["choice"].candidate_id != svd.id
