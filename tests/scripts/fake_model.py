"""A stand-in for a research repository's inference script, for the kill-and-resume test.

    python fake_model.py NAME KIND OUTPUT_DIR

Logs "NAME start" and "NAME done" to $CALL_LOG, writes a small video (KIND
video) or picture (KIND image), and hangs first while $HANG_FILE exists and
NAME is $HANG_TOOL, so that a test can kill the run in the middle of it.
With $SLEEP_S it takes that many seconds, like a slow model.
"""

import os
import sys
import time
from pathlib import Path

import numpy as np

from spagent_graph.media import write_image, write_video

name, kind, output_dir = sys.argv[1], sys.argv[2], Path(sys.argv[3])
log = Path(os.environ["CALL_LOG"])
with log.open("a") as out:
    out.write(f"{name} start\n")
time.sleep(float(os.environ.get("SLEEP_S", "0")))
while name == os.environ.get("HANG_TOOL") and Path(os.environ.get("HANG_FILE", "/nonexistent")).exists():
    time.sleep(0.1)
output_dir.mkdir(parents=True, exist_ok=True)
frames = [np.full((64, 64, 3), 40 + 20 * i, dtype=np.uint8) for i in range(8)]
if kind == "video":
    write_video(frames, output_dir / f"{name}.mp4", fps=8)
else:
    write_image(frames[3], output_dir / f"{name}.png")
with log.open("a") as out:
    out.write(f"{name} done\n")
