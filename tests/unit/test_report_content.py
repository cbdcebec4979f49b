"""What the report page says, read from states built by hand: no graph runs here.

Each state is made from the state models with small real videos (written by
`media.write_video`), so the page's posters are real frames. The page is read
both as HTML (what it links, how it is marked) and as the text a reader sees.
"""

from __future__ import annotations

import dataclasses

import json
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
from PIL import Image

from spagent_graph.media import write_image, write_poster, write_video
from spagent_graph.apps.report import RunFacts, write_report
from spagent_graph.state import (
    Candidate,
    Choice,
    Decision,
    Evaluation,
    GenerationOptions,
    Intent,
    MediaInfo,
    ModelChoice,
    ModelPlan,
    Request,
    RoutePlan,
    StepRecord,
    StrengthUpdate,
)

T2V, T2I, I2V = "text_to_video", "text_to_image", "image_to_video"
SECTIONS = ("request", "winner", "decisions", "plan", "candidates", "failures", "notes", "mllm", "learned",
            "settings")
TEXT_ONLY = "text-only request: visual alignment cannot be measured from frames; neutral score used."
HUB_ERROR = (
    "Tool `sd3`: OSError: Cannot find the requested files in the local cache and outgoing traffic has been "
    "disabled (HF_HUB_OFFLINE=1). To enable hub look-ups and downloads online, set 'local_files_only' to "
    "False.\nThe weights of stabilityai/stable-diffusion-3-medium-diffusers were never downloaded here."
)


def frames(count: int = 8, side: int = 32, tint: int = 0) -> list[np.ndarray]:
    """Flat frames whose brightness steps up by 24 a frame, so the middle one is known by its level."""
    return [np.full((side, side, 3), 20 + 24 * i + tint, dtype=np.uint8) for i in range(count)]


def video(path: Path, tint: int = 0) -> Path:
    return write_video(frames(tint=tint), path, fps=8)


def evaluation(cid: str, scores: tuple[float, float, float, float], overall: float, **extra) -> Evaluation:
    aesthetics, plausibility, alignment, motion = scores
    return Evaluation(candidate_id=cid, visual_aesthetics=aesthetics, physical_plausibility=plausibility,
                      visual_alignment=alignment, motion_alignment=motion, overall=overall,
                      **{"judge": "classical-frame-statistics-v1", "decided_by": "classical", **extra})


def fox_state(tmp_path: Path) -> dict:
    """A text-only run judged by frame statistics, in which route-2 wins on motion alignment."""
    steps = tmp_path / "run" / "steps"
    t2v, i2v = video(steps / "t2v.mp4"), video(steps / "i2v.mp4", tint=9)
    t2i = write_image(frames()[4], steps / "t2i.png")
    intent = Intent(text_type="natural language text", visual_type="None", subject="animals",
                    subject_confidence=0.87, aligned=False, types_decided_by="fallback",
                    alignment_decided_by="principles")
    models = ModelPlan(routes=(
        (ModelChoice(task=T2V, tool="animatediff", strength=1374, rank=1, evidence={"prior": 1}),),
        (ModelChoice(task=T2I, tool="sd3", strength=1050, rank=1),
         ModelChoice(task=I2V, tool="svd", strength=1290, rank=1, evidence={"prior": 1, "judge": 2.5},
                     subject_scored=False)),
    ))
    route_1 = Candidate(
        id="route-1", route_indices=(0,), tasks=(T2V,), tools=("animatediff",), seed=0, seconds=2.7, video=t2v,
        steps=[StepRecord(index=0, task=T2V, tool="animatediff", output=t2v, seconds=1.6)])
    route_2 = Candidate(
        id="route-2", route_indices=(1,), tasks=(T2I, I2V), tools=("sd3", "svd"), seed=0, seconds=2.8, video=i2v,
        steps=[StepRecord(index=0, task=T2I, tool="sd3", output=t2i, seconds=0.5,
                          adjustments=["size 72x72 -> 64x64 (sides a multiple of 16)"]),
               StepRecord(index=1, task=I2V, tool="svd", output=i2v, seconds=1.3, reused=True)])
    return {
        "request": Request(text="a red fox running through snow",
                           options=GenerationOptions(num_frames=8, height=32, width=32)),
        "run_id": "16e2520d2285",
        "visual": None,
        "intent": intent,
        "route_plan": RoutePlan(routes=((T2V,), (T2I, I2V)), decided_by="principles"),
        "model_plan": models,
        "candidates": [route_1, route_2],
        "evaluations": [
            evaluation("route-1", (6.383, 4.763, 5.5, 5.202), 10.924, rationale="sharpness 3.0/10, exposure 9.8/10",
                       notes=[TEXT_ONLY]),
            evaluation("route-2", (5.421, 6.063, 5.5, 9.354), 13.169, rationale="sharpness 1.8/10, exposure 9.1/10",
                       notes=[TEXT_ONLY]),
        ],
        "choice": Choice(candidate_id="route-2", video=i2v, overall=13.169,
                         reason="route-2 scored 13.17/20 by classical-frame-statistics-v1 (vs route-1 10.92)."),
        "decisions": [],
        "strength_updates": [],
        "cancelled": False,
    }


