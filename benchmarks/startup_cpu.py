"""How long the `spagent` command and the served graph take to start, on this machine.

    python benchmarks/startup_cpu.py [--repeats 7] [--before REV]

The last row is a whole run of the README's first Python example on the demo tools.

Each row is the median wall time of a fresh process. With `--before REV`, the
same commands also run from a checkout of REV (a temporary git worktree, on
PYTHONPATH) in alternation with this tree, so the ratio comes from one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _table import table

ROOT = Path(__file__).parents[1]
SERVED = "import runpy; runpy.run_path('spagent_graph/serving/server.py')"
# The README's first Python example, as a user copies it: a whole run on the demo tools (built by a
# first run before the timing starts).
README_SNIPPET = (ROOT / "README.md").read_text().split("```python\n", 1)[1].split("```", 1)[0]
COMMANDS = {
    "spagent --help": ["-m", "spagent_graph.apps.cli", "--help"],
    "spagent config": ["-m", "spagent_graph.apps.cli", "config"],
    "spagent run --help": ["-m", "spagent_graph.apps.cli", "run", "--help"],
    "a bad option (--judge-frames 0)": ["-m", "spagent_graph.apps.cli", "config", "--judge-frames", "0"],
    "import the served graph": ["-c", SERVED],
    "the README's Python example (a run on the demo tools)": ["-c", README_SNIPPET],
}


def seconds(args: list[str], tree: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    started = time.perf_counter()
    subprocess.run([sys.executable, *args], cwd=tree, env=env, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--before", help="a git revision to compare with")
    args = parser.parse_args()
    trees = {"now": ROOT}
    if args.before:
        worktree = Path(tempfile.mkdtemp(prefix="spagent-before-")) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", str(worktree), args.before], cwd=ROOT, check=True,
                       capture_output=True)
        # Installed, three top-level folders import as subpackages; in a bare checkout, links do that.
        for folder in ("nodes", "tool_adapters", "capability_store"):
            (worktree / "spagent_graph" / folder).symlink_to(worktree / folder)
        trees = {"before": worktree, "now": ROOT}
    try:
        for tree in trees.values():  # the first run builds the demo tools; the timed ones find them
            seconds(COMMANDS["the README's Python example (a run on the demo tools)"], tree)
        rows = []
        for name, command in COMMANDS.items():
            times: dict[str, list[float]] = {label: [] for label in trees}
            for _ in range(args.repeats):  # alternate the trees, so both see the same machine
                for label, tree in trees.items():
                    times[label].append(seconds(command, tree))
            medians = {label: statistics.median(values) for label, values in times.items()}
            row = [name, *(f"{medians[label]:.2f} s" for label in trees)]
            if args.before:
                row.append(f"{medians['before'] / medians['now']:.1f}x")
            rows.append(row)
        header = ["command", *(f"{label} (median of {args.repeats})" for label in trees)]
        print(table([*header, *(["speed-up"] if args.before else [])], rows))
    finally:
        if args.before:
            subprocess.run(["git", "worktree", "remove", "--force", str(trees["before"])], cwd=ROOT,
                           capture_output=True)


if __name__ == "__main__":
    main()
