"""The shapes of the MLLM's answers; their JSON schemas go out with every question.

Enumerations use the paper's exact words, so a constrained decoder can only
produce values the planner understands.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .state import Subject, Task, TextType, VisualType

__all__ = ["AlignmentAnswer", "IntentAnswer", "JudgeAnswer", "NextTaskAnswer", "SubjectAnswer", "TypesAnswer"]


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TypesAnswer(_Answer):
    text_type: TextType
    visual_type: VisualType
    subject: Subject


class AlignmentAnswer(_Answer):
    aligned: Literal["Yes", "No"]


class SubjectAnswer(_Answer):
    """The one question of the default planner when there is nothing to align."""

    subject: Subject


class IntentAnswer(_Answer):
    """The one question of the default planner for text with a visual input."""

    subject: Subject
    aligned: Literal["Yes", "No"]


class NextTaskAnswer(_Answer):
    next_task: Task | Literal["done"]


class RouteAnswer(_Answer):
    tasks: list[Task] = Field(min_length=1, max_length=4)


class JudgeAnswer(_Answer):
    visual_aesthetics: int = Field(ge=1, le=10)
    physical_plausibility: int = Field(ge=1, le=10)
    visual_alignment: int = Field(ge=1, le=10)
    motion_alignment: int = Field(ge=1, le=10)
    overall: int = Field(ge=1, le=20)
    rationale: str = Field(max_length=400)
