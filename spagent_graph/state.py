"""What flows through the graph.

The graph state is a `TypedDict`; every value that needs validation is a
pydantic model defined here, and only these types cross node boundaries.
`candidates` and `evaluations` are written by parallel branches, so their
reducer appends: two routes never overwrite each other. Every reducer also
reads what is written into its type (see `replaced_as`).
"""

from __future__ import annotations

import re
from pathlib import Path
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from langchain_core.messages import AnyMessage
from pydantic import AnyUrl, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator
# pydantic (and so LangGraph's schemas) needs typing_extensions' TypedDict before Python 3.12.
from typing_extensions import TypedDict

from .errors import InputError
from .manifest import RunManifest, StepManifest

__all__ = [
    "DEMO_REQUEST_SIZE",
    "SUBJECTS",
    "TASKS",
    "Candidate",
    "Choice",
    "Evaluation",
    "GenerationOptions",
    "InputState",
    "Intent",
    "MediaInfo",
    "ModelChoice",
    "ModelPlan",
    "Decision",
    "StrengthUpdate",
    "OutputState",
    "AnswerState",
    "Request",
    "RouteJob",
    "RoutePlan",
    "RouteState",
    "State",
    "StepRecord",
    "RequestSubject",
    "Review",
    "Subject",
    "UNKNOWN_SUBJECT",
    "Task",
    "TextType",
    "VisualType",
]

Task = Literal["text_to_video", "text_to_image", "image_to_image", "image_to_video", "video_to_video"]
TASKS: tuple[Task, ...] = ("text_to_video", "text_to_image", "image_to_image", "image_to_video", "video_to_video")
TextType = Literal["None", "natural language text"]
VisualType = Literal["None", "single image", "video"]
Subject = Literal["sports", "transportation", "people", "animals", "objects", "landscapes"]
SUBJECTS: tuple[Subject, ...] = ("sports", "transportation", "people", "animals", "objects", "landscapes")
# A request's subject may also be unknown (no text, or text the classifier cannot place):
# strengths are then read over all subjects, and nothing is learned per subject.
UNKNOWN_SUBJECT = "unknown"
RequestSubject = Literal["sports", "transportation", "people", "animals", "objects", "landscapes", "unknown"]

