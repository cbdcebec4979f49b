"""The report page a user opens after a run, in headless Chromium (Debian's `chromium`):
both candidate videos must be present and playable, not just named in the HTML; every
section must be laid out and drawn, every video must have a poster that loads, and the
page must fit a laptop's width.

The browser is driven over the DevTools protocol with a plain WebSocket client,
so the test needs nothing beyond the browser itself.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from spagent_graph.apps.cli import main

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
def screenshot(tmp_path: Path, monkeypatch) -> Path:
    """Where the page's screenshot goes: $SPAGENT_SCREENSHOT to keep it, else a temporary file.
    The variable leaves the environment, where the command would take it for an unknown setting."""
    path = Path(os.environ.get("SPAGENT_SCREENSHOT", tmp_path / "report.png"))
    monkeypatch.delenv("SPAGENT_SCREENSHOT", raising=False)
    return path


@pytest.fixture
def report(tmp_path: Path, demo_cache: Path, screenshot: Path, monkeypatch) -> Path:
    monkeypatch.delenv("SPAGENT_MLLM_URL", raising=False)
    out = tmp_path / "report"
    assert main(["run", "--text", "a red fox running through snow", "--out", str(out), "--no-progress",
                 "--cache-dir", str(demo_cache), "--device", "cpu", "--artifacts-dir", str(tmp_path / "runs"),
                 "--frames", "8", "--height", "64", "--width", "64"]) == 0
    return out / "report.html"


def test_the_report_page_plays_both_candidates_in_chromium(report: Path, screenshot: Path, tmp_path: Path):
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
            check_page(DevTools(socket), screenshot)
    finally:
        browser.terminate()
        browser.wait(timeout=30)


# The sections the page promises, in the order a reader meets them; each must be laid out and visible.
SECTIONS = ("request", "winner", "decisions", "plan", "candidates", "failures", "notes", "mllm", "learned",
            "settings")

BOXES = """
Object.fromEntries(__SECTIONS__.map(id => {
  const element = document.getElementById(id);
  if (!element) return [id, null];
  const box = element.getBoundingClientRect(), style = getComputedStyle(element);
  return [id, {x: box.x + scrollX, y: box.y + scrollY, width: box.width, height: box.height,
               visible: style.visibility === 'visible' && style.display !== 'none'}];
}))
""".replace("__SECTIONS__", json.dumps(SECTIONS))

# Each video's poster, loaded as an image of its own: a poster that is named but does not load shows nothing.
POSTERS = """
Promise.all([...document.querySelectorAll('video')].map(video => new Promise(resolve => {
  const url = video.getAttribute('poster');
  if (!url) return resolve({src: video.getAttribute('src'), poster: null, width: 0});
  const image = new Image();
  const report = () => resolve({src: video.getAttribute('src'), poster: url, width: image.naturalWidth});
  image.onload = report; image.onerror = report;
  image.src = url;
})))
"""


def check_page(tools: DevTools, screenshot: Path) -> None:
    tools.call("Runtime.enable")
    deadline = time.monotonic() + 30  # the page is listed as soon as it starts loading
    while evaluate(tools, "document.readyState") != "complete":
        assert time.monotonic() < deadline, "the page did not finish loading"
        time.sleep(0.1)
    result = tools.call("Runtime.evaluate", expression=READY_STATES, awaitPromise=True, returnByValue=True)
    videos = result["result"]["value"]
    assert len(videos) == 2, videos
    for video in videos:
        assert video["error"] is None and video["readyState"] >= 2, video  # HAVE_CURRENT_DATA or better
        assert video["width"] == 64 and video["duration"] > 0, video
    text = evaluate(tools, "document.body.innerText")
    assert "winner" in text.lower() and "route-1" in text
    assert "demo tools" in text  # the banner: the noise is by design
    assert not re.findall(r".{30}\b(?:None|True|False)\b.{10}", text)  # values in words, not as Python prints them

    posters = evaluate(tools, POSTERS, awaitPromise=True)
    assert len(posters) >= 3, posters  # the winner, both candidates (and the steps' videos)
    assert all(p["poster"] and p["width"] > 0 for p in posters), posters

    boxes = evaluate(tools, BOXES)
    for section, box in boxes.items():
        assert box is not None, f"#{section} is missing"
        assert box["visible"] and box["width"] > 0 and box["height"] > 0, (section, box)
    assert boxes["winner"]["y"] < boxes["candidates"]["y"], "the winner and why comes before the candidates"

    for width in (1366, 1920):  # a laptop and a desktop screen: nothing may run off to the side
        resize(tools, width)
        overflow = evaluate(tools, "[document.documentElement.scrollWidth, innerWidth]")
        assert overflow[0] <= overflow[1], f"at {width}px the page is {overflow[0]}px wide"
    resize(tools, 1366)

    # The whole page at a laptop's width, then each section cut from it: each has text drawn in it.
    boxes = evaluate(tools, BOXES)
    height = evaluate(tools, "document.documentElement.scrollHeight")
    shot = tools.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                      clip={"x": 0, "y": 0, "width": 1366, "height": height, "scale": 1})
    screenshot.write_bytes(base64.b64decode(shot["data"]))
    assert screenshot.stat().st_size > 10_000
    with Image.open(screenshot) as image:
        page = np.asarray(image.convert("L"), dtype=np.float32)
    assert page.shape[1] == 1366 and page.shape[0] >= 900, page.shape
    assert page.std() > 10, "the screenshot is blank"
    for section, box in boxes.items():
        top, left = round(box["y"]), round(box["x"])
        region = page[top: top + round(box["height"]), left: left + round(box["width"])]
        inked = float((region < 128).mean()) if region.size else 0.0  # dark text on the light panels
        assert inked > 0.002, f"#{section} is drawn blank in the screenshot ({inked:.4f} of it inked)"


def evaluate(tools: DevTools, expression: str, **options):
    answer = tools.call("Runtime.evaluate", expression=expression, returnByValue=True, **options)
    return answer["result"]["value"]


def resize(tools: DevTools, width: int) -> None:
    tools.call("Emulation.setDeviceMetricsOverride", width=width, height=900, deviceScaleFactor=1, mobile=False)
