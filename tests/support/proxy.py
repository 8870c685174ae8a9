"""A recording, fault-injecting reverse proxy for tests: a real HTTP server on 127.0.0.1 in
front of the moto server. Point AWS_ENDPOINT_URL at `proxy.url`; every request is recorded
(with its AWS action), and queued faults answer the next matching requests with an AWS-style
error, a dropped connection, or a delay.

    with FaultProxy(moto_endpoint) as proxy:
        proxy.fail(action="AssumeRoleWithWebIdentity", times=2, status=400, code="IDPCommunicationError")
        ... run the CLI with AWS_ENDPOINT_URL=proxy.url ...
        assert proxy.count("AssumeRoleWithWebIdentity") == 3

`FaultProxy(upstream, delay=0.1)` adds 100 ms to every request (a far-away region);
`FaultProxy(upstream, rate_limit=50)` answers Throttling to requests beyond 50 in any one
second (an account's STS quota shared by a fleet booting at once).
"""
from __future__ import annotations

import http.client
import json
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
               "transfer-encoding", "upgrade", "content-length", "host"}


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    action: str | None
    faulted: bool = False
    at: float = field(default_factory=time.monotonic)  # when it arrived

    def json(self) -> Any:
        return json.loads(self.body or b"{}")

    def form(self) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(self.body.decode("utf-8", "replace")))


@dataclass
class Fault:
    action: str | None
    times: int
    status: int
    code: str
    message: str
    drop: bool
    delay: float
    used: int = field(default=0)


def action_of(path: str, headers: dict[str, str], body: bytes) -> str | None:
    """The AWS operation: `X-Amz-Target: service.Operation` (JSON protocols) or `Action=`
    in the query string or form body (query protocols such as STS and IAM)."""
    target = headers.get("x-amz-target")
    if target:
        return target.rsplit(".", 1)[-1]
    query = urllib.parse.urlparse(path).query
    for source in (query, body.decode("utf-8", "replace") if body else ""):
        params = dict(urllib.parse.parse_qsl(source))
        if "Action" in params:
            return params["Action"]
    return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # hundreds of clients connect at once in the fleet simulation

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (a read timeout passed, its process ended) closed the
        connection before a slow answer was written: its right, not an error. Printed, the
        traceback would land in whatever the process's stderr is by then: a later test's
        in-process run, whose output must hold no traceback."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class FaultProxy:
    def __init__(self, upstream: str, delay: float = 0.0, rate_limit: int | None = None) -> None:
        parsed = urllib.parse.urlparse(upstream)
        self.upstream_host = parsed.hostname or "127.0.0.1"
        self.upstream_port = parsed.port or 80
        self.requests: list[RecordedRequest] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self.delay = delay                  # seconds added to every request
        self.rate_limit = rate_limit        # requests per second answered; the rest get Throttling
        self._admitted: list[float] = []    # when the requests of the last second were admitted
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FaultProxy:
        # Polled at 50 ms, not the default 0.5 s: stop() waits for the poll, at the end of
        # every test that uses a proxy (hundreds of them).
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fail(self, action: str | None = None, times: int = 1, status: int = 400, code: str = "Throttling",
             message: str = "injected by the test proxy", drop: bool = False, delay: float = 0.0) -> None:
        """The next `times` requests for `action` (any action if None) get an AWS error
        `code` with HTTP `status`; or, with `drop`, a closed connection; or, with `delay`
        alone, a response that arrives `delay` seconds late."""
        with self._lock:
            self._faults.append(Fault(action, times, status, code, message, drop, delay))

    def count(self, action: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if action is None or r.action == action)

    def calls(self, action: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.action == action]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
            self._faults.clear()

    def _over_rate(self) -> bool:
        """A sliding one-second window over admitted requests: throttled ones do not count,
        as with AWS's quotas."""
        if self.rate_limit is None:
            return False
        now = time.monotonic()
        with self._lock:
            while self._admitted and self._admitted[0] <= now - 1.0:
                self._admitted.pop(0)
            if len(self._admitted) >= self.rate_limit:
                return True
            self._admitted.append(now)
            return False

    def _take_fault(self, action: str | None) -> Fault | None:
        if self._over_rate():
            return Fault(action, 1, 400, "Throttling", "Rate exceeded", drop=False, delay=0.0, used=1)
        with self._lock:
            for fault in self._faults:
                if fault.used < fault.times and (fault.action is None or fault.action == action):
                    fault.used += 1
                    return fault
        return None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                action = action_of(self.path, headers, body)
                if proxy.delay:
                    time.sleep(proxy.delay)
                fault = proxy._take_fault(action)
                with proxy._lock:
                    proxy.requests.append(RecordedRequest(self.command, self.path, headers, body, action,
                                                          faulted=fault is not None and not fault.delay))
                if fault is not None and fault.delay:
                    # A delay is a slow response: forwarded afterwards (or dropped, with drop=True).
                    time.sleep(fault.delay)
                    if not fault.drop:
                        fault = None
                if fault is not None and fault.drop:
                    self.close_connection = True
                    self.connection.close()
                    return
                if fault is not None:
                    self._send_error(fault, headers)
                    return
                self._forward(body)

            def _send_error(self, fault: Fault, headers: dict[str, str]) -> None:
                if "x-amz-target" in headers or "json" in headers.get("content-type", ""):
                    payload = json.dumps({"__type": fault.code, "message": fault.message}).encode()
                    content_type = "application/x-amz-json-1.1"
                else:
                    payload = (f'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>'
                               f"<Type>Sender</Type><Code>{fault.code}</Code><Message>{fault.message}</Message>"
                               f"</Error><RequestId>00000000-test-proxy</RequestId></ErrorResponse>").encode()
                    content_type = "text/xml"
                self.send_response(fault.status)
                self.send_header("Content-Type", content_type)
                self.send_header("x-amzn-ErrorType", fault.code)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _forward(self, body: bytes) -> None:
                connection = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=60)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                    headers["Host"] = f"{proxy.upstream_host}:{proxy.upstream_port}"
                    connection.request(self.command, self.path, body=body, headers=headers)
                    response = connection.getresponse()
                    payload = response.read()
                    self.send_response(response.status)
                    for key, value in response.getheaders():
                        if key.lower() not in _HOP_BY_HOP:
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                finally:
                    connection.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        return Handler
