"""The deployment's split of the operator's settings per user, as the served graph's runs see
it (the server itself is driven in tests/integration/test_langgraph_server.py)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from spagent_graph.errors import ConfigError, SettingError
from spagent_graph.services import Services
from spagent_graph.serving import Deployment
from spagent_graph.settings import Settings


def runtime(context, user: str | None):
    return SimpleNamespace(context=context, server_info=SimpleNamespace(user=SimpleNamespace(identity=user)))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(artifacts_dir=str(tmp_path / "runs"), store_path=str(tmp_path / "strengths.db"))


def test_each_user_gets_their_own_folders_and_store(settings: Settings, tmp_path: Path):
    deployment = Deployment(settings)
    ada, bob = deployment.context_for("ada"), deployment.context_for("bob")
    for a, b in ((ada.artifacts_dir, bob.artifacts_dir), (ada.input_root, bob.input_root),
                 (ada.store_path, bob.store_path)):
        assert a != b
    assert Path(ada.input_root).is_dir() and Path(ada.input_root).is_relative_to(tmp_path / "runs" / "inputs")
    assert Path(ada.store_path).parent == tmp_path and Path(ada.store_path).suffix == ".db"
    assert Deployment.folder_of("a/b") != Deployment.folder_of("a_b")  # distinct identities, distinct folders
    shared = Deployment(settings.changed(serve_shared_learning=True))
    assert shared.context_for("ada").store_path == shared.context_for("bob").store_path == settings.store_path


def test_a_served_run_starts_from_its_users_settings_and_may_set_only_run_options(settings: Settings):
    services = Services(deployment=Deployment(settings))
    context = services.context(runtime({"judge_frames": 2, "review_plan": True}, "ada"))
    assert (context.judge_frames, context.review_plan) == (2, True)
    assert context.artifacts_dir == str(Deployment(settings).artifacts_of("ada"))
    with pytest.raises(SettingError, match="`artifacts_dir` is the operator's to set"):
        services.context(runtime({"artifacts_dir": "/tmp/elsewhere"}, "ada"))
    with pytest.raises(ConfigError, match="no authenticated user"):
        services.context(runtime({}, None))
    video = Path(context.artifacts_dir) / "abc" / "steps" / "v.mp4"
    assert services.public_path(video) == "/artifacts/abc/steps/v.mp4"
    assert services.public_path(Path("/etc/passwd")) is None
    assert Services().public_path(video) is None  # in-process: paths only


def test_an_unreadable_token_file_is_a_setting_error(settings: Settings, tmp_path: Path):
    bad = tmp_path / "tokens.json"
    bad.write_text('["not", "a", "mapping"]')
    with pytest.raises(SettingError, match="serve_tokens_file"):
        Deployment(settings.changed(serve_tokens_file=str(bad)))