# Who made a decision: the served MLLM, the MLLM-free planner (used when no MLLM is
# configured, or as the fallback when it fails), the route principles, the capability
# store's ranking, or the classical frame-statistics judge.
DecidedBy = Literal["mllm", "fallback", "principles", "capability_store", "classical", "ablation", "human"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GenerationOptions(_Model):
    """Settings every tool of a run shares; a tool may round them to what it supports."""

    num_frames: int = Field(16, ge=2, le=1024, description="Frames of the final video.")
    height: int = Field(320, ge=16, le=4096, description="Pixel height; tools round to their multiple.")
    width: int = Field(512, ge=16, le=4096, description="Pixel width; tools round to their multiple.")
    fps: int = Field(8, ge=1, le=120, description="Frame rate of written videos.")
    num_inference_steps: int | None = Field(None, ge=1, le=1000, description="None keeps each tool's own default.")
    seed: int = Field(0, ge=0, description="Base seed; both routes use it, so equal work is shared.")


# What `spagent run` asks of the demo tools unless told otherwise: they are tiny random-weight
# models, and at this size a whole run takes seconds on a CPU.
DEMO_REQUEST_SIZE = {"num_frames": 8, "height": 64, "width": 64}

MAX_TEXT_CHARACTERS = 20_000  # far beyond any prompt a video model reads (CLIP: 77 tokens, T5: 226-512)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


class Request(_Model):
    """What the user asks for: text, one visual input (image or video), or both."""

    text: str | None = Field(None, max_length=MAX_TEXT_CHARACTERS, description="What the video should show.")
    image: Path | AnyUrl | None = Field(
        None, description="An image file (or a URL on the allow-list); a multi-frame GIF or a grid of video frames counts as video."
    )
    video: Path | AnyUrl | None = Field(None, description="A video file (MP4, WEBM, animated GIF, ...), or an allowed URL.")
    options: GenerationOptions = Field(default_factory=GenerationOptions)

    def sized_for(self, registry: str) -> Request:
        """The request with the demo tools' small size wherever it leaves the size to its defaults
        (on the demo tools only: the defaults suit real models, and take the tiny ones tens of seconds)."""
        if registry != "demo":
            return self
        unset = {name: value for name, value in DEMO_REQUEST_SIZE.items() if name not in self.options.model_fields_set}
        if not unset:
            return self
        return self.model_copy(update={"options": self.options.model_copy(update=unset)})

    @field_validator("text")
    @classmethod
    def _printable_text(cls, text: str | None) -> str | None:
        # Control characters carry nothing a video model can use, and can hide text from a reviewer.
        return None if text is None else _CONTROL.sub("", text)

    @field_validator("image", "video", mode="before")
    @classmethod
    def _urls_stay_urls(cls, value):
        # A URL string would otherwise pass as a (nonexistent) path; kept as a URL, the
        # inputs stage fetches it only when the run's allow-list names its prefix.
        if isinstance(value, str) and _URL.match(value):
            return AnyUrl(value)
        return value


class MediaInfo(_Model):
    """What a visual input really is, read from its content rather than its name."""

    input_name: Literal["image", "video"]
    path: Path
    kind: Literal["single image", "video"]
    container: str = Field(description="Format found in the content, e.g. PNG, JPEG, GIF, mp4, webm.")
    width: int
    height: int
    frame_count: int
    fps: float | None = None
    grid: tuple[int, int] | None = Field(None, description="(rows, columns) when a still image is a grid of video frames.")


class Intent(_Model):
    """Decoupled intent recognition: input types and subject, and text-visual alignment."""

    text_type: TextType
    visual_type: VisualType
    subject: RequestSubject = Field(description="`unknown` when the text gives too little to tell; tools are then "
                                    "ranked by their strength over all subjects.")
    subject_confidence: float | None = Field(
        None, ge=0, le=1, description="The MLLM-free classifier's confidence in the subject; none when the MLLM decided.")
    aligned: bool = Field(description="True only when text and visual input are both present and agree.")
    types_decided_by: DecidedBy
    alignment_decided_by: DecidedBy
    raw_types_answer: str | None = None
    raw_alignment_answer: str | None = None
    notes: list[str] = Field(default_factory=list)

    @property
    def subject_in_words(self) -> str:
        if self.subject_confidence is None:
            return self.subject
        return f"{self.subject} (confidence {self.subject_confidence:.2f})"


class RoutePlan(_Model):
    """Exactly two routes; each is an ordered list of tasks that ends in a video."""

    routes: tuple[tuple[Task, ...], tuple[Task, ...]]
    decided_by: DecidedBy
    repairs: list[str] = Field(default_factory=list, description="Every change made to an invalid route, and why.")
    raw_answers: list[str] = Field(default_factory=list)


class ModelChoice(_Model):
    task: Task
    tool: str
    strength: float = Field(description="Strength for the request's subject on the 100-2000 scale.")
    rank: int = Field(ge=1, description="1 for the best tool for this task and subject, 2 for the second, ...")
    evidence: dict[str, float] = Field(
        default_factory=dict, description="How many scores of each source (prior, judge, human) the strength is "
        "the mean of; empty: never scored, so the neutral middle of the scale.")
    subject_scored: bool = Field(
        True, description="False when the strength is the tool's mean over all subjects (unknown subject, or none "
        "of its scores are for this one).")


class ModelPlan(_Model):
    routes: tuple[tuple[ModelChoice, ...], tuple[ModelChoice, ...]]
    decided_by: DecidedBy = "capability_store"
    notes: list[str] = Field(default_factory=list)

    def with_note(self, note: str) -> ModelPlan:
        return self.model_copy(update={"notes": [*self.notes, note]})


class StepRecord(_Model):
    index: int
    task: Task
    tool: str
    inputs: dict[str, str] = Field(default_factory=dict, description="prompt and input artifact paths")
    output: Path | None = None
    adjustments: list[str] = Field(default_factory=list, description="How the request was fitted to the tool.")
    seconds: float = 0.0
    reused: bool = Field(False, description="True when an identical earlier step's artifact was reused.")
    acceleration: str | None = Field(None, description="The levers the call used under the run's profile, and why.")
    error: str | None = None
    manifest: StepManifest | None = Field(None, description="What made its file, as the run's manifest keeps it.")


class Candidate(_Model):
    id: str
    route_indices: tuple[int, ...] = Field(description="Routes (0, 1) that this work serves; both when they were identical.")
    tasks: tuple[Task, ...]
    tools: tuple[str, ...]
    seed: int
    steps: list[StepRecord] = Field(default_factory=list)
    video: Path | None = None
    video_url: str | None = Field(None, description="Served: where the run's owner downloads the video.")
    seconds: float = 0.0
    error: str | None = None


class Evaluation(_Model):
    candidate_id: str
    visual_aesthetics: float = Field(ge=1, le=10)
    physical_plausibility: float = Field(ge=1, le=10)
    visual_alignment: float = Field(ge=1, le=10)
    motion_alignment: float = Field(ge=1, le=10)
    overall: float = Field(ge=1, le=20)
    judge: str = Field(description="Which judge scored: the MLLM's model id, or the classical scorer's name.")
    decided_by: DecidedBy
    rationale: str = ""
    notes: list[str] = Field(default_factory=list)
    raw_answer: str | None = Field(None, description="The MLLM judge's raw JSON answer, when it judged.")


class Decision(_Model):
    """One question the MLLM answered, kept whole so it can become training data."""

    stage: Literal["intent", "types_and_subject", "alignment", "next_task", "route", "judge"]
    system: str | None = None
    prompt: str
    visuals: list[tuple[Path, Literal["single image", "video"]]] = Field(
        default_factory=list, description="(path, kind) of each visual shown, in order."
    )
    max_frames: int | None = Field(None, description="Frames per video shown, where videos were shown as frames.")
    answer: str = Field(description="The MLLM's raw JSON answer.")
    candidate_id: str | None = Field(None, description="For a judge decision: the candidate it scored.")
    route_index: int | None = Field(None, description="For a planning decision: the route it planned.")

    @classmethod
    def asked(cls, stage: str, prompt: str, visuals: Sequence[Any], answer: str, **details: Any) -> Decision:
        """A decision from the question as asked; `visuals` are objects with `path` and `kind`."""
        return cls(stage=stage, prompt=prompt, visuals=[(v.path, v.kind) for v in visuals], answer=answer, **details)


class StrengthUpdate(_Model):
    """A score folded into the capability store after a run (learning from use)."""

    tool: str
    task: Task
    subject: Subject
    strength: float = Field(ge=100, le=2000)
    source: Literal["judge", "human"]
    weight: float = Field(gt=0)
    candidate_id: str


class Choice(_Model):
    candidate_id: str | None
    video: Path | None
    video_url: str | None = Field(None, description="Served: where the run's owner downloads the video.")
    overall: float | None
    reason: str


class RouteJob(_Model):
    """One route's work, sent to its own execution branch."""

    candidate_id: str
    route_indices: tuple[int, ...]
    choices: tuple[ModelChoice, ...]
    seed: int


def jsonable(value: Any) -> Any:
    """A state value as JSON-able data: our models dumped, lists of them too."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value


def add_messages(left: Any, right: Any) -> list[AnyMessage]:
    """LangGraph's message reducer, imported on first use: this module is read by the
    command's `--help` and by worker processes, which should not pay for LangGraph."""
    from langgraph.graph.message import add_messages as merge

    return merge(left, right)


Messages = Annotated[list[AnyMessage], add_messages]


class InputState(TypedDict, total=False):
    """A run's input: a `request`, or `messages` whose last human message is a new turn
    (see `spagent_graph.conversation`). `options` are a message turn's generation options;
    a turn without them keeps those of the thread's last request."""

    request: Request
    messages: Messages
    options: GenerationOptions


class RouteState(TypedDict):
    """What one execution branch receives (through LangGraph's `Send`)."""

    job: RouteJob
    request: Request
    visual: MediaInfo | None
    run_id: str


Review = Literal["plan", "winner"]


def replaced_as(key: str, kind: Any):
    """A reducer that keeps the newest value of `key`, checked to be a `kind`.

    Nodes write our types already; a state edit from outside the graph (Studio's
    edit, `update_state` with JSON) writes plain dicts, which are read into our
    types here, or refused with an error naming the key, before any node meets them.
    """
    adapter = TypeAdapter(kind)

    def replace(_current: Any, new: Any) -> Any:
        return _validated(adapter, key, new)

    replace.__name__ = f"replace_{key}"
    return replace


def appended_as(key: str, kind: Any):
    """Like `replaced_as` for a list that parallel branches append to (`operator.add`, checked)."""
    adapter = TypeAdapter(list[kind])

    def append(current: list, new: Any) -> list:
        return [*current, *_validated(adapter, key, new)]

    append.__name__ = f"append_{key}"
    return append


def _validated(adapter: TypeAdapter, key: str, value: Any) -> Any:
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        # Said for a request given as input and for an edit of the state alike: the key, and what is wrong.
        raise InputError(key, f"is not a valid `{key}` of the graph's state:\n{exc}") from None


class State(TypedDict, total=False):
    """A thread's state: its latest run. Each new request on a thread starts a new run
    (`inspect_inputs` gives it a new `run_id` and clears what the run before left); the
    earlier runs stay in the thread's checkpoint history.

    Every key is read into its type when written, so an edit of the state from outside
    (a dict for `visual`, say) is checked like a node's update."""

    request: Annotated[Request, replaced_as("request", Request)]
    run_id: str
    visual: Annotated[MediaInfo | None, replaced_as("visual", MediaInfo | None)]
    intent: Annotated[Intent | None, replaced_as("intent", Intent | None)]
    route_plan: Annotated[RoutePlan | None, replaced_as("route_plan", RoutePlan | None)]
    model_plan: Annotated[ModelPlan | None, replaced_as("model_plan", ModelPlan | None)]
    candidates: Annotated[list[Candidate], appended_as("candidates", Candidate)]
    evaluations: Annotated[list[Evaluation], appended_as("evaluations", Evaluation)]
    choice: Annotated[Choice | None, replaced_as("choice", Choice | None)]
    decisions: Annotated[list[Decision], appended_as("decisions", Decision)]
    strength_updates: Annotated[list[StrengthUpdate], replaced_as("strength_updates", list[StrengthUpdate])]
    cancelled: bool
    report_url: str | None  # served: where the run's owner reads its report
    # The human reviews this run stops for, taken from its context when it starts: a resume
    # that carries another context (or none) still has its answer applied.
    reviews: list[Review]
    # The conversation: every run adds one AI message that answers it (see `spagent_graph.conversation`).
    messages: Messages
    options: Annotated[GenerationOptions | None, replaced_as("options", GenerationOptions | None)]
    turn_message_id: str | None  # the human message the latest run answers
    input_source: str | None  # which input the latest run used, in words
    started_at: float | None  # when the latest run started (seconds since the epoch)
    # What made the latest run's videos (spagent_graph.manifest); `spagent replay` makes them again from it.
    manifest: Annotated[RunManifest | None, replaced_as("manifest", RunManifest | None)]


OutputState = State


class AnswerState(TypedDict, total=False):
    """What a served run returns to its caller: the conversation and the winner in brief. The
    whole state stays the thread's (`threads.get_state`), and its report says the rest."""

    messages: Messages
    choice: Choice | None
    report_url: str | None
    run_id: str
