"""The wheel a user installs: only what a user runs is in it, and the demo registry works from it,
installed with no extra into a fresh virtual environment and used from an unrelated folder."""

from __future__ import annotations

import json
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]

pytestmark = pytest.mark.slow

SNIPPET = """
import json, sys
from spagent_graph import Context, GenerationOptions, Request, build_graph

context = Context(registry="demo", device="cpu", cache_dir=sys.argv[1], artifacts_dir=sys.argv[2])
options = GenerationOptions(num_frames=4, height=64, width=64)
result = build_graph().invoke({"request": Request(text="a red fox running through snow", options=options)},
                              context=context)
print(json.dumps({"video": str(result["choice"].video), "candidates": len(result["candidates"])}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", str(ROOT), "-w", str(folder)],
                   check=True, capture_output=True, timeout=600)
    (built,) = folder.glob("spagent_graph-*.whl")
    return built


def test_the_wheel_holds_the_package_and_nothing_of_the_tests(wheel: Path):
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"spagent_graph", wheel.name.split("-py3")[0] + ".dist-info"}
    for layer in ("nodes", "tool_adapters", "capability_store"):  # under the one namespace, not bare
        assert f"spagent_graph/{layer}/__init__.py" in names
    assert not [name for name in names if "tiny" in name or "/tests/" in name or "conftest" in name]
    # The demo registry's pipelines are the product's, with the registries and seeds it reads.
    for path in ("spagent_graph/tool_adapters/demo_pipelines/_demo.py", "spagent_graph/tool_adapters/registries/demo.yaml",
                 "spagent_graph/capability_store/seed/paper.yaml", "spagent_graph/data/subject_exemplars.jsonl"):
        assert path in names


@pytest.fixture(scope="module")
def fresh_python(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a new virtual environment with torch (the CPU build here) and the wheel, no extra.
    One for the module: the tests only run programs in it, and each install takes minutes of CI."""
    env_dir = tmp_path_factory.mktemp("fresh") / "env"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    torch_version = __import__("torch").__version__.split("+")[0]
    # --no-compile: byte-compiling every module took most of each install (torch: 40 s against 12 s)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile"]
    subprocess.run([*pip, f"torch=={torch_version}"], check=True, capture_output=True, timeout=900)
    subprocess.run([*pip, str(wheel)], check=True, capture_output=True, timeout=900)
    return python


def test_the_demo_registry_runs_from_the_wheel_in_a_fresh_environment(fresh_python: Path, tmp_path: Path,
                                                                      seed_subject_fit):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cache = seed_subject_fit(tmp_path / "cache")
    completed = subprocess.run(
        [str(fresh_python), "-c", SNIPPET, str(cache), str(tmp_path / "runs")],
        cwd=elsewhere, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert Path(result["video"]).is_file() and result["candidates"] == 2
    assert list(elsewhere.iterdir()) == []  # nothing written where the program ran


def readme_snippet() -> str:
    """The README's first Python example, as a user copies it."""
    readme = (ROOT / "README.md").read_text()
    return readme.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_readme_snippet_runs_quietly_from_the_wheel(fresh_python: Path, tmp_path: Path, seed_subject_fit):
    """With no extra, from an unrelated folder: it works, prints nothing and writes nothing there, on
    the first run (which builds the demo tools) and on later ones. How long a run takes is
    `benchmarks/startup_cpu.py`'s row for the snippet, not a test's: a busy machine is no failure."""
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    home.mkdir(), elsewhere.mkdir()
    seed_subject_fit(home / ".cache" / "spagent_graph")  # the wheel's fit is the session's: same code, data
    snippet = f"{readme_snippet()}\nimport pathlib\nassert pathlib.Path(video).is_file()\n"
    environment = {"HOME": str(home), "PATH": "/usr/bin:/bin"}
    for _ in range(2):  # the first builds the demo tools, the second finds them
        completed = subprocess.run([str(fresh_python), "-c", snippet], cwd=elsewhere, env=environment,
                                   capture_output=True, text=True, timeout=600)
        assert completed.returncode == 0, completed.stderr[-3000:]
        assert (completed.stdout, completed.stderr) == ("", "")
        assert list(elsewhere.iterdir()) == []
    assert list((home / ".local" / "share" / "spagent-graph" / "runs").iterdir())  # the documented data folder
