"""The report page: one self-contained HTML file (the style sheet inline, no scripts,
nothing fetched) that links the run's files relatively."""

from __future__ import annotations

import hashlib
import html
import os
import re
from datetime import datetime
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import av
from PIL import UnidentifiedImageError

from ...media import write_poster
from ...state import UNKNOWN_SUBJECT, Candidate, Evaluation, Intent, StepRecord
from .words import (
    SUBSCORES,
    WHO,
    asked_about,
    compare_scores,
    counted,
    distinct_failures,
    duration_in_words,
    first_line_of,
    fix_for,
    judge_in_words,
    listed,
    margin_in_words,
    not_measured,
    rank_in_words,
    strength_in_words,
    task_in_words,
    value_in_words,
)

if TYPE_CHECKING:
    from .facts import RunFacts

esc = html.escape
CSS = (files(__package__) / "page.css").read_text(encoding="utf-8")
# Files a browser shows with <img> (an animated GIF or WEBP moves there too); anything else is a <video>.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")
IMAGE_CONTAINERS = ("PNG", "JPEG", "WEBP", "BMP", "GIF", "MPO")


def _section(name: str, title: str, body: str, css: str = "panel") -> str:
    return f'<section id="{name}" class="{css}"><h2>{title}</h2>{body}</section>'