SETTINGS = {"mllm_url": None, "mllm_api_key": "****", "judge": "auto", "learn_from": "mllm",
            "learning_weight": 0.5, "registry": "demo", "tools": None, "ablations": [], "review_plan": False}
SOURCES = {"registry": "option --registry", "learn_from": "environment SPAGENT_LEARN_FROM"}


def facts(**changes) -> RunFacts:
    values = {"thread_id": "job-7", "started_at": datetime(2025, 6, 2, 14, 3, 11, tzinfo=UTC), "seconds": 11.24,
              "settings": SETTINGS, "setting_sources": SOURCES, "demo_tools": False, **changes}
    return RunFacts(**values)


class _Text(HTMLParser):
    """The text a reader sees: everything but the stylesheet, the tags and their attributes."""

    BLOCKS = frozenset({"p", "li", "td", "th", "tr", "div", "h1", "h2", "h3", "br", "section", "summary", "pre"})

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.skip = False

    def handle_starttag(self, tag, attrs):
        self.skip = tag == "style"
        if tag in self.BLOCKS:
            self.parts.append(" ")  # cells and paragraphs read apart, as on the screen

    def handle_endtag(self, tag):
        self.skip = False

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def text_of(source: str) -> str:
    parser = _Text()
    parser.feed(source)
    return re.sub(r"\s+", " ", "".join(parser.parts))


def page_of(state: dict, out: Path, run: RunFacts | None = None) -> tuple[str, str]:
    """(the page's HTML, its text with whitespace folded)."""
    _, html_path = write_report(state, out, run)
    source = html_path.read_text()
    return source, text_of(source)


def section(source: str, name: str) -> str:
    match = re.search(rf'<(section|header|aside)[^>]* id="{name}".*?</\1>', source, re.DOTALL)
    assert match, f"no #{name}"
    return match.group(0)


def deciding_rows(source: str) -> list[str]:
    return re.findall(r'<tr class="deciding"><th>([a-z ]+?) <', source)


def test_the_winner_comes_first_with_the_sub_scores_that_decided_it(tmp_path: Path):
    source, text = page_of(fox_state(tmp_path), tmp_path / "out", facts())
    assert source.index('id="winner"') < source.index('id="decisions"') < source.index('id="candidates"')
    winner = section(source, "winner")
    assert "route-2 won with 13.17/20 against 10.92/20 for route-1." in text
    # Motion alignment's lead alone outweighs route-1's lead on aesthetics; plausibility's is narrower.
    assert "It won on <b>motion alignment (+4.2)</b> and physical plausibility (+1.3)" in winner
    # Visual alignment of a text-only request was not measured: it is not "level", it is not there.
    assert "route-1 led on visual aesthetics (+1.0)." in text
    assert deciding_rows(winner) == ["motion alignment"]
    for label in ("visual aesthetics", "physical plausibility", "visual alignment", "motion alignment"):
        assert f"<th>{label}" in winner
    assert "route-2: sharpness 1.8/10, exposure 9.1/10" in text and "route-1: sharpness 3.0/10" in text
    assert "Judged by frame-statistics judge (no MLLM)." in text
    assert "scored 13.17/20 (vs" not in text  # the old one-line reason is gone


def test_wide_leads_beyond_the_ones_needed_also_decide(tmp_path: Path):
    state = fox_state(tmp_path)
    state["evaluations"] = [evaluation("route-1", (5.0, 5.0, 5.0, 5.0), 10.0),
                            evaluation("route-2", (5.8, 5.0, 5.0, 7.1), 11.45)]
    source, text = page_of(state, tmp_path / "out")
    assert "It won on <b>motion alignment (+2.1)</b> and visual aesthetics (+0.8)" in source
    assert "physical plausibility and visual alignment were level" in text
    state["evaluations"] = [evaluation("route-1", (5.0, 5.0, 5.0, 5.0), 10.0),
                            evaluation("route-2", (6.6, 5.0, 5.0, 7.1), 11.85)]
    source, _ = page_of(state, tmp_path / "out")
    assert deciding_rows(source) == ["visual aesthetics", "motion alignment"]  # 1.6 is at least half of 2.1


