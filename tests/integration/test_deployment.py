"""The deployment image, installed without Docker: exactly the files `langgraph dockerfile` copies
(the build context less `.dockerignore`), installed the way its Dockerfile installs them, in a fresh
virtual environment, then served and asked for a video with no MLLM.

Docker's daemon does not run on these machines, so the image itself is not built; what it would
copy and run is. The test reads the Dockerfile the CLI writes, so a change to `langgraph.json`'s
dependencies or to the CLI's install step shows up here.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.integration.test_langgraph_server import REQUEST, TOKENS, wait_until_up

ROOT = Path(__file__).parents[2]
CONTEXT_LIMIT_BYTES = 5 * 2**20  # the package, its data and the deployment files; weights or a venv would be GBs

pytestmark = pytest.mark.slow


def dockerignore_patterns(root: Path) -> list[str]:
    lines = (root / ".dockerignore").read_text().splitlines()
    return [line.strip().rstrip("/") for line in lines if line.strip() and not line.lstrip().startswith("#")]


def ignored(relative: str, patterns: list[str]) -> bool:
    """Docker's rule for the patterns our file uses: a pattern matches a path from the context's
    root, `**/` matches any depth, and a matched folder takes everything under it."""
    parts = relative.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        if pattern.startswith("!"):
            raise AssertionError("exceptions in .dockerignore are not read by this test; extend `ignored`")
        for candidate in candidates:
            if fnmatch.fnmatchcase(candidate, pattern):
                return True
            if pattern.startswith("**/") and fnmatch.fnmatchcase(candidate.rsplit("/", 1)[-1], pattern[3:]):
                return True
    return False


def build_context(root: Path) -> list[Path]:
    """The files `ADD . /deps/main` sends: everything under the root that .dockerignore keeps."""
    patterns = dockerignore_patterns(root)
    kept = []
    for folder, folders, files in os.walk(root):
        here = Path(folder).relative_to(root)
        folders[:] = [d for d in folders if not ignored((here / d).as_posix(), patterns)]
        kept.extend(here / f for f in files if not ignored((here / f).as_posix(), patterns))
    return kept


def test_dockerignore_keeps_the_package_and_drops_environments_outputs_and_tests():
    patterns = dockerignore_patterns(ROOT)
    for path in (".venv/bin/python", ".venv-vllm/lib/x.py", "spagent_outputs/run/winner.mp4", "outputs/x.mp4",
                 ".git/HEAD", "nodes/__pycache__/a.pyc", "tests/conftest.py", ".langgraph_api/store.pckl"):
        assert ignored(path, patterns), path
    for path in ("pyproject.toml", "README.md", "langgraph.json", "spagent_graph/serving/server.py", "nodes/intent.py",
                 "tool_adapters/registries/demo.yaml", "capability_store/seed/paper.yaml"):
        assert not ignored(path, patterns), path


def test_the_image_installs_from_its_build_context_and_serves_a_run_with_no_mllm(tmp_path: Path, seed_subject_fit):
    # 1. What the image copies and how it installs it, as the CLI writes them.
    dockerfile = tmp_path / "Dockerfile"
    subprocess.run([str(Path(sys.executable).with_name("langgraph")), "dockerfile", "-c", str(ROOT / "langgraph.json"),
                    str(dockerfile)], check=True, capture_output=True, cwd=ROOT)
    text = dockerfile.read_text()
    assert re.findall(r"^ADD (\S+) (\S+)$", text, re.M) == [(".", "/deps/main")]
    install = re.search(r"pip install --system [^;]*?(-e \.)\)", text)
    assert install, "the Dockerfile no longer installs the package as `pip install ... -e .`"

    # 2. The build context, copied as Docker would send it.
    deps = tmp_path / "deps" / "main"
    files = build_context(ROOT)
    for relative in files:
        (deps / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / relative, deps / relative)
    size = sum((deps / f).stat().st_size for f in files)
    assert size < CONTEXT_LIMIT_BYTES, f"the build context is {size / 2**20:.1f} MiB"

    # 3. A fresh environment with the package installed as the image installs it, and the server.
    env_dir = tmp_path / "env"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    torch_version = __import__("torch").__version__.split("+")[0]  # the same build the base image would bring
    # --no-compile: byte-compiling every module took most of each install (torch: 40 s against 12 s)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile"]
    subprocess.run([*pip, f"torch=={torch_version}"], check=True, capture_output=True, timeout=900)
    subprocess.run([*pip, "-e", ".", "langgraph-cli[inmem]"], check=True, capture_output=True, timeout=900,
                   cwd=deps)
    data = tmp_path / "data"
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps(TOKENS))
    operator = {"SPAGENT_REGISTRY": "demo", "SPAGENT_DEVICE": "cpu",
                "SPAGENT_CACHE_DIR": str(seed_subject_fit(tmp_path / "cache")),
                "SPAGENT_ARTIFACTS_DIR": str(data), "SPAGENT_SERVE_TOKENS_FILE": str(tokens)}
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("SPAGENT_", "VIRTUAL_ENV", "PYTHON"))}
    port = free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log:
        server = subprocess.Popen([str(env_dir / "bin" / "langgraph"), "dev", "--config", "langgraph.json", "--host",
                                   "127.0.0.1", "--port", str(port), "--no-reload", "--no-browser"],
                                  cwd=deps, stdout=log, stderr=subprocess.STDOUT, env={**environment, **operator})
    try:
        url = wait_until_up(server, f"http://127.0.0.1:{port}", log_path)
        import langgraph_sdk

        token = next(t for t, u in TOKENS.items() if u == "ada")
        client = langgraph_sdk.get_sync_client(url=url, headers={"Authorization": f"Bearer {token}"})
        thread = client.threads.create()["thread_id"]
        result = client.runs.wait(thread, "spagent", input=REQUEST)
        assert result["choice"]["video_url"], log_path.read_text()[-3000:]
        intent = client.threads.get_state(thread)["values"]["intent"]
        assert intent["types_decided_by"] == "fallback"  # no MLLM: the packaged classifier decided
    finally:
        server.terminate()
        server.wait(timeout=30)