def _code(text: str) -> str:
    """Escapes `text`, showing its `quoted` commands as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", esc(text))


def _bar(value: float, scale: float, winner: bool) -> str:
    share = max(0.0, min(1.0, value / scale)) * 100
    return (f'<td class="num{" win" if winner else ""}">{value:.2f}'
            f'<span class="bar"><span style="width:{share:.0f}%"></span></span></td>')


class Page:
    """One report page: each method writes one part of it, from the state and the run's facts."""

    def __init__(self, state: dict[str, Any], out_dir: Path, run: RunFacts | None) -> None:
        self.state, self.out_dir, self.run = state, out_dir, run
        self.settings = run.settings if run else {}
        self.intent: Intent | None = state.get("intent")
        self.candidates: list[Candidate] = list(state.get("candidates") or [])
        self.scores = {ev.candidate_id: ev for ev in state.get("evaluations") or []}
        self.choice = state.get("choice")
        self.failures = distinct_failures(self.candidates, self.failures_outside_the_routes())
        self.posters: dict[Path, str | None] = {}

    def failures_outside_the_routes(self) -> list[tuple[str, str]]:
        """The run's own error, and every MLLM failure the fallback covered: a report whose MLLM
        could not be reached, or whose run was refused, never says that nothing failed."""
        found = [(self.run.error, "the run")] if self.run and self.run.error else []
        routes = self.state.get("route_plan")
        for where, notes in (("intent", self.intent.notes if self.intent else []),
                             ("routes", routes.repairs if routes else []),
                             *((f"judge of {ev.candidate_id}", ev.notes) for ev in self.scores.values())):
            found.extend((note, where) for note in notes if note.startswith("MLLM failed"))
        return found

    def render(self) -> str:
        # Failures, MLLM answers and learned strengths take the full width when they have
        # something to show (tables, long messages); otherwise their one sentence sits in a
        # row of small panels, so that an empty section costs a line, not a screen.
        failures, mllm, learned = self.failures_section(), self.mllm_section(), self.learned_section()
        asked, learned_some = bool(self.state.get("decisions")), bool(self.state.get("strength_updates"))
        small = [*([] if self.failures else [failures]), self.notes_section(), *([] if asked else [mllm]),
                 *([] if learned_some else [learned])]
        sections = [
            self.header(), self.demo_banner(), self.winner_section(),
            *([failures] if self.failures else []),
            f'<div class="grid-2">{self.decisions_section()}{self.plan_section()}</div>',
            self.candidates_section(),
            f'<div class="grid-small">{"".join(small)}</div>',
            *([learned] if learned_some else []), *([mllm] if asked else []), self.settings_section(),
            self.manifest_section(),
        ]
        body = "\n".join(s for s in sections if s)
        return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
                f'<meta name="viewport" content="width=device-width, initial-scale=1">'
                f"<title>spagent-graph report: {esc(self.title())}</title>\n<style>{CSS}</style></head>\n"
                f"<body><main>\n{body}\n</main></body></html>\n")

    # Media ------------------------------------------------------------------------------

    def link(self, path: Path | str) -> str:
        return esc(quote(os.path.relpath(Path(path).resolve(), self.out_dir.resolve())))

    def poster(self, path: Path) -> str | None:
        """The relative URL of `path`'s poster, written under posters/ the first time it is asked for."""
        if path not in self.posters:
            digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
            target = self.out_dir / "posters" / f"{path.stem}-{digest}.png"
            try:
                self.posters[path] = self.link(write_poster(path, target))
            except (OSError, ValueError, av.error.FFmpegError, UnidentifiedImageError):
                self.posters[path] = None  # the page still links the file; only its picture is missing
        return self.posters[path]

    def media(self, path: Path | str | None, label: str, css: str, *, autoplay: bool = False,
              thumbnail: bool = False, image: bool | None = None) -> str:
        """An image or a video (by `image`, else by the file's suffix); a video gets a poster. A
        thumbnail shows its poster without controls (they do not fit), and opens the file when clicked."""
        if path is None:
            return '<p class="missing">no file</p>'
        path = Path(path)
        if not path.exists():
            return f'<p class="missing">file missing: {esc(str(path))}</p>'
        source = self.link(path)
        if image is None:
            image = path.suffix.lower() in IMAGE_SUFFIXES
        if image:
            return f'<img class="{css}" src="{source}" alt="{esc(label)}" title="{esc(label)}">'
        poster = self.poster(path)
        poster_attr = f' poster="{poster}"' if poster else ""
        if thumbnail:
            return (f'<a href="{source}" title="open {esc(label)}"><video class="{css}" src="{source}"'
                    f'{poster_attr} muted loop playsinline preload="metadata"></video></a>')
        play = ' autoplay preload="auto"' if autoplay else ' preload="metadata"'
        return (f'<video class="{css}" src="{source}"{poster_attr} controls loop muted playsinline{play} '
                f'title="{esc(label)}"></video>')

    # Header -----------------------------------------------------------------------------

    def title(self) -> str:
        request = self.state.get("request")
        return request.text if request is not None and request.text else "a request with no text"

    def header(self) -> str:
        request, visual = self.state.get("request"), self.state.get("visual")
        text = (f"&ldquo;{esc(request.text)}&rdquo;" if request is not None and request.text
                else "No text: the video follows the visual input alone.")
        if visual is not None:
            source = visual.path
            frames = f", {visual.frame_count} frames" if visual.kind == "video" else ""
            what = esc(f"{visual.kind} ({visual.container}, {visual.width}×{visual.height}{frames})")
        else:
            source = (request.image or request.video) if request is not None else None
            what = "the visual input" if source is not None else "no visual input"
        figure = ""
        if isinstance(source, Path):
            # The input's kind was read from its content; its name may say otherwise.
            image = visual.container.upper() in IMAGE_CONTAINERS if visual is not None else None
            figure = (f'<figure class="input">{self.media(source, "visual input", "input-media", image=image)}'
                      f"<figcaption>{what}<br><small>{esc(str(source))}</small></figcaption></figure>")
        elif source is not None:  # a URL that was never fetched
            figure = f'<figure class="input"><figcaption>{what}: {esc(str(source))}</figcaption></figure>'
        visual_line = '<p class="visual-line">Text only: no visual input.</p>' if source is None else ""
        return (f'<header id="request" class="panel"><div><p class="eyebrow">spagent-graph run report</p>'
                f'<h1>{text}</h1>{visual_line}<ul class="meta">{self.meta_items()}</ul></div>{figure}</header>')

    def meta_items(self) -> str:
        run, items = self.run, []
        if run is not None and run.started_at is not None:
            zone = run.started_at.strftime("%Z")
            items.append(f"started {run.started_at:%a %d %b %Y, %H:%M:%S}{' ' + zone if zone else ''}")
        else:
            items.append(f"report written {datetime.now().astimezone():%a %d %b %Y, %H:%M:%S %Z}")
        if run is not None and run.seconds is not None:
            items.append(f"run time {duration_in_words(run.seconds)}")
        elif self.candidates:
            longest = duration_in_words(max(c.seconds for c in self.candidates))
            items.append(f"generation {longest} (the longest route; the whole run's time was not recorded)")
        if run is not None and run.thread_id:
            items.append(f"thread {run.thread_id}")
        if self.state.get("run_id"):
            items.append(f"run {self.state['run_id']}")
        request = self.state.get("request")
        if request is not None:
            o = request.options
            steps = f"{o.num_inference_steps} steps" if o.num_inference_steps else "each tool's default steps"
            items.append(f"{o.num_frames} frames, {o.width}×{o.height}, {o.fps} fps, {steps}, seed {o.seed}")
        items += [f"{key} {value_in_words(self.settings[key])}" for key in ("registry", "judge")
                  if key in self.settings]
        return "".join(f"<li>{esc(item)}</li>" for item in items)

    def demo_tools(self) -> bool:
        if self.run is not None:
            return self.run.demo_tools
        # Without run facts the tools' names tell: every tool of the demo registry is named demo-*.
        tools = [tool for c in self.candidates for tool in c.tools]
        return bool(tools) and all(tool.startswith("demo-") for tool in tools)

    def demo_banner(self) -> str:
        if not self.demo_tools():
            return ""
        return ('<aside id="demo-banner" class="banner"><b>These videos were made by the demo tools.</b> '
                "They are tiny random-weight models built in code, so the videos are coloured noise by design: "
                "every stage of the run was real (planning, generation, judging), but no picture means "
                "anything. To use real models, run with <code>--registry library</code> (or "
                "<code>paper</code>), and run <code>spagent doctor</code> to see which weights are there and "
                "how to download the rest.</aside>")

    # Winner and why ---------------------------------------------------------------------

    def ranked(self) -> list[Evaluation]:
        known = {c.id for c in self.candidates}
        judged = (ev for ev in self.scores.values() if ev.candidate_id in known)
        return sorted(judged, key=lambda ev: -ev.overall)

    def picked_by_human(self) -> bool:
        if self.choice is None or self.choice.candidate_id is None:
            return False
        if "picked by the user" in self.choice.reason:
            return True
        # The graph picks the best score; a winner below it can only be a person's pick.
        ranked, mine = self.ranked(), self.scores.get(self.choice.candidate_id)
        return bool(ranked) and mine is not None and ranked[0].overall > mine.overall

    def winner_section(self) -> str:
        winner_id = self.choice.candidate_id if self.choice is not None else None
        winner = next((c for c in self.candidates if c.id == winner_id), None)
        if winner is None:
            return _section("winner", "Winner and why", self.no_winner())
        copy = self.run.winner_file if self.run is not None else None
        video = copy if copy is not None and Path(copy).exists() else winner.video
        chain = " → ".join(f"{esc(task_in_words(t))} with <b>{esc(tool)}</b>"
                           for t, tool in zip(winner.tasks, winner.tools, strict=True))
        link = f' <a href="{self.link(video)}">open the video</a>' if video else ""
        return (f'<section id="winner" class="panel with-video"><div class="winner-media">'
                f"{self.media(video, f'winner {winner.id}', 'big', autoplay=True)}"
                f'<p class="caption">{chain}.{link}</p></div>'
                f'<div class="winner-why"><h2>Winner and why</h2>{self.why(winner)}</div></section>')

    def no_winner(self) -> str:
        if self.state.get("cancelled"):
            return f"<p>No winner: {esc(self.choice.reason if self.choice else 'the run was cancelled.')}</p>"
        if not self.candidates:
            return "<p>No winner: the run stopped before any candidate was made.</p>"
        if not any(c.video for c in self.candidates):
            return ('<p>No winner: no candidate made a video, so there was nothing to judge. '
                    'The <a href="#failures">failures</a> below say what went wrong and how to fix it.</p>')
        if not self.scores:
            return "<p>No winner: the candidates were made, but the run stopped before they were judged.</p>"
        return f"<p>No winner was chosen. {esc(self.choice.reason) if self.choice else ''}</p>"

    def why(self, winner: Candidate) -> str:
        mine = self.scores.get(winner.id)
        if mine is None:
            return f"<p><b>{esc(winner.id)}</b> is the winner, but it was not judged.</p>"
        others = [ev for ev in self.ranked() if ev.candidate_id != winner.id]
        if not others:
            alone = ("Both routes planned the same work, so one candidate was made"
                     if len(winner.route_indices) > 1 else "Only one candidate made a video")
            lead = (f'<p class="headline"><b>{esc(winner.id)}</b> scored <b>{mine.overall:.2f}</b>/20. '
                    f"{alone}, and it was judged alone: it wins with nothing to compare it to.</p>")
        else:
            verb = "was picked by a human" if self.picked_by_human() else "won"
            lead = (f'<p class="headline"><b>{esc(winner.id)}</b> {verb} with <b>{mine.overall:.2f}</b>/20 '
                    f"against {others[0].overall:.2f}/20 for {esc(others[0].candidate_id)}.</p>"
                    + self.because(mine, others[0]))
        evaluations = [mine, *others]
        return (lead + self.subscore_table(evaluations, others[0] if others else None)
                + self.rationales(evaluations) + self.judged_by(evaluations))

    def because(self, mine: Evaluation, other: Evaluation) -> str:
        if self.picked_by_human():
            return (f'<p class="why">A human picked it at review; the judge had scored it '
                    f"{mine.overall:.2f}/20 against {other.overall:.2f}/20.</p>")
        comparison = compare_scores(mine, other)
        deciding = {label for label, _ in comparison.deciding}
        said = []
        if comparison.leads:
            named = [f"<b>{esc(n)} (+{m:.1f})</b>" if n in deciding else f"{esc(n)} (+{m:.1f})"
                     for n, m in comparison.leads]
            said.append(f"It won on {listed(named)}")
        else:
            said.append("The sub-scores do not separate them; the judge's overall score decided")
        if comparison.behind:
            said.append(f"{esc(other.candidate_id)} led on "
                        + listed([f"{esc(n)} (+{m:.1f})" for n, m in comparison.behind]))
        if comparison.level:
            said.append(f"{listed(comparison.level)} {'was' if len(comparison.level) == 1 else 'were'} level")
        if mine.overall == other.overall:
            said.append("the overall scores tie, and a tie goes to the earlier route")
        return f'<p class="why">{"; ".join(said)}.</p>'

    def subscore_table(self, evaluations: list[Evaluation], other: Evaluation | None) -> str:
        deciding = {label for label, _ in compare_scores(evaluations[0], other).deciding} if other else set()
        head = "".join(f"<th>{esc(ev.candidate_id)}{' &#9733;' if i == 0 else ''}</th>"
                       for i, ev in enumerate(evaluations))
        rows = []
        for name, label in SUBSCORES:
            cells = "".join('<td class="num">not measured</td>' if name in not_measured(ev)
                            else _bar(getattr(ev, name), 10, i == 0) for i, ev in enumerate(evaluations))
            if other is not None:
                unmeasured = name in not_measured(evaluations[0]) | not_measured(other)
                margin = "" if unmeasured else margin_in_words(getattr(evaluations[0], name) - getattr(other, name))
                cells += f'<td class="num">{margin}</td>'
            if label in deciding:
                rows.append(f'<tr class="deciding"><th>{label} <span class="tag">deciding</span></th>'
                            f"{cells}</tr>")
            else:
                rows.append(f"<tr><th>{label}</th>{cells}</tr>")
        overall = "".join(_bar(ev.overall, 20, i == 0) for i, ev in enumerate(evaluations))
        if other is not None:
            overall += f'<td class="num">{evaluations[0].overall - other.overall:+.2f}</td>'
        rows.append(f'<tr class="overall"><th>overall (of 20)</th>{overall}</tr>')
        difference = "<th>difference</th>" if other else ""
        legend = (f'<p class="hint">Deciding: the winner&rsquo;s widest leads, which alone outweigh everything '
                  f"{esc(other.candidate_id)} led on.</p>" if other and deciding else "")
        return (f'<table class="scores"><thead><tr><th>sub-score (of 10)</th>{head}{difference}</tr></thead>'
                f"<tbody>{''.join(rows)}</tbody></table>{legend}")

    def rationales(self, evaluations: list[Evaluation]) -> str:
        items = "".join(
            f"<li><b>{esc(ev.candidate_id)}</b>: "
            f"{esc(ev.rationale) if ev.rationale else 'the judge gave no reasons.'}</li>" for ev in evaluations)
        return f'<h3>The judge&rsquo;s reasons</h3><ul class="reasons">{items}</ul>'

    def judged_by(self, evaluations: list[Evaluation]) -> str:
        judges = sorted({judge_in_words(ev) for ev in evaluations})
        explained = ""
        if any(ev.decided_by == "classical" for ev in evaluations):
            explained = (" The frame-statistics judge measures sharpness, exposure, flicker, motion and "
                         "likeness to the input; it cannot see what the video shows.")
        return f'<p class="judged-by">Judged by {esc(listed(judges))}.{explained}</p>'

    # How it was decided -------------------------------------------------------------

    def mllm_name(self) -> str:
        model = self.settings.get("mllm_model") or next(
            (ev.judge for ev in self.scores.values() if ev.decided_by == "mllm"), None)
        return f"the MLLM ({model})" if model else "the MLLM"

    def mllm_configured(self) -> bool | None:
        """Whether an MLLM was configured; None when the report was not told the settings."""
        return bool(self.settings.get("mllm_url")) if "mllm_url" in self.settings else None

    def without_mllm(self) -> str:
        configured = self.mllm_configured()
        if configured is None:
            return "no MLLM configured, or it failed (see notes)"
        return "the MLLM failed (see notes)" if configured else "no MLLM configured"

    def who(self, decided_by: str) -> str:
        return self.mllm_name() if decided_by == "mllm" else WHO.get(decided_by, decided_by)

    def intent_rows(self, intent: Intent) -> list[tuple[str, str, str]]:
        text = "text" if intent.text_type != "None" else "no text"
        visual = "no visual input" if intent.visual_type == "None" else f"a {intent.visual_type}"
        if intent.types_decided_by == "fallback":
            subject_by = f"the MLLM-free classifier ({self.without_mllm()})"
        elif intent.types_decided_by == "ablation":
            subject_by = "the MLLM-free classifier; intent recognition was switched off (ablation no_intent)"
        else:
            subject_by = self.who(intent.types_decided_by)
        if intent.alignment_decided_by == "principles":
            aligned_by = "the principles: text and visual input agree only when both are given"
        elif intent.alignment_decided_by == "fallback":
            aligned_by = f"the MLLM-free heuristic ({self.without_mllm()})"
        else:
            aligned_by = self.who(intent.alignment_decided_by)
        return [("input types and subject", f"{text}, {visual}; subject {intent.subject_in_words}",
                 f"types read from the files; subject by {subject_by}"),
                ("text-visual alignment", "aligned" if intent.aligned else "not aligned", aligned_by)]

    def decision_rows(self) -> list[tuple[str, str, str]]:
        rows = self.intent_rows(self.intent) if self.intent is not None else []
        routes = self.state.get("route_plan")
        if routes is not None:
            plan = "; ".join(f"route {i + 1}: " + " → ".join(map(task_in_words, route))
                             for i, route in enumerate(routes.routes))
            repairs = (f" ({counted(len(routes.repairs), 'repair', 'repairs')}, see notes)"
                       if routes.repairs else "")
            by = {"principles": "the route principles (no question needed)",
                  "fallback": "the route principles, after the MLLM failed (see notes)",
                  "mllm": f"{self.mllm_name()}, held to the principles{repairs}"}
            rows.append(("routes", plan, by.get(routes.decided_by, self.who(routes.decided_by))))
        models = self.state.get("model_plan")
        if models is not None:
            tools = "; ".join(f"route {i + 1}: " + ", ".join(c.tool for c in route)
                              for i, route in enumerate(models.routes))
            subject = self.intent.subject if self.intent else UNKNOWN_SUBJECT
            scope = "over all subjects" if subject == UNKNOWN_SUBJECT else f"for {subject}"
            by = (f"the capability store: the strongest tool for each task {scope}"
                  if models.decided_by == "capability_store" else self.who(models.decided_by))
            rows.append(("models", tools, by))
        if self.scores:
            scored = ", ".join(f"{ev.candidate_id} {ev.overall:.2f}/20" for ev in self.ranked())
            judges = sorted({judge_in_words(ev) for ev in self.scores.values()})
            rows.append(("judging", scored, listed(judges)))
        if self.choice is not None and self.choice.candidate_id is None:
            rows.append(("winner", "none", "nobody: there was nothing to choose from"))
        elif self.choice is not None:
            by = ("a human, at the winner review" if self.picked_by_human()
                  else "the highest overall score (ties go to the earlier route)")
            rows.append(("winner", self.choice.candidate_id, by))
        return rows

    def decisions_section(self) -> str:
        rows = self.decision_rows()
        if not rows:
            return _section("decisions", "How it was decided",
                            "<p>No decision was made: the run stopped before its intent was recognised.</p>")
        body = "".join(f"<tr><th>{esc(stage)}</th><td>{esc(answer)}</td><td>{esc(by)}</td></tr>"
                       for stage, answer, by in rows)
        return _section("decisions", "How it was decided",
                        '<table class="decided"><thead><tr><th>decision</th><th>answer</th>'
                        f"<th>made by</th></tr></thead><tbody>{body}</tbody></table>")

    # Plan -------------------------------------------------------------------------------

    def plan_section(self) -> str:
        models, routes = self.state.get("model_plan"), self.state.get("route_plan")
        if models is None:
            if self.state.get("cancelled"):
                why = "the run was cancelled before tools were chosen"
            else:
                why = "the run stopped before tools were chosen" + (
                    ", after routes were planned" if routes else "")
            return _section("plan", "Plan", f"<p>No plan: {why}.</p>")
        subject = self.intent.subject if self.intent else None
        blocks = []
        for index, route in enumerate(models.routes):
            steps = "".join(
                f'<li><span class="task">{esc(task_in_words(c.task))}</span> with <b>{esc(c.tool)}</b><br><small>'
                f"{esc(strength_in_words(c, subject))}; {esc(rank_in_words(c.rank))}.</small></li>"
                for c in route)
            blocks.append(f'<div class="route"><h3>Route {index + 1}</h3><ol>{steps}</ol></div>')
        if tuple(models.routes[0]) == tuple(models.routes[1]):
            blocks.append("<p>Both routes are the same work, so it was made once.</p>")
        blocks.append('<p class="hint">Strength: how well a tool did, as a mean opinion score out of 20; the '
                      "capability store keeps one per tool, task and subject, and ranks the tools by it.</p>")
        return _section("plan", "Plan", "".join(blocks))

    # Candidates -------------------------------------------------------------------------

    def candidates_section(self) -> str:
        if not self.candidates:
            why = ("the run was cancelled" if self.state.get("cancelled")
                   else "the run stopped before any route ran")
            return _section("candidates", "Candidates", f"<p>No candidates: {why}.</p>")
        cards = "".join(self.card(c) for c in self.candidates)
        return _section("candidates", "Candidates", f'<div class="cards">{cards}</div>')

    def failure_link(self, text: str | None) -> str:
        number = next((f.number for f in self.failures if text and f.text in text), None)
        return f'<a class="error" href="#failure-{number}">failed, see failure {number}</a>' if number else ""

    def card(self, candidate: Candidate) -> str:
        winner = self.choice is not None and self.choice.candidate_id == candidate.id
        # A candidate's id names its route already; say so only when it served both routes.
        routes = "serves both routes, " if len(candidate.route_indices) > 1 else ""
        if candidate.video:
            media = self.media(candidate.video, candidate.id, "card-video", autoplay=True)
        else:
            why = self.failure_link(candidate.error) or "the route did not finish"
            media = f'<p class="missing">no video: {why}</p>'
        evaluation = self.scores.get(candidate.id)
        if evaluation is not None:
            score = f"<b>{evaluation.overall:.2f}</b>/20 by {esc(judge_in_words(evaluation))}"
        else:
            score = "not judged" + ("" if candidate.video else ": no video")
        steps = "".join(self.step(s) for s in candidate.steps) or "<li>no step ran</li>"
        badge = ' <span class="badge">winner</span>' if winner else ""
        return (f'<article class="card{" winner" if winner else ""}" id="card-{esc(candidate.id)}">'
                f"<h3>{esc(candidate.id)}{badge} <small>{routes}{duration_in_words(candidate.seconds)}</small></h3>"
                f'{media}<p class="score">{score}</p><ol class="steps">{steps}</ol></article>')

    def step(self, step: StepRecord) -> str:
        details = [f"{step.seconds:.2f} s", *(["reused from an identical earlier step"] if step.reused else [])]
        fitted = "".join(f"<br><small>fitted: {esc(a)}</small>" for a in step.adjustments)
        levers = f"<br><small>acceleration: {esc(step.acceleration)}</small>" if step.acceleration else ""
        label = f"step {step.index + 1} output"
        output = (self.media(step.output, label, "thumb", thumbnail=True) if step.output
                  else '<div class="thumb empty"></div>')
        error = f"<br>{self.failure_link(step.error)}" if step.error else ""
        return (f"<li>{output}<div><b>{step.index + 1}. {esc(task_in_words(step.task))}</b> with {esc(step.tool)}"
                f"<br><small>{esc(', '.join(details))}</small>{fitted}{levers}{error}</div></li>")

    # Failures, notes, MLLM decisions, learning, settings ----------------------------------

    def failures_section(self) -> str:
        if not self.failures:
            return _section("failures", "Failures",
                            "<p>Nothing failed: every step of every route finished.</p>")
        items = []
        for failure in self.failures:
            summary, fix = first_line_of(failure.text), fix_for(failure.text)
            whole = (f"<details><summary>the whole message</summary><pre>{esc(failure.text)}</pre></details>"
                     if summary != failure.text.strip() else "")
            items.append(f'<li id="failure-{failure.number}"><p class="error">{esc(summary)}</p>'
                         f"<p><small>in {esc(', '.join(failure.places))}</small></p>"
                         + (f'<p class="fix">Fix: {_code(fix)}.</p>' if fix else "") + f"{whole}</li>")
        return _section("failures", "Failures", "<p>Each distinct error once, where it happened, and how to "
                        f"fix it where that is known.</p><ol>{''.join(items)}</ol>", css="panel bad")

    def notes_section(self) -> str:
        routes, models = self.state.get("route_plan"), self.state.get("model_plan")
        sources = [("intent", self.intent.notes if self.intent else []),
                   ("routes", routes.repairs if routes else []), ("models", models.notes if models else []),
                   *(("judge", ev.notes) for ev in self.scores.values())]
        notes: dict[str, list[str]] = {}  # each note once, with every stage that made it
        for where, items in sources:
            for note in items:
                places = notes.setdefault(note, [])
                if where not in places:
                    places.append(where)
        if not notes:
            body = "<p>No notes: nothing was repaired, assumed or left unmeasured along the way.</p>"
        else:
            body = "<ul>" + "".join(f'<li><span class="tag">{esc(", ".join(w))}</span> {esc(n)}</li>'
                                    for n, w in notes.items()) + "</ul>"
        return _section("notes", "Notes", body)

    def mllm_section(self) -> str:
        decisions = self.state.get("decisions") or []
        if not decisions:
            configured = self.mllm_configured()
            if configured is False:
                reason = ("no MLLM is configured (mllm_url is not set), so the MLLM-free planner and the "
                          "frame-statistics judge decided")
            elif configured:
                reason = "an MLLM is configured but answered no question (see the notes for its failures)"
            else:
                reason = "every decision above was made without one (no MLLM configured, or it failed)"
            return _section("mllm", "MLLM decisions", f"<p>No MLLM was asked: {esc(reason)}.</p>")
        rows = "".join(
            f"<tr><td>{esc(d.stage.replace('_', ' '))}</td><td>{esc(asked_about(d))}</td>"
            f'<td><pre class="answer">{esc(d.answer)}</pre><details><summary>question</summary>'
            f"<pre>{esc(d.prompt)}</pre></details></td></tr>" for d in decisions)
        return _section("mllm", "MLLM decisions", '<table class="mllm"><thead><tr><th>stage</th><th>for</th>'
                        f"<th>answer</th></tr></thead><tbody>{rows}</tbody></table>")

    def learned_section(self) -> str:
        updates = self.state.get("strength_updates") or []
        human = ("<p>A human picked the winner: the pick went to the store as human scores.</p>"
                 if self.picked_by_human() else "")
        if not updates:
            why = esc(self.why_nothing_learned())
            return _section("learned", "What the store learned",
                            f"<p>The store learned nothing from this run: {why}.</p>{human}")
        rows = "".join(
            f"<tr><td>{esc(u.tool)}</td><td>{esc(task_in_words(u.task))}, {esc(u.subject)}</td>"
            f"<td>{u.strength:.0f} ({u.strength / 100:.1f}/20) from {esc(u.candidate_id)}</td>"
            f"<td>{esc(u.source)} score, weight {u.weight:g}</td></tr>" for u in updates)
        return _section("learned", "What the store learned",
                        "<p>Each tool of a judged candidate was credited with the candidate's overall score; "
                        "the store keeps a running mean per tool, task and subject.</p>"
                        "<table><thead><tr><th>tool</th><th>task, subject</th><th>score</th><th>as</th></tr>"
                        f"</thead><tbody>{rows}</tbody></table>{human}")

    def why_nothing_learned(self) -> str:
        learn_from, weight = self.settings.get("learn_from"), self.settings.get("learning_weight")
        if self.state.get("cancelled"):
            return "the run was cancelled"
        if not self.scores:
            return "no candidate was judged"
        if self.intent is not None and self.intent.subject == UNKNOWN_SUBJECT:
            return "the subject is unknown, and strengths are kept per subject"
        if learn_from == "none":
            return 'learning is off (learn_from is "none")'
        if weight is not None and float(weight) <= 0:
            return "learning_weight is 0"
        if learn_from != "any" and not any(ev.decided_by == "mllm" for ev in self.scores.values()):
            said = 'learn_from is "mllm"' if learn_from == "mllm" else 'learn_from is "mllm" by default'
            return (f"the candidates were judged by frame statistics, and {said}: only MLLM-judged runs teach "
                    'the store (set learn_from to "any" to learn from these too)')
        return "no update was recorded"

    def settings_section(self) -> str:
        if not self.settings:
            return _section("settings", "Settings in force",
                            "<p>The settings in force were not passed to the report; "
                            "<code>spagent config</code> shows them and where each came from.</p>")
        sources = self.run.setting_sources if self.run else {}
        changed = [key for key in self.settings if sources.get(key, "default") != "default"]
        marks = {key: ' class="changed"' for key in changed}
        rows = [f"<tr{marks.get(key, '')}><th>{esc(key)}</th>"
                f"<td>{esc(value_in_words(value))} <small>{esc(sources.get(key, 'default'))}</small></td></tr>"
                for key, value in self.settings.items()]
        half = (len(rows) + 1) // 2  # two short tables side by side read faster than one long one
        tables = "".join(f'<table class="settings"><tbody>{"".join(part)}</tbody></table>'
                         for part in (rows[:half], rows[half:]) if part)
        summary = f"{len(self.settings)} settings, {len(changed)} changed from the default"
        summary += f": {', '.join(changed)}" if changed else ""
        return _section("settings", "Settings in force", f"<details><summary>{esc(summary)}</summary>"
                        f'<div class="grid-2">{tables}</div></details>')

    def manifest_section(self) -> str:
        manifest = self.state.get("manifest")
        if manifest is None:
            why = "the run was cancelled" if self.state.get("cancelled") else "the run stopped before its end"
            return _section("manifest", "What made these videos",
                            f"<p>No manifest: {why}. Each file a step wrote still carries its own.</p>")
        env = manifest.environment
        versions = ", ".join(f"{name} {version}" for name, version in env.packages.items() if version)
        gpus = "; ".join(f"{g.name} ({g.memory_gib:g} GiB)" for g in env.gpus) or "none"
        rows = [("Python", env.python), ("libraries", versions), ("GPU", gpus),
                ("driver / CUDA", f"{env.driver or '-'} / {env.cuda or '-'}"),
                ("MLLM", f"{manifest.mllm.model or '-'} at {manifest.mllm.url}" if manifest.mllm.url else "none")]
        steps = []
        for candidate in manifest.candidates:
            for step in candidate.steps:
                made = step.made_with
                weights = "; ".join(f"{w.model}" + (f" @ {w.revision[:12]}" if w.revision else "") +
                                    f" ({len(w.files)} files)" for w in made.weights) or "-"
                options = ", ".join(f"{k}={v}" for k, v in step.options.items() if v is not None)
                steps.append(f"<tr><td>{esc(candidate.id)} {step.index + 1}</td><td>{esc(step.tool)}</td>"
                             f"<td>{esc(made.pipeline or made.adapter)} {esc(str(made.dtype or ''))} "
                             f"{esc(made.device or '')}</td><td>{esc(weights)}</td><td>{esc(options)}</td>"
                             f"<td>{esc(step.acceleration or 'plain')}</td></tr>")
        table = ('<table class="mllm"><thead><tr><th>step</th><th>tool</th><th>pipeline, dtype, device</th>'
                 '<th>weights</th><th>options after fitting</th><th>levers</th></tr></thead>'
                 f'<tbody>{"".join(steps)}</tbody></table>')
        facts = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
        return _section("manifest", "What made these videos",
                        f"<details><summary>the manifest: {len(steps)} steps, {esc(versions)}</summary>"
                        f'<table class="settings"><tbody>{facts}</tbody></table>{table}'
                        f"<p><code>spagent replay {esc(str(manifest.run_folder or self.out_dir))}</code> makes them again; "
                        f"<code>report.json</code> and <code>manifest.json</code> hold it whole, and each "
                        f"file carries its own.</p></details>")