def test_strengths_are_said_in_words(tmp_path: Path):
    source, text = page_of(fox_state(tmp_path), tmp_path / "out", facts())
    plan = section(source, "plan")
    assert ("scored 13.7 out of 20 for animals; "
            "from 1 prior score (the seed data); ranked 1st: the best for this task and subject") in plan
    assert "never scored: taken as 10.5 out of 20, the middle of the scale" in plan
    assert ("scored 12.9 out of 20 averaged over all subjects (none of "
            "its scores are for animals); from 1 prior score (the seed data) and 2.5 judge scores") in plan
    assert "100-2000" not in plan
    assert "rank 1)" not in text and "(1374," not in text


def test_decisions_say_who_made_them_and_no_python_value_leaks(tmp_path: Path):
    source, text = page_of(fox_state(tmp_path), tmp_path / "out", facts())
    decisions = text_of(section(source, "decisions"))
    assert "text, no visual input; subject animals (confidence 0.87)" in decisions
    assert "subject by the MLLM-free classifier (no MLLM configured)" in decisions
    assert "not aligned" in decisions
    assert "the principles: text and visual input agree only when both are given" in decisions
    assert "route 1: text to video; route 2: text to image → image to video" in decisions
    assert "the capability store: the strongest tool for each task for animals" in decisions
    assert "Text only: no visual input." in text
    for run in (facts(), None):
        _, text = page_of(fox_state(tmp_path), tmp_path / "out", run)
        leaks = re.findall(r".{40}\b(?:None|True|False|null)\b.{20}", text)
        assert not leaks, leaks


def test_an_image_input_is_shown_and_described(tmp_path: Path):
    state = fox_state(tmp_path)
    picture = write_image(frames(side=48)[3], tmp_path / "inputs" / "fox.png")
    state["request"] = Request(text="the fox runs", image=picture)
    state["visual"] = MediaInfo(input_name="image", path=picture, kind="single image", container="PNG",
                                width=48, height=48, frame_count=1)
    state["intent"] = state["intent"].model_copy(update={
        "visual_type": "single image", "aligned": True, "alignment_decided_by": "fallback"})
    source, text = page_of(state, tmp_path / "out", facts())
    header = section(source, "request")
    assert '<img class="input-media" src="../inputs/fox.png"' in header
    assert "single image (PNG, 48×48)" in text
    decisions = text_of(section(source, "decisions"))
    assert "text, a single image" in decisions and "aligned the MLLM-free heuristic (no MLLM configured)" in decisions


def test_every_section_is_there_and_says_why_when_empty(tmp_path: Path):
    source, text = page_of(fox_state(tmp_path), tmp_path / "out", facts())
    for name in SECTIONS:
        assert f'id="{name}"' in source
    assert "Nothing failed: every step of every route finished." in text
    assert ("No MLLM was asked: no MLLM is configured (mllm_url is not set), so the MLLM-free planner and the "
            "frame-statistics judge decided.") in text
    assert ('The store learned nothing from this run: the candidates were judged by frame statistics, and '
            'learn_from is "mllm": only MLLM-judged runs teach the store') in text
    assert text_of(section(source, "notes")).count(TEXT_ONLY) == 1  # both evaluations said it; it shows once

    state = fox_state(tmp_path)
    state["intent"] = state["intent"].model_copy(update={"subject": "unknown", "subject_confidence": 0.2})
    _, text = page_of(state, tmp_path / "out")
    assert "unknown (confidence 0.20)" in text
    assert "the subject is unknown, and strengths are kept per subject" in text
    assert "The settings in force were not passed to the report" in text
    _, text = page_of(fox_state(tmp_path), tmp_path / "out", facts(settings={**SETTINGS, "learning_weight": 0}))
    assert "The store learned nothing from this run: learning_weight is 0." in text

    cancelled = {"request": Request(text="a fox"), "run_id": "r", "cancelled": True,
                 "choice": Choice(candidate_id=None, video=None, overall=None,
                                  reason="Cancelled by the user at plan review.")}
    source, text = page_of(cancelled, tmp_path / "cancelled")
    for name in SECTIONS:
        assert f'id="{name}"' in source
    assert "No winner: Cancelled by the user at plan review." in text
    assert "No plan: the run was cancelled before tools were chosen." in text
    assert "No candidates: the run was cancelled." in text
    assert "No decision was made" not in text  # the winner row still says there was nothing to choose


