"""A local OpenAI-compatible chat completions server for tests and benchmarks, on 127.0.0.1 only.

It responds to POST /v1/chat/completions with a valid instruction JSON, after `latency_s`. A test can
queue faults for the next requests (`fail_next`) or for the requests of one pair (`fail_pair`,
keyed by the fingerprint of the pair's two image URLs), and reads back what the server saw:
every request, its pair fingerprint, the Authorization header, and the peak concurrency.

Faults: "429" (with Retry-After), "500", "timeout" (answers after `delay` seconds), "malformed"
(reply text that is not JSON), "fenced" (valid JSON in a code fence), "schema" (JSON missing
fields), "invalid_body" (HTTP body that is not JSON), "empty_choices", "null_message" (a choice
whose message is null), "decline", "401" and "400" (with `body` as the error message).
"""

import hashlib
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PROMPT_TOKENS = 1200
COMPLETION_TOKENS = 60


@dataclass
class Fault:
    kind: str
    retry_after: float | None = None
    delay: float = 0.0
    body: str = ""


@dataclass
class SeenRequest:
    fingerprint: str
    repair: bool
    authorization: str
    model: str
    started: float
    body: dict = field(repr=False)


def fingerprint(source_url: str, target_url: str) -> str:
    """Identify a pair by the image URLs the client sent."""
    return hashlib.sha256(f"{source_url}\n{target_url}".encode()).hexdigest()[:16]


def request_fingerprint(body: dict) -> str:
    content = body["messages"][0]["content"]
    if isinstance(content, str):
        return "no-images"
    urls = [part["image_url"]["url"] for part in content if part.get("type") == "image_url"]
    return fingerprint(*urls[:2]) if len(urls) >= 2 else "no-images"


def answer_for(fingerprint_value: str) -> dict:
    """The valid reply the server gives for a pair."""
    return {
        "instruction": f"Raise the left arm of person {fingerprint_value[:6]}",
        "edit_type": "pose",
        "subject": "person",
        "caption_before": "A person standing with arms down.",
        "caption_after": "A person standing with the left arm raised.",
        "declined": False,
        "decline_reason": None,
    }


class FakeOpenAIServer:
    """Start with `with FakeOpenAIServer(latency_s=0.2) as server:`; `server.base_url` goes into params."""

    def __init__(self, latency_s: float = 0.0):
        self.latency_s = latency_s
        self.requests: list[SeenRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._global_faults: list[Fault] = []
        self._pair_faults: dict[str, list[Fault]] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> "FakeOpenAIServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail_next(self, *faults: Fault) -> None:
        """Serve these faults to the next requests, whatever their pair."""
        with self._lock:
            self._global_faults.extend(faults)

    def fail_pair(self, pair_fingerprint: str, *faults: Fault) -> None:
        """Serve these faults, in order, to the next requests of one pair."""
        with self._lock:
            self._pair_faults.setdefault(pair_fingerprint, []).extend(faults)

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()
            self.max_in_flight = 0

    def requests_per_pair(self) -> Counter:
        return Counter(seen.fingerprint for seen in self.requests)

    def _next_fault(self, pair_fingerprint: str) -> Fault | None:
        with self._lock:
            if self._global_faults:
                return self._global_faults.pop(0)
            queued = self._pair_faults.get(pair_fingerprint)
            return queued.pop(0) if queued else None

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Without TCP_NODELAY, Nagle's algorithm and delayed ACKs add about 40 ms to each reply.
            disable_nagle_algorithm = True

            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                with server._lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    self._answer(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _answer(self, body: dict) -> None:
                pair = request_fingerprint(body)
                seen = SeenRequest(pair, len(body["messages"]) > 1, self.headers.get("Authorization", ""),
                                   body.get("model", ""), time.monotonic(), body)
                with server._lock:
                    server.requests.append(seen)
                time.sleep(server.latency_s)
                fault = server._next_fault(pair)
                status, payload, headers = _respond(fault, pair, body.get("model", ""))
                self._send(status, payload, headers)

            def _send(self, status: int, payload: bytes, headers: dict) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

        return Handler


def _completion(model: str, content: str | None, choices: bool = True) -> bytes:
    message = {"role": "assistant", "content": content}
    body = {
        "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}] if choices else [],
        "usage": {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS,
                  "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS},
    }
    return json.dumps(body).encode()


def _error(status: int, message: str, kind: str) -> bytes:
    return json.dumps({"error": {"message": message, "type": kind, "code": None}}).encode()


def _respond(fault: Fault | None, pair: str, model: str) -> tuple[int, bytes, dict]:
    """Return status, body and headers for a request, given the fault to serve (or None)."""
    answer = json.dumps(answer_for(pair))
    if fault is None:
        return 200, _completion(model, answer), {}

    kind = fault.kind
    if kind == "429":
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        return 429, _error(429, "Rate limit reached, retry later", "rate_limit_error"), headers
    if kind == "500":
        return 500, _error(500, "The server had an error", "server_error"), {}
    if kind == "401":
        return 401, _error(401, fault.body or "Incorrect API key provided", "invalid_request_error"), {}
    if kind == "400":
        return 400, _error(400, fault.body or "Invalid request", "invalid_request_error"), {}
    if kind == "timeout":
        time.sleep(fault.delay)
        return 200, _completion(model, answer), {}
    if kind == "malformed":
        return 200, _completion(model, '{"instruction": "Raise the arm", "edit_type": '), {}
    if kind == "fenced":
        return 200, _completion(model, f"Here is the JSON:\n```json\n{answer}\n```"), {}
    if kind == "schema":
        return 200, _completion(model, json.dumps({"instruction": "Raise the arm"})), {}
    if kind == "invalid_body":
        return 200, b"<html>upstream proxy error</html>", {}
    if kind == "empty_choices":
        return 200, _completion(model, None, choices=False), {}
    if kind == "null_message":
        body = json.loads(_completion(model, None))
        body["choices"][0]["message"] = None
        return 200, json.dumps(body).encode(), {}
    if kind == "decline":
        declined = {"declined": True, "decline_reason": "the frames show two different scenes"}
        return 200, _completion(model, json.dumps(declined)), {}
    raise ValueError(f"unknown fault kind {kind!r}")
