"""The one conversation the four LLM components share, kept within a token budget.

Each component call adds a turn: the prompt it sent and the structured answer it got, stored as a
plain user message and a plain assistant text (the answer's JSON), so any provider accepts the
history whichever component asks next. When the history grows past its budget the oldest turns
are dropped and a one-line digest of each is folded into a running summary that opens the
history. The whole thing serialises to a JSON-ready dict for ``export_memory`` and back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from pydantic_ai.messages import (
    ModelMessage,
    ModelMessagesTypeAdapter,
    ModelRequest,
    ModelResponse,
    TextPart,
    UserPromptPart,
)

from ml_autopilot.log import get_logger
from ml_autopilot.planning.llm.untrusted import bounded

logger = get_logger("planning.llm")

MEMORY_VERSION = 1
CHARS_PER_TOKEN = 4
DIGEST_CHARS = 200
SUMMARY_LINES = 30
SUMMARY_HEADER = "Summary of earlier turns of this conversation (oldest first):"
SUMMARY_ACK = "Noted."


def estimate_tokens(text: str) -> int:
    """A provider-independent token estimate (about four characters per token)."""
    return len(text) // CHARS_PER_TOKEN + 1


@dataclass
class Turn:
    """One component call: what was asked and what was answered."""

    component: str
    prompt: str
    reply: str

    @property
    def tokens(self) -> int:
        return estimate_tokens(self.prompt) + estimate_tokens(self.reply)

    def digest(self) -> str:
        return f"[{self.component}] {bounded(self.reply, DIGEST_CHARS)}"

    def messages(self) -> list[ModelMessage]:
        return [
            ModelRequest(parts=[UserPromptPart(content=self.prompt)]),
            ModelResponse(parts=[TextPart(content=self.reply)]),
        ]


@dataclass
class Conversation:
    """Shared history with trimming; ``max_tokens`` bounds what is sent with each call."""

    max_tokens: int
    turns: list[Turn] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)
    dropped: int = 0

    # ---- use -------------------------------------------------------------------------------
    def messages(self) -> list[ModelMessage]:
        """The history to send with the next call, summary first."""
        history: list[ModelMessage] = []
        if self.summary:
            text = "\n".join([SUMMARY_HEADER, *self.summary])
            history += Turn("summary", text, SUMMARY_ACK).messages()
        for turn in self.turns:
            history += turn.messages()
        return history

    def add(self, component: str, prompt: str, reply: str) -> None:
        """Record a finished call, then trim to the budget."""
        self.turns.append(Turn(component, prompt, reply))
        self.trim()

    @property
    def tokens(self) -> int:
        """Estimated tokens of the history as sent."""
        summary = sum(estimate_tokens(line) for line in self.summary)
        return summary + sum(turn.tokens for turn in self.turns)

    def trim(self) -> None:
        """Drop the oldest turns into the summary until the history fits its budget."""
        while self.turns and self.tokens > self.max_tokens:
            oldest = self.turns.pop(0)
            self.summary.append(oldest.digest())
            self.dropped += 1
            self.summary = self.summary[-SUMMARY_LINES:]
        while self.summary and self.tokens > self.max_tokens:
            self.summary.pop(0)  # even the summary is too long: forget its oldest lines

    # ---- persistence -----------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; ``messages`` is pydantic-ai's own message format."""
        messages: list[ModelMessage] = []
        for turn in self.turns:
            messages += turn.messages()
        return {
            "version": MEMORY_VERSION,
            "max_tokens": self.max_tokens,
            "components": [turn.component for turn in self.turns],
            "messages": ModelMessagesTypeAdapter.dump_python(messages, mode="json"),
            "summary": list(self.summary),
            "dropped": self.dropped,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None, max_tokens: int) -> Conversation:
        """Restore a saved conversation; anything unreadable starts a fresh one (logged)."""
        conversation = cls(max_tokens=max_tokens)
        if not data:
            return conversation
        try:
            if data.get("version") != MEMORY_VERSION:
                raise ValueError(f"memory version {data.get('version')!r}")
            messages = ModelMessagesTypeAdapter.validate_python(data.get("messages", []))
            components = [str(c) for c in data.get("components", [])]
            conversation.turns = _turns(messages, components)
            conversation.summary = [str(line) for line in data.get("summary", [])]
            conversation.dropped = int(data.get("dropped", 0))
        except (ValidationError, ValueError, TypeError, AttributeError) as exc:
            logger.warning("LLM conversation memory not restored (%s); starting afresh", exc)
            return cls(max_tokens=max_tokens)
        conversation.trim()
        return conversation


def _turns(messages: list[ModelMessage], components: list[str]) -> list[Turn]:
    if len(messages) % 2 or len(components) != len(messages) // 2:
        raise ValueError("messages do not pair into turns")
    turns: list[Turn] = []
    for i, component in enumerate(components):
        request, response = messages[2 * i], messages[2 * i + 1]
        if not isinstance(request, ModelRequest) or not isinstance(response, ModelResponse):
            raise ValueError("a turn is not a request followed by a response")
        prompt = "".join(
            p.content
            for p in request.parts
            if isinstance(p, UserPromptPart) and isinstance(p.content, str)
        )
        reply = "".join(p.content for p in response.parts if isinstance(p, TextPart))
        turns.append(Turn(component, prompt, reply))
    return turns
