"""The pages and the registry point at files that exist: a renamed results file or a moved page would
otherwise leave a user following a figure's source to nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Everywhere a figure's source is named: the pages, the registries' comments, the benchmarks and their results.
CITING = [*PAGES, *sorted((ROOT / "tool_adapters" / "registries").glob("*.yaml")),
          *sorted((ROOT / "benchmarks").glob("*.py")), *sorted((ROOT / "benchmarks" / "results").glob("*.md"))]
RESULTS = "benchmarks/results/"


def relative_links(page: Path) -> list[str]:
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text())
    return [link for link in links if not re.match(r"[a-z][a-z0-9+.-]*:", link)]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_every_relative_link_of_a_page_reaches_a_file(page: Path):
    missing = [link for link in relative_links(page) if not (page.parent / link).exists()]
    assert not missing, f"{page.relative_to(ROOT)} links to {missing}, which do not exist"


@pytest.mark.parametrize("source", CITING, ids=lambda source: source.relative_to(ROOT).as_posix())
def test_every_results_file_named_exists(source: Path):
    named = set(re.findall(re.escape(RESULTS) + r"([\w.-]+\.(?:md|jsonl?))\b", source.read_text()))
    missing = sorted(name for name in named if not (ROOT / RESULTS / name).exists())
    assert not missing, f"{source.relative_to(ROOT)} names {missing} under {RESULTS}, which do not exist"


def test_the_checks_see_links_and_results_names():
    # Guards the patterns themselves: a pattern that matched nothing would pass every page.
    assert "docs/python.md" in relative_links(ROOT / "README.md")
    assert re.search(re.escape(RESULTS) + r"levers_gpu_\w+\.md", (ROOT / "docs" / "library.md").read_text())


def test_the_readmes_speed_table_gives_the_library_pages_figures():
    # The README sums up docs/library.md's measured table; a figure changed on one page only would drift.
    readme = (ROOT / "README.md").read_text()
    table = readme.split("<!-- speed table -->\n", 1)[1].split("<!-- end of speed table -->", 1)[0]
    library = (ROOT / "docs" / "library.md").read_text()
    figures = re.findall(r"\d+\.\d+", table)
    assert len(figures) > 30
    assert [figure for figure in figures if figure not in library] == []
