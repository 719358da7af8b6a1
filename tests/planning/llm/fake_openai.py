"""A scripted OpenAI-compatible chat-completions server on 127.0.0.1, for fault injection.

Each request takes the next behaviour from a queue: an HTTP error status, a malformed body, a
slow answer, or a well-formed answer that calls the request's output tool (``submit_*``) with
canned arguments. With the queue empty it answers well. Requests are recorded with their time.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.planning.llm.helpers import DEFAULTS


@dataclass
class Behaviour:
    """What to do with one request."""

    kind: str = "ok"  # ok | status | malformed | slow
    status: int = 200
    delay: float = 0.0
    answer: dict[str, Any] | None = None


OK = Behaviour()


def status(code: int) -> Behaviour:
    return Behaviour("status", status=code)


def malformed() -> Behaviour:
    return Behaviour("malformed")


def slow(seconds: float) -> Behaviour:
    return Behaviour("slow", delay=seconds)


def answer(args: dict[str, Any]) -> Behaviour:
    return Behaviour("ok", answer=args)


@dataclass
class FakeServer:
    """The server's script and what it saw."""

    script: list[Behaviour] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def next(self, body: dict[str, Any]) -> Behaviour:
        with self.lock:
            self.requests.append(body)
            self.times.append(time.monotonic())
            return self.script.pop(0) if self.script else OK


def completion(body: dict[str, Any], args: dict[str, Any] | None) -> dict[str, Any]:
    """A chat completion that calls the request's output tool."""
    tools = [t["function"]["name"] for t in body.get("tools", [])]
    tool = next((t for t in tools if t.startswith("submit_")), tools[0] if tools else "none")
    arguments = json.dumps(args if args is not None else DEFAULTS.get(tool, {}))
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake"),
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": tool, "arguments": arguments},
                        }
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60},
    }


def _handler(state: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return None

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            behaviour = state.next(body)
            if behaviour.kind == "status":
                error = {"error": {"message": f"scripted {behaviour.status}", "type": "x"}}
                self._send(behaviour.status, json.dumps(error).encode())
                return
            if behaviour.kind == "malformed":
                self._send(200, b'{"id": "chatcmpl-broken", "choices": [')
                return
            if behaviour.kind == "slow":
                time.sleep(behaviour.delay)
            self._send(200, json.dumps(completion(body, behaviour.answer)).encode())

        def _send(self, code: int, payload: bytes) -> None:
            try:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                pass

    return Handler


@contextmanager
def fake_openai_server(*script: Behaviour) -> Iterator[FakeServer]:
    """Serve ``script`` on a free port of 127.0.0.1 while the block runs."""
    state = FakeServer(script=list(script))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
