"""Tiny stand-ins for the ltx2_hunyuan15 checkpoints of the tool library (see _tiny.py for the rules they follow)."""

from __future__ import annotations

from ._base import DemoSpec

TINY: dict[str, DemoSpec] = {}
