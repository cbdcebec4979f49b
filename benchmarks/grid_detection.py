"""Grid detection over the whole hard set: every photo with seams that is not a grid (PNG, JPEG
and WebP), and every layout x gutter x format x pan x scene x frame size, with and without a border.

    python benchmarks/grid_detection.py

Prints the false positives and the misses per layout, gutter, format and pan, then each wrong case.
The tests run a rotation through the same set (`tests/grid_cases.py`).
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

from _table import table

sys.path.insert(0, str(Path(__file__).parents[1]))  # the hard set lives beside the tests
from spagent_graph.grid import find_grid  # noqa: E402
from tests.grid_cases import GUTTERS, LAYOUTS, PANS, every_grid, not_grids_in_every_format  # noqa: E402


def main() -> None:
    started = time.perf_counter()
    false_positives = []
    negatives = 0
    for name, make in not_grids_in_every_format():
        negatives += 1
        grid = find_grid(make())
        if grid is not None:
            false_positives.append(f"{name}: read as {grid.rows}x{grid.cols}")
    cases, misses = Counter(), Counter()
    wrong = []
    for case in every_grid():
        grid = find_grid(case.make())
        found = (grid.rows, grid.cols) if grid else None
        layout, gutter, fmt, pan = case.name.split(", ")[:4]
        keys = [f"layout {layout}", f"gutter {gutter}", f"format {fmt}", f"pan {pan.split(' of ')[0]}"]
        cases.update(keys)
        if found != (case.rows, case.cols):
            misses.update(keys)
            wrong.append(f"{case.name}: read as {'a single picture' if found is None else '%dx%d' % found}")
    seconds = time.perf_counter() - started
    grids = sum(cases[f"format {fmt}"] for fmt in ("png", "jpeg", "webp"))
    print(f"{negatives} pictures that are not grids, {grids} grids of consecutive frames; {seconds:.0f} s, "
          f"{1000 * seconds / (negatives + grids):.0f} ms per picture\n")
    rows = [["not grids (false positives)", str(negatives), str(len(false_positives))],
            ["grids (misses)", str(grids), str(len(wrong))]]
    groups = [*(f"layout {r}x{c}" for r, c in LAYOUTS), *(f"gutter {g}" for g in GUTTERS),
              *(f"format {f}" for f in ("png", "jpeg", "webp")), *(f"pan {p}" for p in PANS)]
    rows += [[group, str(cases[group]), str(misses[group])] for group in groups]
    print(table(["cases", "count", "wrong"], rows))
    for line in [*false_positives, *wrong]:
        print(line)


if __name__ == "__main__":
    main()
