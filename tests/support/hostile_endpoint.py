"""A hostile AWS endpoint for tests: a real socket server on 127.0.0.1, in a thread, that
reads each request (so it can count them by AWS action) and then misbehaves in one way:

- `hang`: never answers; the connection stays open until the server stops;
- `reset`: answers with a TCP reset (SO_LINGER 0, then close);
- `drip`: sends a 200's headers, then one byte of the body a second, for ever;
- `html-200`: a captive portal's page with status 200;
- `html-500`: a proxy's error page (`<!DOCTYPE html>`, so not botocore's `<html>` check);
- `broken-xml`: a 200 STS answer holding an AccessKeyId, SecretAccessKey and SessionToken,
  cut off before the document ends (Content-Length says the full length);
- `truncated-json`: a 200 Secrets Manager or SSM answer holding a secret value, cut off
  before the document ends (Content-Length says the full length);
- `incomplete`: a well-formed 200 answer without what the call promises: STS Credentials
  without a SessionToken (the SecretAccessKey is there), a secret without SecretString or
  SecretBinary, an SSM answer without Parameters.

The drip, broken-xml and truncated-json bodies are the answer the operation asked for (STS,
Secrets Manager or SSM, chosen from the request), so what arrives holds the PLANTED_*
values: a test proves they never reach any output.

    with HostileEndpoint("drip") as endpoint:
        env["AWS_ENDPOINT_URL_STS"] = endpoint.url
        ...
        assert endpoint.count("AssumeRoleWithWebIdentity") == 2
"""
from __future__ import annotations

import json
import socket
import struct
import threading
import time
import urllib.parse

MODES = ("hang", "reset", "drip", "html-200", "html-500", "broken-xml", "truncated-json", "incomplete")

PLANTED_ACCESS_KEY_ID = "ASIAHOSTILE0KEY0ID00"
PLANTED_SECRET_ACCESS_KEY = "hostile/Secret+Access0Key0Planted0In0Body"
PLANTED_SESSION_TOKEN = "hostileSessionTokenPlantedInTheBody" + "x" * 60
PLANTED_SECRET_VALUE = "hostile-planted-s3cret-value-0042"
PLANTED = (PLANTED_SECRET_ACCESS_KEY, PLANTED_SESSION_TOKEN, PLANTED_SECRET_VALUE)

HTML_PAGE = (b"<!DOCTYPE html>\n<html><head><title>Sign in to the network</title></head>"
             b"<body><form action=\"/login\"><input name=\"user\"></form></body></html>\n")


class HostileEndpoint:
    def __init__(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {', '.join(MODES)}")
        self.mode = mode
        self.actions: list[str | None] = []   # the AWS action of every request read, in order
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._connections: list[socket.socket] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._thread = threading.Thread(target=self._accept_loop, name=f"hostile-{mode}", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._listener.getsockname()[:2]
        return f"http://{host}:{port}"

    def count(self, action: str | None = None) -> int:
        with self._lock:
            return sum(1 for a in self.actions if action is None or a == action)

    def start(self) -> HostileEndpoint:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close alone does not)
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            _close_quietly(connection)
        self._thread.join(timeout=5)

    def __enter__(self) -> HostileEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- serving ---------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return  # the listener was closed: stop() was called
            with self._lock:
                self._connections.append(connection)
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        try:
            while not self._stopped.is_set():
                request = _read_request(connection)
                if request is None:
                    return
                headers, body = request
                action = _action_of(headers, body)
                with self._lock:
                    self.actions.append(action)
                if not self._misbehave(connection, headers, action):
                    return
        except OSError:
            pass  # the client went away: that is its right
        finally:
            _close_quietly(connection)

    def _misbehave(self, connection: socket.socket, headers: dict[str, str], action: str | None) -> bool:
        """Answer one request the hostile way; True if the connection may carry another."""
        if self.mode == "hang":
            self._stopped.wait()
            return False
        if self.mode == "reset":
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            connection.close()
            return False
        if self.mode == "drip":
            content_type, body = _answer_for(headers, action)
            connection.sendall(_head(200, content_type, len(body) + 100_000))
            for byte in body + b" " * 100_000:
                if self._stopped.wait(1.0):
                    return False
                connection.sendall(bytes([byte]))
            return False
        if self.mode in ("html-200", "html-500"):
            status = 200 if self.mode == "html-200" else 500
            connection.sendall(_head(status, "text/html; charset=utf-8", len(HTML_PAGE)) + HTML_PAGE)
            return True
        if self.mode == "incomplete":
            content_type, body = _answer_for(headers, action, complete=False)
            connection.sendall(_head(200, content_type, len(body)) + body)
            return True
        # broken-xml / truncated-json: the document the client asked for, cut off after the
        # secrets; the headers promise the whole of it, then the connection closes.
        content_type, body = _answer_for(headers, action)
        cut = body[: _cut_point(body)]
        connection.sendall(_head(200, content_type, len(body)) + cut)
        connection.shutdown(socket.SHUT_WR)
        return False


def _read_request(connection: socket.socket) -> tuple[dict[str, str], bytes] | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    headers = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length") or 0)
    while len(body) < length:
        chunk = connection.recv(65536)
        if not chunk:
            return None
        body += chunk
    return headers, body


def _action_of(headers: dict[str, str], body: bytes) -> str | None:
    target = headers.get("x-amz-target")
    if target:
        return target.rsplit(".", 1)[-1]
    return dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace"))).get("Action")


def _head(status: int, content_type: str, length: int) -> bytes:
    reason = {200: "OK", 500: "Internal Server Error"}[status]
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\n"
            f"x-amzn-RequestId: 00000000-0000-0000-0000-hostile00000\r\n\r\n").encode()


