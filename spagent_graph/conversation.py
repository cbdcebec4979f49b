"""The graph as a chat partner: the request a human message makes, and the AI message that answers a run.

A turn is the last human message of `messages` that the thread has not answered
yet. Its text, and at most one image or video given as a standard content block
(a URL, base64 data or a file path), make the run's request. A follow-up with
no visual of its own takes the thread's last winner as its video, so the
intent stage decides, as for any text with a video, whether to edit that video
or make a new one. Every run, whether it started from `messages` or from
`request`, ends with one AI message: a short answer for a person or a calling
agent, the video as a content block, and the run's result as structured data
in the message's `response_metadata["spagent"]`.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlparse

from langchain_core.messages import AIMessage, HumanMessage
from pydantic import BaseModel, ConfigDict, Field

from .errors import InputError
from .state import Candidate, Choice, GenerationOptions, Request, State

__all__ = ["Attachment", "RunAnswer", "Turn", "answer_message", "read_turn", "turn_options", "turn_request",
           "unanswered_message"]

ONE_TURN = "one turn takes text and at most one image or video"

# Suffixes for data given inline, so that the media reader and later tools see a usual file name.
_SUFFIXES = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp", "image/gif": ".gif",
             "image/bmp": ".bmp", "video/mp4": ".mp4", "video/webm": ".webm", "video/quicktime": ".mov",
             "video/x-matroska": ".mkv"}


@dataclass(frozen=True)
class Attachment:
    """The one visual of a human message, as it was given: a URL or path, or inline bytes."""

    kind: Literal["image", "video"]
    block: int  # its index in the message's content, for error messages
    location: str | None = None
    data: bytes | None = None
    mime_type: str | None = None

    def saved(self, folder: Path, max_bytes: int) -> Path | str:
        """The attachment as a request's `image` or `video`: inline data written to `folder`,
        a `file://` URL as its path, anything else as given (a URL, or a path the input rules read)."""
        if self.data is None:
            assert self.location is not None
            parsed = urlparse(self.location)
            return Path(unquote(parsed.path)) if parsed.scheme == "file" else self.location
        if len(self.data) > max_bytes:
            raise InputError("messages", f"content block {self.block} holds {len(self.data)} bytes of {self.kind}; "
                             f"this graph takes at most {max_bytes} (`max_download_bytes`).")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"message-{self.kind}{_SUFFIXES.get(self.mime_type or '', '')}"
        path.write_bytes(self.data)
        return path


@dataclass(frozen=True)
class Turn:
    """What a human message asks: its text and its visual, if it has one."""

    message_id: str | None
    text: str | None
    attachment: Attachment | None


def unanswered_message(state: State) -> HumanMessage | None:
    """The human message this run answers: the thread's last, unless a run already took it.

    A run given `request` on a thread whose last message is answered runs that
    request; a new human message (from a chat client, a supervisor's handoff,
    A2A or MCP) starts a turn."""
    for message in reversed(state.get("messages") or ()):
        if isinstance(message, HumanMessage):
            return None if message.id and message.id == state.get("turn_message_id") else message
    return None


def read_turn(message: HumanMessage) -> Turn:
    """The text and the one visual of a human message; a block we cannot use, or a second visual, is refused."""
    content = message.content
    blocks: Sequence[Any] = [content] if isinstance(content, str) else content
    texts: list[str] = []
    visuals: list[Attachment] = []
    for index, block in enumerate(blocks, start=1):
        if isinstance(block, str):
            texts.append(block)
            continue
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(str(block.get("text") or ""))
        elif kind in ("image", "video", "file", "image_url", "video_url"):
            visuals.append(_attachment(block, index))
        else:
            raise InputError("messages", f"content block {index} is {_kind_in_words(block)}; {ONE_TURN}.")
    if len(visuals) > 1:
        kinds = " and ".join(f"{'an' if v.kind == 'image' else 'a'} {v.kind}" for v in visuals[:2])
        extra = f" ({len(visuals)} visuals)" if len(visuals) > 2 else ""
        raise InputError("messages", f"the last human message has {kinds}{extra}; {ONE_TURN}. "
                         f"Send them in separate turns.")
    text = " ".join(t.strip() for t in texts if t.strip()) or None
    return Turn(message_id=message.id, text=text, attachment=visuals[0] if visuals else None)


def _attachment(block: dict, index: int) -> Attachment:
    kind = block["type"]
    mime = block.get("mime_type") or block.get("mimeType")
    if kind in ("image_url", "video_url"):  # OpenAI's chat format (and vLLM's for video)
        inner = block.get(kind)
        location = inner.get("url") if isinstance(inner, dict) else inner
        return _from_location(kind.removesuffix("_url"), index, location, mime)
    if kind == "file":
        top = (mime or "").split("/")[0]
        if top not in ("image", "video"):
            raise InputError("messages", f"content block {index} is a file of type {mime or 'unknown'}; {ONE_TURN}.")
        kind = top
    if block.get("file_id"):
        raise InputError("messages", f"content block {index} names a provider's file id "
                         f"({block['file_id']!r}), which this graph cannot read; give a URL, base64 data or a path.")
    # LangChain's standard blocks, and the older ones with `source_type`.
    data = block.get("base64") or (block.get("data") if block.get("source_type") == "base64" else None)
    if data is not None:
        return Attachment(kind, index, data=_decoded(data, index), mime_type=mime)
    return _from_location(kind, index, block.get("url") or block.get("path"), mime)


def _from_location(kind: str, index: int, location: Any, mime: str | None) -> Attachment:
    if not isinstance(location, str) or not location:
        raise InputError("messages", f"content block {index} ({kind}) has no url, base64 data or path.")
    if location.startswith("data:"):
        header, _, payload = location.partition(",")
        mime = header[5:].split(";")[0] or mime
        if ";base64" not in header:
            raise InputError("messages", f"content block {index} is a data URL that is not base64.")
        return Attachment(kind, index, data=_decoded(payload, index), mime_type=mime)
    return Attachment(kind, index, location=location, mime_type=mime or mimetypes.guess_type(location)[0])


def _decoded(data: str, index: int) -> bytes:
    try:
        return base64.b64decode("".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        raise InputError("messages", f"content block {index} has base64 data that does not decode.") from None


def _kind_in_words(block: Any) -> str:
    if not isinstance(block, dict):
        return f"a {type(block).__name__}"
    kind = block.get("type")
    if kind == "audio":
        return "audio"
    return f"a {kind!r} block" if kind else "a block with no type"


class RunAnswer(BaseModel):
    """A run's result in brief, kept in its AI message (`response_metadata["spagent"]`) for programs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str
    made: bool = Field(description="Whether a video was made.")
    video: str | None = Field(None, description="The winner's file (in-process) or its download route (served).")
    report_url: str | None = None
    input: str = Field(description="Which input the run used, in words.")
    winner: str | None = Field(None, description="The winning candidate, e.g. route-2.")
    tools: list[str] = Field(default_factory=list, description="The winner's tools, in the order they ran.")
    overall: float | None = Field(None, description="The judge's overall score of the winner, out of 20.")
    seconds: float | None = None


