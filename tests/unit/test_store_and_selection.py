"""The capability store (files, running means, concurrent writers) and selection by strength."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from spagent_graph.capability_store import PAPER_SEED, CapabilityStore, StrengthEntry
from spagent_graph.errors import ConfigError
from spagent_graph.selection import NEUTRAL_STRENGTH, rank_tools, select_models


def entry(model, strength, subject="animals", task="image_to_video", source="prior", count=1.0):
    return StrengthEntry(model=model, task=task, subject=subject, strength=strength, source=source, count=count)


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_export_and_import_round_trip(tmp_path: Path, suffix: str):
    store = CapabilityStore(tmp_path / "a.sqlite")
    store.import_file(PAPER_SEED)
    store.record("svd", "image_to_video", "animals", 1500, source="judge")
    exported = store.export(tmp_path / f"strengths{suffix}")
    copy = CapabilityStore()
    copy.import_file(exported)
    assert copy.entries() == store.entries()
    assert len(store.entries()) == 11 * 6 + 1  # eleven scored paper tools, six subjects each, one judged row


def test_seed_gives_paper_means_times_one_hundred():
    store = CapabilityStore()
    store.import_file(PAPER_SEED)
    assert store.strengths("image_to_video", "sports") == pytest.approx(
        {"svd": 1374.0, "dynamicrafter": 1297.4, "seine": 1245.3}
    )


def test_record_keeps_a_running_mean_and_sources_combine_by_weight():
    store = CapabilityStore(source_weights={"prior": 1.0, "judge": 0.5})
    store.put([entry("svd", 1000, count=2)])
    store.record("svd", "image_to_video", "animals", 1600, source="judge")
    judged = store.record("svd", "image_to_video", "animals", 1200, source="judge")
    assert (judged.strength, judged.count) == (1400, 2)
    # prior 1000 x (2 x 1.0) and judge 1400 x (2 x 0.5): (2000 + 1400) / 3
    assert store.strengths("image_to_video", "animals")["svd"] == pytest.approx(3400 / 3)


def test_strengths_outside_the_scale_are_refused():
    with pytest.raises(ValueError, match="less than or equal to 2000"):
        entry("svd", 2500)


def _record_many(path: str, model: str, times: int) -> None:
    store = CapabilityStore(path)
    for _ in range(times):
        store.record(model, "text_to_video", "sports", 1000, source="judge")


def test_concurrent_writers_lose_no_update(tmp_path: Path):
    path = str(tmp_path / "shared.sqlite")
    CapabilityStore(path)
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda _: _record_many(path, "latte", 25), range(4)))
    processes = [multiprocessing.get_context("spawn").Process(target=_record_many, args=(path, "lavie", 20)) for _ in range(3)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
        assert process.exitcode == 0
    counts = {e.model: e.count for e in CapabilityStore(path).entries()}
    assert counts == {"latte": 100, "lavie": 60}


def test_rank_orders_by_strength_then_name_and_gives_unscored_tools_the_neutral_strength():
    store = CapabilityStore()
    store.put([entry("b-tool", 1200), entry("a-tool", 1200), entry("weak", 900)])
    ranked = rank_tools("image_to_video", "animals", ["weak", "b-tool", "a-tool", "new"], store)
    assert ranked == [("a-tool", 1200), ("b-tool", 1200), ("new", NEUTRAL_STRENGTH), ("weak", 900)]


def test_missing_subject_falls_back_to_the_models_mean_over_subjects():
    store = CapabilityStore()
    store.put([entry("svd", 1400, subject="sports"), entry("svd", 1200, subject="people")])
    assert store.strengths("image_to_video", "landscapes") == {"svd": 1300}


def test_selection_picks_the_best_and_the_second_best_for_identical_routes():
    store = CapabilityStore()
    store.put([entry("svd", 1374), entry("seine", 1245), entry("dynamicrafter", 1297)])
    route = ("image_to_video",)
    plan = select_models((route, route), "animals", lambda task: ["seine", "svd", "dynamicrafter"], store)
    assert [(c.tool, c.rank) for c in plan.routes[0]] == [("svd", 1)]
    assert [(c.tool, c.rank) for c in plan.routes[1]] == [("dynamicrafter", 2)]
    assert "second-best" in plan.notes[0]


def test_selection_depends_on_the_subject():
    store = CapabilityStore()
    store.put([entry("a", 1500, subject="sports"), entry("a", 900, subject="animals"),
               entry("b", 1000, subject="sports"), entry("b", 1000, subject="animals")])
    pick = lambda subject: select_models((("image_to_video",), ("text_to_image", "image_to_video")), subject,
                                         lambda task: ["a", "b"], store).routes[0][0].tool
    assert (pick("sports"), pick("animals")) == ("a", "b")


def test_selection_with_one_tool_uses_it_for_both_routes_and_says_so():
    route = ("video_to_video",)
    plan = select_models((route, route), "sports", lambda task: ["only"], CapabilityStore())
    assert plan.routes[0] == plan.routes[1]
    assert any("only one tool (only)" in note for note in plan.notes)


def test_a_task_with_no_tool_is_a_config_error():
    with pytest.raises(ConfigError, match="No tool in the registry can run `video_to_video`"):
        select_models((("video_to_video",),) * 2, "sports", lambda task: [], CapabilityStore())


def test_store_models_absent_from_the_registry_are_never_selected():
    store = CapabilityStore()
    store.import_file(PAPER_SEED)  # knows svd, seine, dynamicrafter
    plan = select_models((("image_to_video",),) * 2, "sports", lambda task: ["my-i2v"], store)
    assert plan.routes[0][0].tool == "my-i2v"


def test_each_choice_says_what_its_strength_rests_on():
    store = CapabilityStore()
    store.put([entry("svd", 1374), entry("svd", 1500, source="judge", count=3), entry("seine", 1400, subject="sports")])
    route = ("image_to_video",)
    tools = lambda task: ["seine", "svd", "new"]  # noqa: E731
    svd, second = (plan := select_models((route, route), "animals", tools, store)).routes[0][0], plan.routes[1][0]
    assert (svd.tool, svd.evidence, svd.subject_scored) == ("svd", {"prior": 1.0, "judge": 3.0}, True)
    # seine was scored on sports only: its strength is its mean over the subjects it has.
    assert (second.tool, second.evidence, second.subject_scored) == ("seine", {"prior": 1.0}, False)
    unknown = select_models((route, route), "unknown", lambda task: ["new"], store).routes[0][0]
    assert (unknown.evidence, unknown.subject_scored, unknown.strength) == ({}, False, NEUTRAL_STRENGTH)


def test_the_library_seed_marks_each_prior_published_or_neutral():
    from spagent_graph.capability_store import LIBRARY_SEED, load_entries
    from spagent_graph.tool_adapters.registry import ToolRegistry

    entries = load_entries(LIBRARY_SEED)
    assert {e.source for e in entries} == {"published", "neutral"}
    library = ToolRegistry.from_yaml("library")
    assert all(e.model in library and library.get(e.model).task == e.task for e in entries)
    flux2 = {e.subject: e.strength for e in entries if e.model == "flux2"}
    assert flux2["people"] > flux2["landscapes"] > flux2["objects"]  # HPSv3: Characters first, Products last
    # A neutral prior weighs a quarter of a score: one judged run moves it most of the way.
    store = CapabilityStore()
    store.put([e for e in entries if e.model == "sana-video"])
    store.record("sana-video", "text_to_video", "animals", 1450, source="judge")
    assert store.strengths("text_to_video", "animals")["sana-video"] == pytest.approx((1050 * 0.25 + 1450) / 1.25)
