"""Golden-file and Block Kit checks shared by the render tests.

Golden files live in tests/golden/render/; regenerate them after an intended change with
``UPDATE_GOLDEN=1 .venv/bin/pytest tests/deliver/render`` and review the diff.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from slack_sdk.models.blocks import Block

GOLDEN = Path(__file__).parents[2] / "golden" / "render"


def check_golden(name: str, rendered: Any) -> None:
    path = GOLDEN / name
    text = (
        json.dumps(rendered, ensure_ascii=False, indent=2) + "\n"
        if not isinstance(rendered, str)
        else rendered
    )
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == text, f"{name} differs from its golden file"


def validate_blocks(payload: dict[str, Any]) -> None:
    """Every block parses as a slack_sdk model, passes its validators and round-trips."""
    assert len(payload.get("blocks", [])) <= 50
    for raw in payload.get("blocks", []):
        block = Block.parse(raw)
        assert block is not None, raw
        block.validate_json()
        assert block.to_dict() == raw


def mrkdwn_strings(payload: dict[str, Any]) -> list[str]:
    """Every string Slack parses as mrkdwn: the top-level text and mrkdwn text objects."""
    found = [payload["text"]]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(payload.get("blocks", []))
    return found


def control_sequences(text: str) -> list[str]:
    """The ``<...>`` sequences Slack would act on (mentions, channel links, links)."""
    return re.findall(r"<([^<>]*)>", text)
