"""`spagent bench`: a tool run exact and accelerated on the probes, compared, recorded, and then obeyed by a run.

The tool is the tiny CogVideoX of test_library_adapters.py (random weights, float32, on the CPU), benched
with a cache and nothing else: compiling on a CPU takes minutes, and the cache is what a bench is for.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from spagent_graph.apps.bench import BenchResult, bench_tool, compare, format_bench
from spagent_graph.capability_store import CapabilityStore
from spagent_graph.errors import UsageError
from spagent_graph.judging import CLASSICAL_JUDGE, FrameStatisticsJudge
from spagent_graph.metrics import PSNR_CAP_DB
from spagent_graph.state import Evaluation
from spagent_graph.tool_adapters.acceleration import Levers, choose_levers
from spagent_graph.tool_adapters.registry import ToolRegistry
from spagent_graph.tool_adapters.toolbox import Toolbox
from tests.unit.test_acceleration import FAST, TAYLORSEER
from tests.unit.test_library_adapters import tiny_spec

# The registry's fast levers for CogVideoX without the compilation, with a cache that predicts every other
# step of the few steps run here (the registry's waits for step 3 and predicts four in five).
CACHE_ONLY = FAST.model_copy(update={"compile": "none", "cache": TAYLORSEER})
# A lever that keeps the math and costs nothing to pull on a CPU: CogVideoX calls PyTorch's attention itself.
KEEPS_THE_MATH = Levers(attention_backend="native")
# 9 frames (CogVideoX makes 8k+1) at 96x64: the smallest request the tiny build runs as asked.
SIZE = {"frames": 9, "height": 64, "width": 96}


class ScriptedJudge:
    """Stands in for the MLLM judge: scores exact outputs 12 and accelerated ones 10.5, except that on
    probe 2's accelerated output it "fails" and answers with frame statistics, as MLLMJudge's fallback does."""

    name = "scripted-mllm"

    def evaluate(self, candidate, request, visual) -> Evaluation:
        fell_back = candidate.id == "probe-2-accelerated"
        overall = 12.0 if candidate.id.endswith("-exact") else 10.5
        return Evaluation(candidate_id=candidate.id, visual_aesthetics=6, physical_plausibility=6,
                          visual_alignment=6, motion_alignment=6, overall=overall,
                          judge=CLASSICAL_JUDGE if fell_back else self.name,
                          decided_by="classical" if fell_back else "mllm")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory):
    """The tiny tool with cache-only fast levers, in a toolbox the module's benches share (each set of
    levers is loaded once)."""
    folder = tmp_path_factory.mktemp("tiny-bench")
    spec = tiny_spec("cogvideox", folder / "builds")
    spec = spec.model_copy(update={"defaults": {"num_inference_steps": 4}, "acceleration": {"fast": CACHE_ONLY}})
    toolbox = Toolbox(ToolRegistry({"cogvideox": spec}), device="cpu", cache_dir=folder / "cache")
    return spec, toolbox, folder


@pytest.fixture(scope="module")
def benched(tiny) -> tuple[BenchResult, CapabilityStore]:
    spec, toolbox, folder = tiny
    store = CapabilityStore(folder / "strengths.sqlite")
    result = bench_tool(spec, toolbox=toolbox, store=store, judge=ScriptedJudge(), probes=2, **SIZE,
                        folder=folder / "bench")
    return result, store


def test_a_bench_records_the_levers_and_what_it_measured(benched):
    result, store = benched
    record = store.fidelity("cogvideox", "fast")
    assert record == result.record
    assert record.levers == CACHE_ONLY.key() and record.probes == 2
    # The cache predicts steps, so the output moves, but not far: the same seed, the same model.
    assert math.isfinite(record.psnr_db) and 20 < record.psnr_db < PSNR_CAP_DB
    assert 0 < record.ssim < 1 and record.speedup > 0
    assert datetime.fromisoformat(record.measured_at).tzinfo == UTC
    assert (result.frames, result.height, result.width, result.steps) == (9, 64, 96, 4)
    assert set(result.first_call_s) == {"exact", "accelerated"}


def test_probes_differ_and_take_turns_going_first(benched):
    result, _ = benched
    assert [p.subject for p in result.probes] == ["sports", "transportation"]
    assert len({p.prompt for p in result.probes}) == 2
    assert [p.ran_first for p in result.probes] == ["exact", "accelerated"]
    assert all(p.exact.is_file() and p.accelerated.is_file() for p in result.probes)
    assert result.worst_psnr.psnr_db <= result.record.psnr_db <= max(p.psnr_db for p in result.probes)


def test_the_exact_call_repeated_is_identical(benched):
    result, _ = benched
    # The warm-up ran probe 1 exact too, with the same seed: the plain call is deterministic on a CPU.
    assert compare(result.folder / "first-call-exact.mp4", result.probes[0].exact) == (PSNR_CAP_DB, 1.0)


def test_only_the_mllm_judges_scores_count(benched):
    result, _ = benched
    assert [p.judge_delta for p in result.probes] == [-1.5, None]
    assert result.record.judge_delta == -1.5 and result.judge == "scripted-mllm"
    assert "mean score difference -1.50 on the 1-20 scale, accelerated minus exact (scripted-mllm, 1 of 2 probes)" \
        in format_bench(result, 30, 0.9)


def test_the_verdict_is_what_the_gate_will_do(benched):
    result, store = benched
    text = format_bench(result, min_psnr_db=30, min_ssim=0.9)
    assert "verdict     passes: its taylorseer cache will be used for cogvideox under fast" in text
    assert choose_levers("cogvideox", {"fast": CACHE_ONLY}, "fast", store.fidelity("cogvideox", "fast"),
                         min_psnr_db=30, min_ssim=0.9).levers == CACHE_ONLY
    strict = format_bench(result, min_psnr_db=99, min_ssim=0.9)
    assert f"fails: cogvideox will run exact under fast (PSNR {result.record.psnr_db:.1f} dB is below 99)" in strict
    for line in ("probe  subject         ran first    exact s  accelerated s  PSNR dB  SSIM    judge delta",
                 "speedup     ", "first call  ", "these numbers test only the mechanics"):
        assert line in text


def test_levers_that_keep_the_math_give_identical_outputs(tiny):
    spec, toolbox, folder = tiny
    spec = spec.model_copy(update={"acceleration": {"balanced": KEEPS_THE_MATH}})
    result = bench_tool(spec, toolbox=toolbox, store=CapabilityStore(), judge=FrameStatisticsJudge(),
                        profile="balanced", probes=1, **SIZE, steps=2, folder=folder / "keeps-the-math")
    assert (result.record.psnr_db, result.record.ssim) == (PSNR_CAP_DB, 1.0)
    assert result.judge is None and result.record.judge_delta is None  # frame statistics judge no content
    text = format_bench(result, 30, 0.9)
    assert "mean 100.0 dB (identical)" in text
    assert "passes; these levers keep the math, so cogvideox uses them under balanced whatever a bench says" in text


def test_a_profile_without_levers_is_refused_by_name(tiny):
    spec, toolbox, folder = tiny
    with pytest.raises(UsageError, match="`cogvideox` has no balanced levers in the registry .* under balanced"):
        bench_tool(spec, toolbox=toolbox, store=CapabilityStore(), profile="balanced", **SIZE, folder=folder)


# The command, and a run after it ---------------------------------------------------------------


def test_the_command_records_a_bench_that_a_run_then_obeys(tiny, tmp_path: Path, demo_cache: Path, monkeypatch,
                                                           capsys):
    from spagent_graph import Context, GenerationOptions, Request
    from spagent_graph.apps.cli import main
    from spagent_graph.graph import build_graph
    from spagent_graph.apps.report import write_report

    for name in ("SPAGENT_MLLM_URL", "SPAGENT_REGISTRY", "SPAGENT_CONFIG", "SPAGENT_DEVICE", "SPAGENT_STORE_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no ./spagent.toml from elsewhere
    spec, _, _ = tiny
    # The tiny tool as a user's registry file says it: its folder, its levers inline; the demo tools beside it
    # give the run's other route its tools, and a high prior makes the run pick the tiny tool for its first.
    entry = spec.model_dump(mode="json", by_alias=True, exclude={"name", "acceleration"})
    entry.update(acceleration={"fast": CACHE_ONLY.model_dump(mode="json")}, prior_strengths=2000)
    registry = tmp_path / "tools.yaml"
    registry.write_text(yaml.safe_dump({"include": ["demo"], "only": ["cogvideox", "demo-sd3", "demo-svd"],
                                        "tools": {"cogvideox": entry}}))
    store = tmp_path / "strengths.sqlite"
    settings = ["--registry", str(registry), "--store-path", str(store), "--device", "cpu",
                "--cache-dir", str(demo_cache), "--artifacts-dir", str(tmp_path / "runs")]
    bench = ["bench", "--tool", "cogvideox", "--probes", "1", "--frames", "9", "--height", "64", "--width", "96",
             "--steps", "4", *settings]

    assert main([*bench, "--fidelity-min-psnr-db", "99"]) == 1
    assert "fails: cogvideox will run exact under fast" in capsys.readouterr().out
    assert main(bench) == 0
    printed = capsys.readouterr().out
    assert "passes: its taylorseer cache will be used for cogvideox under fast" in printed and f"in {store}" in printed
    assert main(["bench", "--tool", "demo-sd3", *settings]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("error: `demo-sd3` has no fast levers")
    assert error[0].endswith("nothing to bench for demo-sd3 under fast.")

    context = Context(registry=str(registry), store_path=str(store), acceleration="fast", device="cpu",
                      cache_dir=str(demo_cache), artifacts_dir=str(tmp_path / "runs"))
    request = Request(text="a red fox in the snow", options=GenerationOptions(num_frames=9, height=64, width=96))
    state = build_graph().invoke({"request": request}, context=context)
    steps = {step.tool: step for candidate in state["candidates"] for step in candidate.steps}
    assert steps["cogvideox"].acceleration.startswith("taylorseer cache (benched: PSNR ")
    assert "no fast levers" in steps["demo-sd3"].acceleration
    _, page = write_report(state, tmp_path / "report")
    assert "<small>acceleration: taylorseer cache (benched: PSNR " in page.read_text()


def test_where_fp8_cannot_run_the_bench_measures_the_set_without_it_as_a_run_there_pulls_it(tiny):
    spec, toolbox, folder = tiny
    with_float8 = spec.model_copy(update={"acceleration": {"fast": CACHE_ONLY.model_copy(update={"quantize": "float8"})}})
    store = CapabilityStore(folder / "fp8.sqlite")
    result = bench_tool(with_float8, toolbox=toolbox, store=store, judge=None, probes=1, **SIZE,
                        folder=folder / "bench-fp8")
    assert result.levers == CACHE_ONLY and result.record.levers == CACHE_ONLY.key()
    assert any(note.startswith("FP8 weights left out") for note in result.notes)
    chosen = choose_levers("cogvideox", with_float8.acceleration, "fast", result.record, min_psnr_db=0, min_ssim=0)
    assert chosen.levers == CACHE_ONLY and "without FP8 weights" in chosen.reason