def test_a_repeated_error_is_shown_once_short_and_with_its_fix(tmp_path: Path):
    state = fox_state(tmp_path)
    failed = [Candidate(id=cid, route_indices=(index,), tasks=(T2I, I2V), tools=tools, seed=0,
                        steps=[StepRecord(index=0, task=T2I, tool="sd3", error=HUB_ERROR)],
                        error=f"step 1 ({T2I} with sd3) failed: {HUB_ERROR}")
              for cid, index, tools in (("route-1", 0, ("sd3", "svd")), ("route-2", 1, ("sd3", "i2vgenxl")))]
    reasons = "; ".join(f"{c.id}: {c.error}" for c in failed)
    state.update(candidates=failed, evaluations=[],
                 choice=Choice(candidate_id=None, video=None, overall=None, reason=f"No video to choose ({reasons})."))
    source, text = page_of(state, tmp_path / "out", facts())
    outside_details = re.sub(r"<details>.*?</details>", "", source, flags=re.DOTALL)
    assert outside_details.count(HUB_ERROR.splitlines()[0][:60]) == 1
    assert source.count("were never downloaded here") == 1  # the rest of the message, once, folded away
    failures = section(source, "failures")
    assert "in route-1 step 1 (sd3), route-2 step 1 (sd3)" in failures
    assert ("Fix: run <code>spagent doctor</code> to see which weights are missing and the command that "
            "downloads them.") in failures
    assert source.index('id="failures"') < source.index('id="candidates"')  # a failed run shows them early
    assert "No winner: no candidate made a video, so there was nothing to judge." in text
    assert text.count("see failure 1") == 4  # both cards and both steps point at it

    out_of_memory = "Tool `sd3`: CUDA out of memory. Tried to allocate 2 GiB"
    state["candidates"] = [failed[0].model_copy(update={
        "steps": [StepRecord(index=0, task=T2I, tool="sd3", error=out_of_memory)],
        "error": f"step 1 failed: {out_of_memory}"})]
    _, text = page_of(state, tmp_path / "out")
    assert "Fix: lower --frames, --height or --width" in text and text.count("CUDA out of memory") == 1


def test_the_demo_banner_says_the_noise_is_by_design(tmp_path: Path):
    source, _ = page_of(fox_state(tmp_path), tmp_path / "out", facts(demo_tools=True))
    banner = text_of(section(source, "demo-banner"))
    assert "tiny random-weight models" in banner and "noise by design" in banner
    assert "--registry library" in banner and "spagent doctor" in banner
    source, _ = page_of(fox_state(tmp_path), tmp_path / "out", facts(demo_tools=False))
    assert 'id="demo-banner"' not in source
    state = fox_state(tmp_path)  # without run facts, the demo registry's tool names tell
    state["candidates"] = [c.model_copy(update={"tools": tuple(f"demo-{t}" for t in c.tools)})
                           for c in state["candidates"]]
    source, _ = page_of(state, tmp_path / "out")
    assert 'id="demo-banner"' in source


def test_every_video_has_a_poster_written_beside_the_report(tmp_path: Path):
    out = tmp_path / "out"
    source, _ = page_of(fox_state(tmp_path), out, facts())
    videos = re.findall(r"<video [^>]*>", source)
    assert len(videos) == 5  # the winner, both candidates, the two video steps
    for tag in videos:
        poster = re.search(r'poster="([^"]+)"', tag)
        assert poster, tag
        with Image.open(out / poster.group(1)) as image:
            assert image.format == "PNG" and image.size == (32, 32)
    assert re.search(r'<img class="thumb" src="\.\./run/steps/t2i\.png"', source)  # an image step shows itself


def test_a_poster_is_the_middle_frame(tmp_path: Path):
    poster = write_poster(video(tmp_path / "v.mp4"), tmp_path / "p.png")
    with Image.open(poster) as image:
        level = np.asarray(image).mean()
    assert abs(level - (20 + 24 * 4)) < 6  # frame 4 of 0..7


def test_run_facts_are_shown_and_kept_in_the_json(tmp_path: Path):
    out = tmp_path / "out"
    winner = video(out / "winner.mp4", tint=9)
    source, text = page_of(fox_state(tmp_path), out, facts(winner_file=winner))
    for said in ("started Mon 02 Jun 2025, 14:03:11 UTC", "run time 11.2 s", "thread job-7", "run 16e2520d2285",
                 "registry demo"):
        assert said in text
    settings = section(source, "settings")
    assert "9 settings, 2 changed from the default: learn_from, registry" in settings
    assert "environment SPAGENT_LEARN_FROM" in settings and "option --registry" in settings
    assert "<th>review_plan</th><td>off" in settings and "<th>mllm_url</th><td>none" in settings
    assert re.search(r'<video class="big" src="winner\.mp4"', section(source, "winner"))

    document = json.loads((out / "report.json").read_text())
    assert document["run"]["thread_id"] == "job-7" and document["run"]["seconds"] == 11.24
    assert document["run"]["started_at"] == "2025-06-02T14:03:11+00:00"
    assert document["run"]["winner_file"] == str(winner)
    assert document["run"]["settings"]["learn_from"] == "mllm" and document["choice"]["candidate_id"] == "route-2"

    json_path, html_path = write_report(fox_state(tmp_path), tmp_path / "plain")  # the two-argument call
    assert "run" not in json.loads(json_path.read_text()) and html_path.is_file()