def answer_message(state: State, *, seconds: float | None, served: bool, name: str = "spagent") -> AIMessage:
    """The AI message that ends a run: what was made and why, the video, and the result in brief."""
    choice: Choice | None = state.get("choice")
    candidates = {c.id: c for c in state.get("candidates", [])}
    winner = candidates.get(choice.candidate_id) if choice and choice.candidate_id else None
    video = choice.video if choice else None
    location = (choice.video_url if served else None) or (str(video) if video else None)
    input_used = state.get("input_source") or "your request"
    if state.get("cancelled"):
        text = f"Nothing was made: {choice.reason if choice else 'the run was cancelled.'}"
    elif video is None:
        text = f"No video was made from {input_used}. {choice.reason if choice else ''}".strip()
    else:
        request = state["request"]
        options = request.options
        text = f"Made a video of {options.num_frames} frames at {options.width}x{options.height} from {input_used}. "
        text += _why(state, choice, winner)
    if location is not None:
        text += f" The video: {location}."  # also for callers that read only text (an A2A client, a model)
    if seconds is not None:
        text += f" Took {seconds:.1f} s."
    summary = RunAnswer(
        run_id=state.get("run_id") or "", made=video is not None, video=location, report_url=state.get("report_url"),
        input=input_used, winner=choice.candidate_id if choice else None, tools=list(winner.tools) if winner else [],
        overall=choice.overall if choice else None, seconds=None if seconds is None else round(seconds, 2))
    content: list[dict] = [{"type": "text", "text": text}]
    if location is not None:
        url = location if served else Path(location).absolute().as_uri()
        content.append({"type": "video", "url": url, "mime_type": "video/mp4",
                        "extras": {"filename": Path(location).name, **({} if served else {"path": location})}})
    return AIMessage(content=content, name=name,
                     response_metadata={"output_version": "v1", "spagent": summary.model_dump(mode="json")})


