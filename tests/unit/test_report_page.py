"""The report page a user opens after a run, in headless Chromium (Debian's `chromium`):
both candidate videos must be present and playable, not just named in the HTML.

The browser is driven over the DevTools protocol with a plain WebSocket client,
so the test needs nothing beyond the browser itself.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from spagent_graph.cli import main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")

# The flags this machine's closed network needs (no background connections, no sandbox as root).
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--autoplay-policy=no-user-gesture-required", "--remote-debugging-port=0", "--window-size=1400,1000"]

READY_STATES = """
Promise.all([...document.querySelectorAll('.card > video')].map(video => new Promise(resolve => {
  const report = () => resolve({src: video.getAttribute('src'), readyState: video.readyState,
                                width: video.videoWidth, duration: video.duration, error: video.error && video.error.code});
  if (video.readyState >= 2) return report();
  video.addEventListener('loadeddata', report);
  video.addEventListener('error', report);
  setTimeout(report, 15000);
})))
"""


class DevTools:
    """The few DevTools protocol calls this test makes, over the page's WebSocket."""

    def __init__(self, socket) -> None:
        self.socket, self.next_id = socket, 0

    def call(self, method: str, **params):
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=60))
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]


@pytest.fixture
def report(tmp_path: Path, demo_cache: Path, monkeypatch) -> Path:
    monkeypatch.delenv("SPAGENT_MLLM_URL", raising=False)
    out = tmp_path / "report"
    assert main(["run", "--text", "a red fox running through snow", "--out", str(out), "--no-progress",
                 "--cache-dir", str(demo_cache), "--device", "cpu", "--artifacts-dir", str(tmp_path / "runs"),
                 "--frames", "8", "--height", "64", "--width", "64"]) == 0
    return out / "report.html"


def test_the_report_page_plays_both_candidates_in_chromium(report: Path, tmp_path: Path):
    profile = tmp_path / "profile"
    browser = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", report.as_uri()],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text().strip():
            assert browser.poll() is None and time.monotonic() < deadline, "chromium did not start"
            time.sleep(0.2)
        port = port_file.read_text().split()[0]
        pages = []
        while not pages:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as response:
                pages = [t for t in json.load(response) if t["type"] == "page" and t["url"].endswith("report.html")]
            time.sleep(0.2)
        from websockets.sync.client import connect

        with connect(pages[0]["webSocketDebuggerUrl"], max_size=64 * 2**20) as socket:
            check_page(DevTools(socket), tmp_path)
    finally:
        browser.terminate()
        browser.wait(timeout=30)


def check_page(tools: DevTools, tmp_path: Path) -> None:
    tools.call("Runtime.enable")
    result = tools.call("Runtime.evaluate", expression=READY_STATES, awaitPromise=True, returnByValue=True)
    videos = result["result"]["value"]
    assert len(videos) == 2, videos
    for video in videos:
        assert video["error"] is None and video["readyState"] >= 2, video  # HAVE_CURRENT_DATA or better
        assert video["width"] == 64 and video["duration"] > 0, video
    text = tools.call("Runtime.evaluate", expression="document.body.innerText", returnByValue=True)
    assert "winner" in text["result"]["value"] and "route-1" in text["result"]["value"]
    shot = tools.call("Page.captureScreenshot", format="png")
    screenshot = Path(os.environ.get("SPAGENT_SCREENSHOT", tmp_path / "report.png"))
    screenshot.write_bytes(base64.b64decode(shot["data"]))
    assert screenshot.stat().st_size > 10_000