def test_one_candidate_an_mllm_judge_its_decisions_and_what_the_store_learned(tmp_path: Path):
    state = fox_state(tmp_path)
    only = state["candidates"][0].model_copy(update={"id": "route-1+2", "route_indices": (0, 1)})
    judged = evaluation("route-1+2", (7, 6, 5.5, 8), 14.0, judge="qwen2.5-vl-7b", decided_by="mllm",
                        rationale="The fox runs smoothly; snow looks plausible.", raw_answer='{"overall": 14}')
    update = StrengthUpdate(tool="animatediff", task=T2V, subject="animals", strength=1400, source="judge",
                            weight=0.5, candidate_id="route-1+2")
    asked = Decision(stage="judge", prompt="Score this video.", answer='{"overall": 14}', candidate_id="route-1+2")
    state.update(candidates=[only], evaluations=[judged], decisions=[asked], strength_updates=[update],
                 choice=Choice(candidate_id="route-1+2", video=only.video, overall=14.0, reason="route-1+2 won"))
    settings = {**SETTINGS, "mllm_url": "http://gpu:8000/v1", "mllm_model": "qwen2.5-vl-7b"}
    source, text = page_of(state, tmp_path / "out", facts(settings=settings))
    assert "Both routes planned the same work, so one candidate was made, and it was judged alone" in text
    assert "Judged by MLLM qwen2.5-vl-7b." in text and "The fox runs smoothly" in text
    mllm = text_of(section(source, "mllm"))
    assert "judge route-1+2" in mllm and '{"overall": 14}' in mllm
    learned = text_of(section(source, "learned"))
    assert "animatediff" in learned and "1400 (14.0/20) from route-1+2" in learned
    assert "judge score, weight 0.5" in learned


def test_a_human_pick_is_said_to_be_one(tmp_path: Path):
    state = fox_state(tmp_path)
    state["choice"] = Choice(candidate_id="route-1", video=state["candidates"][0].video, overall=10.924,
                             reason="route-1 picked by the user (the judge gave it 10.92/20).")
    source, text = page_of(state, tmp_path / "out")
    assert "route-1 was picked by a human with 10.92/20 against 13.17/20 for route-2." in text
    assert "a human, at the winner review" in text_of(section(source, "decisions"))


def test_everything_from_the_request_is_escaped(tmp_path: Path):
    state = fox_state(tmp_path)
    state["request"] = Request(text='<script>alert("x")</script> a fox')
    source, _ = page_of(state, tmp_path / "out")
    assert "<script>" not in source and "&lt;script&gt;" in source


def test_a_filler_score_reads_as_not_measured(tmp_path: Path):
    state = fox_state(tmp_path)
    source, text = page_of(state, tmp_path / "out", facts())
    scores = text_of(section(source, "winner"))
    assert "visual alignment not measured not measured" in scores  # the text-only request's neutral filler
    assert "visual alignment was level" not in text


def test_failures_outside_the_routes_are_failures(tmp_path: Path):
    state = fox_state(tmp_path)
    state["intent"] = state["intent"].model_copy(update={"notes": [
        "MLLM failed on the intent (The MLLM endpoint http://127.0.0.1:9/v1 could not be reached: Connection error.); "
        "the MLLM-free planner decided instead."]})
    source, text = page_of(state, tmp_path / "out", facts())
    failures = text_of(section(source, "failures"))
    assert "Nothing failed" not in text and "could not be reached" in failures and "in intent" in failures
    refused = dataclasses.replace(facts(), error="`--tools`: no tool `demo-nope`")
    _, text = page_of(fox_state(tmp_path), tmp_path / "out", refused)
    assert "Nothing failed" not in text and "no tool `demo-nope`" in text


def test_a_candidate_of_one_route_is_not_labelled_twice(tmp_path: Path):
    _, text = page_of(fox_state(tmp_path), tmp_path / "out", facts())
    assert "route-1 route 1" not in text and "route-2 route 2" not in text