def _answer_for(headers: dict[str, str], action: str | None, complete: bool = True) -> tuple[str, bytes]:
    """The well-formed answer to `action`, holding the planted values; without what the
    call promises (SecretString, Parameters, the SessionToken) unless `complete`."""
    if action in ("BatchGetSecretValue", "GetSecretValue"):
        entry = {"ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/api-AbCdEf",
                 "Name": "app/api", "SecretString": PLANTED_SECRET_VALUE, "VersionId": "v1",
                 "VersionStages": ["AWSCURRENT"], "CreatedDate": time.time()}
        if not complete:
            del entry["SecretString"]
        document = {"SecretValues": [entry], "Errors": []} if action == "BatchGetSecretValue" else entry
        return "application/x-amz-json-1.1", json.dumps(document).encode()
    if action in ("GetParametersByPath", "GetParameters"):
        parameter = {"Name": "/app/API_TOKEN", "Type": "SecureString", "Value": PLANTED_SECRET_VALUE,
                     "Version": 1, "ARN": "arn:aws:ssm:us-east-1:123456789012:parameter/app/API_TOKEN"}
        document = {"Parameters": [parameter], "InvalidParameters": []} if complete else {}
        return "application/x-amz-json-1.1", json.dumps(document).encode()
    expiration = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    session_token = f"<SessionToken>{PLANTED_SESSION_TOKEN}</SessionToken>" if complete else ""
    operation = "AssumeRole" if action == "AssumeRole" else "AssumeRoleWithWebIdentity"  # STS's two
    web_identity = operation == "AssumeRoleWithWebIdentity"
    return "text/xml", (
        f'<{operation}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        f"<{operation}Result>"
        + ("<SubjectFromWebIdentityToken>hostile</SubjectFromWebIdentityToken>" if web_identity else "")
        + "<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/dev-role/hostile</Arn>"
        "<AssumedRoleId>AROAHOSTILE:hostile</AssumedRoleId></AssumedRoleUser>"
        f"<Credentials><AccessKeyId>{PLANTED_ACCESS_KEY_ID}</AccessKeyId>"
        f"<SecretAccessKey>{PLANTED_SECRET_ACCESS_KEY}</SecretAccessKey>"
        f"{session_token}"
        f"<Expiration>{expiration}</Expiration></Credentials>"
        + ("<Audience>sts.amazonaws.com</Audience>" if web_identity else "")
        + f"</{operation}Result>"
        "<ResponseMetadata><RequestId>hostile</RequestId></ResponseMetadata>"
        f"</{operation}Response>").encode()


def _cut_point(body: bytes) -> int:
    """Just after the last planted value the body holds: the secrets arrive, the end does not."""
    ends = [body.find(value.encode()) + len(value) for value in PLANTED if value.encode() in body]
    return max(ends) + 3


def _close_quietly(connection: socket.socket) -> None:
    try:
        connection.close()
    except OSError:
        pass
