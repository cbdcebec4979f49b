"""Fixtures shared by every test: small real media files and demo-tool contexts."""

from __future__ import annotations

import functools
import os
import shutil
import socket
import time
import urllib.request
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

import tests.tiny_pipelines  # noqa: F401  (registers the tiny stand-ins of the library's models)


SERVER_MODULES = "test_vllm_"  # the modules whose tests talk to the vLLM server scripts/test.sh starts


def needs_vllm(item: pytest.Item) -> bool:
    return item.get_closest_marker("vllm") is not None


def module_of(nodeid: str) -> str:
    return nodeid.split("::")[0]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # scripts/test.sh sets up and starts the vLLM server beside the run (minutes on 2 cores): the tests that
    # talk to it go last, so that everything else runs meanwhile. The sort is stable.
    items.sort(key=needs_vllm)
    misplaced = [item.nodeid for item in items
                 if needs_vllm(item) and not Path(module_of(item.nodeid)).name.startswith(SERVER_MODULES)]
    if misplaced:
        raise pytest.UsageError(f"tests marked `vllm` belong in a {SERVER_MODULES}*.py module (the workers run "
                                f"those modules one at a time): {misplaced}")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """scripts/test.sh runs two pytest-xdist workers with `--dist loadscope`: a module's tests stay on one
    worker, so that what its module fixtures build (a wheel's venv, a served graph, a Ray cluster) is built
    once. The modules that talk to the vLLM server are one unit, run last by one worker: some of their tests
    freeze the shared server for a while."""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ModulesWithTheServersLast(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = module_of(nodeid)
            return SERVER_MODULES if Path(module).name.startswith(SERVER_MODULES) else module

    return ModulesWithTheServersLast(config, log)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if needs_vllm(item) and (problem := served_mllm_problem()):
        pytest.fail(problem, pytrace=False)


@functools.cache
def served_mllm_problem() -> str | None:
    """Waits until the server that scripts/test.sh is starting answers; what went wrong, if it never does.

    Only where the script says it is starting one (SPAGENT_TEST_MLLM_SERVE_STATUS: the file where serve.sh's
    exit status lands); a server someone started and named in SPAGENT_TEST_MLLM_URL alone is used as it is."""
    url, status = os.environ.get("SPAGENT_TEST_MLLM_URL"), os.environ.get("SPAGENT_TEST_MLLM_SERVE_STATUS")
    if not url or not status:
        return None
    log = Path(os.environ.get("SPAGENT_TEST_MLLM_SERVE_LOG", "/dev/null"))
    wait_s = float(os.environ.get("SPAGENT_TEST_MLLM_WAIT_S", "1200"))
    deadline = time.monotonic() + wait_s
    while True:
        # The status is read before the probe: read after, a serve.sh that got its answer just after the
        # probe failed would have its success taken for a failure.
        exit_status = Path(status).read_text().strip() if Path(status).exists() else ""
        try:
            urllib.request.urlopen(f"{url.rstrip('/')}/models", timeout=3).read()
            return None
        except OSError:
            pass
        if exit_status:
            tail = log.read_text(errors="replace")[-3000:] if log.is_file() else ""
            return (f"the vLLM server for {url} does not answer (serve.sh exited with {exit_status}); "
                    f"its output:\n{tail}")
        if time.monotonic() > deadline:
            return f"the vLLM server for {url} gave no answer in {wait_s:.0f} s (SPAGENT_TEST_MLLM_WAIT_S)"
        time.sleep(2)


def smooth_picture(seed: int, size: int = 64, tint: tuple[float, float, float] | None = None) -> np.ndarray:
    """A photo-like picture: smooth random colour blobs (not noise, which no detector likes)."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((6, 6, 3))
    if tint is not None:
        coarse = 0.3 * coarse + 0.7 * np.array(tint)
    image = Image.fromarray((coarse * 255).astype(np.uint8)).resize((size, size), Image.BICUBIC)
    return np.asarray(image)


def write_test_video(path: Path, frames: list[np.ndarray], fps: int = 8, codec: str = "libx264") -> Path:
    """Encodes frames with FFmpeg (through PyAV): MP4/H.264 or WEBM/VP9 by `codec`."""
    fmt = "webm" if codec.startswith("libvpx") else "mp4"
    with av.open(str(path), mode="w", format=fmt) as container:
        stream = container.add_stream(codec, rate=Fraction(fps))
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
    return path


def panning_frames(count: int = 8, size: int = 64, step: int = 2) -> list[np.ndarray]:
    wide = np.asarray(Image.fromarray(smooth_picture(7, size=size * 2)).resize((size * 2, size)))
    return [wide[:, i * step : i * step + size].copy() for i in range(count)]


def invoke_for_message(tool, request: dict):
    """The tool's message as the graph gets it: the path, and the adjustments as its artifact."""
    return tool.invoke({"type": "tool_call", "name": tool.name, "id": "call-1", "args": request})


def free_port() -> int:
    """A loopback port nobody listens on now, for a server a test starts."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(autouse=True)
def user_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test's own platform data folder, where `spagent run` keeps its checkpoints by default:
    nothing a test does lands in the real home folder, and no test sees another's runs."""
    folder = tmp_path_factory.mktemp("data-home")
    monkeypatch.setenv("XDG_DATA_HOME", str(folder))
    return folder / "spagent-graph"


@pytest.fixture
def red_parrot_png(tmp_path: Path) -> Path:
    path = tmp_path / "parrot.png"
    Image.fromarray(smooth_picture(1, tint=(0.85, 0.1, 0.1))).save(path)
    return path


@pytest.fixture
def panning_mp4(tmp_path: Path) -> Path:
    return write_test_video(tmp_path / "pan.mp4", panning_frames())


@pytest.fixture(scope="session")
def subject_fit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The subject classifier's fit, made once for the session as a first run makes it (embedding its
    9,148 exemplars takes about two minutes on 2 cores), in a cache folder of its own. pytest-xdist's
    workers share it: the first to need it makes it while the others wait."""
    from filelock import FileLock

    from spagent_graph.subject import SubjectClassifier

    session_temp = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        session_temp = session_temp.parent  # above each worker's own folder: the whole run's
    folder = session_temp / "subject-fit"
    with FileLock(session_temp / "subject-fit.lock"):
        if not any(folder.glob("subject-classifier-*.pt")):
            SubjectClassifier(cache_dir=folder).read("a red fox running through snow")
    (fit,) = folder.glob("subject-classifier-*.pt")
    return fit


@pytest.fixture(scope="session")
def seed_subject_fit(subject_fit: Path):
    """Puts the session's subject fit into a cache folder (a test's own `cache_dir`, or a fresh home's
    ~/.cache/spagent_graph), so that a test of a first run pays for building the demo tools but not,
    once more, for the fit, which the session made the same way."""

    def seed(cache_dir: Path) -> Path:
        cache_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(subject_fit, cache_dir / subject_fit.name)
        return cache_dir

    return seed


@pytest.fixture(scope="session")
def demo_cache(tmp_path_factory: pytest.TempPathFactory, seed_subject_fit) -> Path:
    """One folder of built demo pipelines for the whole session (building them takes seconds)."""
    return seed_subject_fit(tmp_path_factory.mktemp("demo-cache"))


@pytest.fixture
def demo_context(tmp_path: Path, demo_cache: Path):
    """Demo tools on CPU, no MLLM, artifacts under tmp_path; its in-memory store is its own."""
    from spagent_graph import Context  # LangGraph is imported only by the tests that use the graph

    return Context(registry="demo", cache_dir=str(demo_cache), artifacts_dir=str(tmp_path / "runs"), device="cpu")


@pytest.fixture
def services():
    """A fresh owner of built services, for a test that looks at them after a run (the store it learned in)."""
    from spagent_graph.services import Services

    return Services()