def _why(state: State, choice: Choice, winner: Candidate | None) -> str:
    """One sentence: which route won, how it made the video, and by what score against the other."""
    how = ""
    if winner is not None:
        route = " → ".join(task.replace("_", " ") for task in winner.tasks)
        how = f" ({route} with {', '.join(winner.tools)})"
    scores = {e.candidate_id: e for e in state.get("evaluations", [])}
    best = scores.get(choice.candidate_id)
    if best is None:
        return f"{choice.candidate_id} won{how}: {choice.reason}"
    picked_by = "you picked it" if "picked by the user" in choice.reason else f"judged by {best.judge}"
    others = ", ".join(f"{e.overall:.1f} for {cid}" for cid, e in scores.items() if cid != choice.candidate_id)
    against = f" against {others}" if others else ", the only candidate"
    return f"{choice.candidate_id} won{how}: {best.overall:.1f}/20{against}, {picked_by}."


def turn_options(state: State, given: GenerationOptions | None) -> GenerationOptions:
    """A message turn's options: given with it, else those of the thread's last request, else the defaults."""
    if given is not None:
        return given
    previous = state.get("request")
    return previous.options if isinstance(previous, Request) else GenerationOptions()


def turn_request(turn: Turn, state: State, *, options: GenerationOptions, folder: Path, max_bytes: int,
                 own_root: Path) -> tuple[Request, str, set[str]]:
    """The request a turn makes, the input it used in words, and which of its inputs are the run's own files
    (inline data written here, the last winner): those are read where they are, not from the input folder."""
    if turn.text is None and turn.attachment is None:
        raise InputError("messages", f"the last human message is empty; {ONE_TURN}.")
    if turn.attachment is not None:
        value = turn.attachment.saved(folder, max_bytes)
        own = {turn.attachment.kind} if turn.attachment.data is not None else set()
        request = Request.model_validate({"text": turn.text, turn.attachment.kind: value, "options": options})
        said = f"your text and {turn.attachment.kind}" if turn.text else f"your {turn.attachment.kind}"
        return request, said, own
    request = Request(text=turn.text, options=options)
    previous = _last_winner(state, own_root, turn.message_id)
    if isinstance(previous, Path):
        return request.model_copy(update={"video": previous}), "your text and the video of the last turn", {"video"}
    if previous is not None:
        return request, f"your text alone ({previous})", set()
    return request, "your text", set()


def _last_turn_failed(messages: Sequence[Any], message_id: str | None) -> bool:
    """Whether the turn before this one got no answer: every run that ends adds an AI message, so a
    human message followed by no AI message before the next is a turn whose run failed."""
    ids = [m.id for m in messages]
    earlier = messages[:ids.index(message_id)] if message_id in ids else messages
    spoken = [m for m in earlier if isinstance(m, (HumanMessage, AIMessage))]
    return bool(spoken) and isinstance(spoken[-1], HumanMessage)


def _last_winner(state: State, own_root: Path, message_id: str | None) -> Path | str | None:
    """The thread's last winning video, or why there is none to refine, or None on a thread's first run.

    The thread's state says it; where the graph keeps no state of its own between turns (a
    node of a supervisor or a swarm), the conversation does: our last AI message names its video."""
    messages = state.get("messages") or []
    if _last_turn_failed(messages, message_id):
        return "the last turn on this thread failed, so there was no video to refine"
    if state.get("run_id"):
        choice = state.get("choice")
        if state.get("cancelled"):
            return "the last run on this thread was cancelled, so there was no video to refine"
        video = choice.video if choice else None
    else:
        said = next((m.response_metadata["spagent"] for m in reversed(messages)
                     if isinstance(m, AIMessage) and isinstance(m.response_metadata.get("spagent"), dict)), None)
        if said is None:
            return None
        video = said.get("video") if said.get("made") else None
    if video is None:
        return "the last run on this thread made no video to refine"
    video = Path(video)
    # Only a file this thread made: an edited state or message must not point a turn at another file of the server.
    if not video.resolve().is_relative_to(own_root.resolve()) or not video.is_file():
        return "the last video of this thread is no longer there"
    return video
