"""Grid detection over the whole hard set: every photo with seams that is not a grid (PNG, JPEG
and WebP), and every layout x gutter x format x pan x scene x frame size, with and without a border.

    python benchmarks/grid_detection.py [--workers N]

Prints the false positives and the misses per layout, gutter, format and pan, then each wrong case.
The tests run a rotation through the same set (`tests/grid_cases.py`). The pictures are made and
read in N processes (all the CPUs by default): the set is thousands of pictures.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from functools import cache
from pathlib import Path

from _table import table

sys.path.insert(0, str(Path(__file__).parents[1]))  # the hard set lives beside the tests
from spagent_graph.grid import find_grid
from tests.grid_cases import GUTTERS, LAYOUTS, PANS, every_grid, not_grids_in_every_format


@cache
def _cases() -> tuple[list, list]:
    """The set, made again in each process: its pictures are made by closures, which do not pickle."""
    return list(not_grids_in_every_format()), list(every_grid())


def _read(kind: int, index: int) -> tuple[int, int] | None:
    """The layout found in the `index`th picture of the non-grids (`kind` 0) or the grids (1)."""
    case = _cases()[kind][index]
    grid = find_grid(case[1]() if kind == 0 else case.make())
    return (grid.rows, grid.cols) if grid else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    workers = parser.parse_args().workers
    started = time.perf_counter()
    not_grids, grids = _cases()
    with ProcessPoolExecutor(workers) as pool:
        found_in_not_grids = list(pool.map(_read, [0] * len(not_grids), range(len(not_grids)), chunksize=8))
        found_in_grids = list(pool.map(_read, [1] * len(grids), range(len(grids)), chunksize=32))
    seconds = time.perf_counter() - started
    false_positives = [f"{name}: read as {found[0]}x{found[1]}"
                       for (name, _), found in zip(not_grids, found_in_not_grids) if found is not None]
    cases, misses = Counter(), Counter()
    wrong = []
    for case, found in zip(grids, found_in_grids):
        layout, gutter, fmt, pan = case.name.split(", ")[:4]
        keys = [f"layout {layout}", f"gutter {gutter}", f"format {fmt}", f"pan {pan.split(' of ')[0]}"]
        cases.update(keys)
        if found != (case.rows, case.cols):
            misses.update(keys)
            read = "a single picture" if found is None else f"{found[0]}x{found[1]}"
            wrong.append(f"{case.name}: read as {read}")
    pictures = len(not_grids) + len(grids)
    print(f"{len(not_grids)} pictures that are not grids, {len(grids)} grids of consecutive frames; "
          f"{seconds:.0f} s in {workers} processes, "
          f"{1000 * seconds * workers / pictures:.0f} ms of a process per picture\n")
    rows = [["not grids (false positives)", str(len(not_grids)), str(len(false_positives))],
            ["grids (misses)", str(len(grids)), str(len(wrong))]]
    groups = [*(f"layout {r}x{c}" for r, c in LAYOUTS), *(f"gutter {g}" for g in GUTTERS),
              *(f"format {f}" for f in ("png", "jpeg", "webp")), *(f"pan {p}" for p in PANS)]
    rows += [[group, str(cases[group]), str(misses[group])] for group in groups]
    print(table(["cases", "count", "wrong"], rows))
    for line in [*false_positives, *wrong]:
        print(line)


if __name__ == "__main__":
    main()
