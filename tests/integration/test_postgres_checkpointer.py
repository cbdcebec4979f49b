"""Durable runs on Postgres: a run paused at plan review is resumed through a second,
independent connection to a real PostgreSQL server started for the test."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.conftest import free_port

pytest.importorskip("langgraph.checkpoint.postgres")

INITDB = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))


@pytest.fixture(scope="module")
def postgres_url():
    if not INITDB:
        pytest.skip("needs Debian's postgresql package (.ci/run installs it)")
    bin_dir = Path(INITDB[-1]).parent
    # PostgreSQL refuses to run as root; as root, the server runs as the `postgres` user.
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    root = Path(tempfile.mkdtemp(prefix="spagent-pg-"))
    root.chmod(0o755)
    data = root / "data"
    data.mkdir()
    if as_user:
        shutil.chown(data, "postgres")
        shutil.chown(root, "postgres")
    port = free_port()
    subprocess.run([*as_user, str(bin_dir / "initdb"), "-D", str(data), "-U", "spagent", "--auth=trust"],
                   check=True, capture_output=True)
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1"
    subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"),
                    "-w", "start"], check=True, capture_output=True)
    try:
        yield f"postgresql://spagent@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def test_a_paused_run_resumes_from_postgres_through_a_new_connection(postgres_url: str, demo_context):
    from langgraph.types import Command

    from spagent_graph import build_graph
    from spagent_graph.persistence import open_checkpointer

    context = demo_context.changed(review_plan=True)
    config = {"configurable": {"thread_id": "pg-job"}}
    request = {"request": {"text": "a sailboat at sunset", "options": {"num_frames": 4, "height": 64, "width": 64}}}
    with open_checkpointer(postgres_url) as saver:
        paused = build_graph(checkpointer=saver).invoke(request, config, context=context)
    assert paused["__interrupt__"][0].value["kind"] == "plan_review"

    with open_checkpointer(postgres_url) as saver:  # as another process would
        graph = build_graph(checkpointer=saver)
        assert graph.get_state(config).next == ("review_plan",)
        result = graph.invoke(Command(resume={"action": "approve"}), config, context=context)
        assert result["choice"].video is not None
        assert type(graph.get_state(config).values["choice"]).__name__ == "Choice"


@pytest.mark.slow
def test_three_runs_on_one_thread_in_postgres_under_strict_msgpack(postgres_url: str, tmp_path: Path, demo_cache):
    from tests.reliability.test_threads import assert_three_runs_apart, three_runs_on_one_thread

    assert_three_runs_apart(three_runs_on_one_thread("postgres", postgres_url, tmp_path, demo_cache, strict=True))


def test_three_turns_of_a_conversation_in_postgres_under_strict_msgpack(postgres_url: str, tmp_path: Path, demo_cache):
    from tests.reliability.test_threads import assert_three_turns, three_turns_on_one_thread

    assert_three_turns(three_turns_on_one_thread("postgres", postgres_url, tmp_path, demo_cache))
