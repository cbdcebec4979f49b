"""Issue 27: every run records what made its videos (in the state, manifest.json, report.json and
inside every MP4 and PNG it writes), `spagent replay` makes them again identically on the demo tools,
and `spagent runs` lists and shows runs. Everything here runs the real graph on the demo tools."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from spagent_graph import Context, Request, RunManifest, build_graph, read_manifest, replay
from spagent_graph.apps.cli import main
from spagent_graph.apps.report import write_report
from spagent_graph.manifest import MANIFEST_TAG, ManifestError, MediaManifest
from spagent_graph.media import tag_media, write_image, write_video
from spagent_graph.replay import ReplayRefused

SMALL = ["--frames", "4", "--height", "64", "--width", "64"]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory, seed_subject_fit) -> tuple[dict, Context]:
    """One demo run (a text, so both routes run: text-to-video, and text-to-image then image-to-video)."""
    root = tmp_path_factory.mktemp("manifest-run")
    cache = seed_subject_fit(root / "cache")
    context = Context(registry="demo", cache_dir=str(cache), artifacts_dir=str(root / "runs"), device="cpu")
    result = build_graph().invoke({"request": Request(text="a dog running on a beach")}, context=context,
                                  config={"configurable": {"thread_id": "beach-1"}})
    return result, context


def run_folder(result: dict, context: Context) -> Path:
    return Path(context.artifacts_dir) / result["run_id"]


def test_the_result_carries_a_typed_manifest_of_every_step(demo_run):
    result, context = demo_run
    manifest = result["manifest"]
    assert isinstance(manifest, RunManifest) and manifest.run_id == result["run_id"]
    assert manifest.thread_id == "beach-1" and manifest.winner == result["choice"].candidate_id
    assert manifest.environment.packages["torch"] and manifest.environment.packages["diffusers"]
    assert manifest.settings["registry"] == "demo" and manifest.request["text"] == "a dog running on a beach"
    steps = [step for candidate in manifest.candidates for step in candidate.steps]
    assert len(steps) == 3
    for step in steps:
        made = step.made_with
        assert made.pipeline.endswith("Pipeline") and made.device == "cpu" and made.dtype == "torch.float32"
        assert made.entry["name"] == step.tool and made.weights and made.weights[0].files
        assert all(len(digest) == 64 for digest in made.weights[0].files.values())
        assert step.options["seed"] == 0 and step.options["height"] == 64
        assert (run_folder(result, context) / step.output).is_file() and len(step.output_sha256) == 64
    # The same record is kept beside the run's files, where `spagent runs` and `spagent replay` read it.
    kept, folder = read_manifest(run_folder(result, context))
    assert kept == manifest and folder.resolve() == run_folder(result, context).resolve()


def test_every_mp4_and_png_of_the_run_carries_its_manifest(demo_run):
    result, context = demo_run
    files = sorted((run_folder(result, context) / "steps").glob("*.mp4")) + sorted(
        (run_folder(result, context) / "steps").glob("*.png"))
    assert {f.suffix for f in files} == {".mp4", ".png"}
    for path in files:
        if path.suffix == ".mp4":
            with av.open(str(path)) as container:  # as any reader of MP4 metadata sees it
                text = container.metadata[MANIFEST_TAG]
        else:
            with Image.open(path) as picture:
                text = picture.info[MANIFEST_TAG]
        embedded = MediaManifest.model_validate_json(text)
        assert embedded.run_id == result["run_id"] and embedded.steps[-1].output == f"steps/{path.name}"
    # The image-to-video file says how its input picture was made too: a file handed on alone is enough.
    video = next(f for f in files if "image_to_video" in f.name)
    with av.open(str(video)) as container:
        chain = MediaManifest.model_validate_json(container.metadata[MANIFEST_TAG]).steps
    assert [s.task for s in chain] == ["text_to_image", "image_to_video"]


def test_report_json_holds_the_manifest_and_the_page_shows_it_collapsed(demo_run, tmp_path: Path):
    result, _ = demo_run
    json_path, html_path = write_report(result, tmp_path / "report")
    assert json.loads(json_path.read_text())["manifest"]["run_id"] == result["run_id"]
    page = html_path.read_text()
    assert '<section id="manifest"' in page and "<details><summary>the manifest: 3 steps" in page


def test_a_replay_of_a_demo_run_is_identical_frame_for_frame(demo_run, tmp_path: Path):
    result, context = demo_run
    replayed = replay(run_folder(result, context), out=tmp_path / "again", cache_dir=context.cache_dir)
    assert replayed.differences == [] and len(replayed.comparisons) == 3
    assert replayed.identical and all(c.same_encoding for c in replayed.comparisons)
    assert (tmp_path / "again" / "replay.json").is_file()
    # From the winning video alone, or the report written elsewhere: the same.
    winner = replay(result["choice"].video, out=tmp_path / "from-video", cache_dir=context.cache_dir)
    assert winner.identical and [c.candidate_id for c in winner.comparisons] == ["file"] * len(winner.comparisons)
    json_path, _ = write_report(result, tmp_path / "report-elsewhere")
    assert replay(json_path, out=tmp_path / "from-report", cache_dir=context.cache_dir).identical


def test_a_changed_library_version_is_said_and_refused_without_anyway(demo_run, tmp_path: Path):
    result, context = demo_run
    folder = tmp_path / "copy"
    shutil.copytree(run_folder(result, context), folder)
    document = json.loads((folder / "manifest.json").read_text())
    document["environment"]["packages"]["diffusers"] = "0.30.0"
    (folder / "manifest.json").write_text(json.dumps(document))
    with pytest.raises(ReplayRefused) as refused:
        replay(folder, out=tmp_path / "refused", cache_dir=context.cache_dir)
    assert refused.value.differences == [f"diffusers: 0.30.0 when recorded, "
                                         f"{result['manifest'].environment.packages['diffusers']} here"]
    assert not (tmp_path / "refused").exists()  # nothing written
    anyway = replay(folder, out=tmp_path / "anyway", anyway=True, cache_dir=context.cache_dir)
    assert anyway.differences == refused.value.differences and anyway.identical


def test_missing_weights_name_the_revision_and_the_command_that_fetches_them(demo_run, tmp_path: Path,
                                                                              monkeypatch):
    result, context = demo_run
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    folder = tmp_path / "copy"
    shutil.copytree(run_folder(result, context), folder)
    document = json.loads((folder / "manifest.json").read_text())
    weights = document["candidates"][0]["steps"][0]["made_with"]["weights"][0]
    weights.update(model="acme/video-model", revision="0123456789abcdef0123456789abcdef01234567")
    (folder / "manifest.json").write_text(json.dumps(document))
    with pytest.raises(ReplayRefused) as refused:
        replay(folder, cache_dir=context.cache_dir, artifacts_dir=tmp_path / "out")
    tool = document["candidates"][0]["steps"][0]["tool"]
    assert refused.value.differences == [
        f"weights of {tool}: acme/video-model at revision 0123456789ab is not here; fetch it: hf download "
        f"acme/video-model --revision 0123456789abcdef0123456789abcdef01234567"]


def test_tags_replace_each_other_and_leave_the_pictures_as_they_were(tmp_path: Path):
    frames = [np.full((32, 48, 3), 20 * i, np.uint8) for i in range(5)]
    video = write_video(frames, tmp_path / "v.mp4", fps=8)
    with av.open(str(video)) as container:
        before = [bytes(p) for p in container.demux() if p.size]
    tag_media(video, MANIFEST_TAG, "first")
    tag_media(video, MANIFEST_TAG, "second")
    with av.open(str(video)) as container:
        assert container.metadata[MANIFEST_TAG] == "second"
        assert [bytes(p) for p in container.demux() if p.size] == before
    picture = write_image(frames[3], tmp_path / "p.png")
    tag_media(picture, MANIFEST_TAG, "é one")
    tag_media(picture, MANIFEST_TAG, "two")
    with Image.open(picture) as image:
        assert image.info == {MANIFEST_TAG: "two"} and np.array_equal(np.asarray(image), frames[3])


# The command --------------------------------------------------------------------------------


@pytest.fixture
def where(tmp_path: Path, demo_cache: Path, monkeypatch) -> list[str]:
    for name in ("SPAGENT_MLLM_URL", "SPAGENT_REGISTRY", "SPAGENT_CONFIG", "SPAGENT_DEVICE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return ["--cache-dir", str(demo_cache), "--artifacts-dir", str(tmp_path / "runs")]


def test_runs_lists_and_shows_and_replay_says_identical(where, tmp_path: Path, capsys):
    assert main(["run", "--text", "a fox in the snow", "--thread-id", "fox-1", "--no-progress", "--device", "cpu",
                 *SMALL, *where]) == 0
    capsys.readouterr()
    assert main(["runs", *where]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].split() == ["id", "date", "(UTC)", "thread", "text", "winner", "time"]
    run_id = listed[1].split()[0]
    assert "fox-1" in listed[1] and "a fox in the snow" in listed[1] and "route-" in listed[1]
    assert main(["runs", "show", run_id[:6], *where]) == 0
    shown = capsys.readouterr().out
    assert f"run {run_id}" in shown and "thread fox-1" in shown and "weights demo://" in shown
    assert "settings changed from the default:" in shown and "device=" in shown  # --device cpu, an option
    assert main(["replay", str(tmp_path / "runs" / run_id), *where]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert all("identical, frame for frame" in line for line in printed[:-1]) and len(printed) == 4
    assert printed[-1].startswith("replay: identical to the recorded run; files in ")


def one_line(capsys) -> str:
    printed = capsys.readouterr()
    lines = printed.err.strip().splitlines()
    assert len(lines) == 1 and printed.out == "", printed
    return lines[0]


def test_bad_replay_inputs_are_one_line_exit_2_and_write_nothing(where, tmp_path: Path, capsys, demo_run):
    result, context = demo_run
    source = run_folder(result, context)
    edited = tmp_path / "edited"
    shutil.copytree(source, edited)
    document = json.loads((source / "manifest.json").read_text())
    document["candidates"][0]["steps"][0]["output"] = "../../../etc/passwd"
    (edited / "manifest.json").write_text(json.dumps(document))
    newer = tmp_path / "newer"
    shutil.copytree(source, newer)
    document = json.loads((source / "manifest.json").read_text())
    document["format"] = 99
    (newer / "manifest.json").write_text(json.dumps(document))
    foreign = tmp_path / "foreign.json"
    foreign.write_text('{"kind": "something else"}')
    plain = write_video([np.zeros((16, 16, 3), np.uint8)] * 2, tmp_path / "plain.mp4", fps=8)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    before = sorted(p.name for p in tmp_path.iterdir())
    cases = [(edited, "outside its run folder"), (newer, "format 99, written by a newer spagent-graph"),
             (foreign, "holds no spagent-graph manifest"), (plain, "this video carries no spagent-graph manifest"),
             (text, "not a file spagent-graph writes"), (tmp_path / "missing", "no such file or folder")]
    for path, said in cases:
        assert main(["replay", str(path), *where]) == 2, path
        line = one_line(capsys)
        assert line.startswith("error: ") and said in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert not (tmp_path / "runs").exists()


def test_runs_mistakes_are_one_line(where, capsys):
    assert main(["runs", *where]) == 0
    assert "no runs kept in" in capsys.readouterr().out
    assert main(["runs", "show", *where]) == 2
    assert "which run?" in one_line(capsys)
    assert main(["runs", "show", "nope", *where]) == 2
    assert "no run with that id" in one_line(capsys)


def test_read_manifest_refuses_a_tag_that_names_a_file_outside(tmp_path: Path, demo_run):
    result, _ = demo_run
    video = Path(result["choice"].video)
    copy = tmp_path / "steps" / video.name
    copy.parent.mkdir()
    shutil.copy(video, copy)
    with av.open(str(copy)) as container:
        document = json.loads(container.metadata[MANIFEST_TAG])
    document["steps"][0]["inputs"] = {"image": "/etc/hostname"}
    tag_media(copy, MANIFEST_TAG, json.dumps(document))
    with pytest.raises(ManifestError, match="by relative paths"):
        read_manifest(copy)
