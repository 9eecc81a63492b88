"""``Guard``: what every request passes before it reaches a route.

- With a token configured, a request must carry it: ``Authorization: Bearer TOKEN``, or
  the ``torchsystem_token`` cookie (HttpOnly, SameSite=Strict) that a browser gets by
  posting the token to ``/login`` (the form a browser is shown with its ``401``);
  anything else is ``401``, ``/docs`` and unknown paths included. The token never
  travels in a URL, so it stays out of access logs.
- Without a token (a loopback server), the ``Host`` must be a loopback name (a page
  elsewhere cannot reach the server through DNS rebinding), and a ``POST`` or ``DELETE``
  sent by a browser must come from the server's own pages (its ``Origin``).
- A request body is read whole, up to ``max_body`` bytes; a larger one is ``413``.

An ASGI middleware rather than a route dependency, so that nothing escapes it.
"""

import hmac
import html
import ipaddress
import json
from urllib.parse import parse_qs, urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["COOKIE", "Guard", "is_loopback"]

COOKIE = "torchsystem_token"
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, without port) is this machine only."""
    if host.lower() in ("localhost", "localhost.", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _hostname(value: str) -> str:
    return urlsplit(f"//{value}").hostname or ""


class Guard:
    """The token, host, origin and body-size checks above, around ``app``.

    Example:
        >>> from fastapi import FastAPI
        >>> app = FastAPI()
        >>> app.add_middleware(Guard, token=None, max_body=65536)
        >>> is_loopback("::1"), is_loopback("0.0.0.0")
        (True, False)
    """

    def __init__(self, app: ASGIApp, *, token: str | None, max_body: int) -> None:
        self.app, self.token, self.max_body = app, token, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1"): value.decode("latin-1")
                   for key, value in scope["headers"]}
        body = b""
        if scope["method"] in _UNSAFE:
            found = await _read(receive, headers, self.max_body)
            if found is None:
                await _answer(send, 413, f"the request body is larger than {self.max_body} "
                              "bytes", headers)
                return
            body, receive = found, _replay(found)
        if self.token is not None and scope["path"] == "/login" and scope["method"] == "POST":
            offered = parse_qs(body.decode("latin-1")).get("token", [""])[0]
            if hmac.compare_digest(offered.encode(), self.token.encode()):
                await _login(send, self.token)
                return
        refusal = self._refusal(scope["method"], headers)
        if refusal is not None:
            await _answer(send, *refusal, headers)
            return
        await self.app(scope, receive, send)

    def _refusal(self, method: str, headers: dict[str, str]) -> tuple[int, str] | None:
        if self.token is not None:
            return None if self._authorized(headers) else (401, (
                "this server needs its token: send 'Authorization: Bearer TOKEN' (a browser "
                "posts it to /login)"))
        host = _hostname(headers.get("host", ""))
        if not is_loopback(host):
            return 403, (f"Host {host!r} is not this machine's loopback name; this server "
                         "without a token answers only to 127.0.0.1, ::1 or localhost")
        origin = headers.get("origin")
        if method in _UNSAFE and origin is not None and _hostname(
                urlsplit(origin).netloc) != host:
            return 403, f"a {method} from {origin} is refused: only this server's own pages"
        return None

    def _authorized(self, headers: dict[str, str]) -> bool:
        assert self.token is not None
        token = self.token.encode()
        scheme, _, credentials = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
                credentials.strip().encode("latin-1"), token):
            return True
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE and hmac.compare_digest(value.encode("latin-1"), token):
                return True
        return False


async def _read(receive: Receive, headers: dict[str, str], limit: int) -> bytes | None:
    """The whole body, or ``None`` when it exceeds ``limit`` bytes (said or sent)."""
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


_FORM = (
    "<!doctype html><meta charset=utf-8><title>torchsystem: token needed</title>"
    "<form method=post action=/login><p>{detail}</p><label>Token <input type=password "
    "name=token autofocus></label> <button>Open</button></form>"
)


async def _answer(send: Send, status: int, detail: str, request: dict[str, str]) -> None:
    """An error response: JSON ``{"detail": ...}``; a form to type the token for a
    browser that gets a 401."""
    headers: list[tuple[bytes, bytes]] = []
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    if status == 401 and "text/html" in request.get("accept", ""):
        body = _FORM.format(detail=html.escape(detail)).encode()
        headers.append((b"content-type", b"text/html; charset=utf-8"))
    else:
        body = json.dumps({"detail": detail}).encode()
        headers.append((b"content-type", b"application/json"))
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _login(send: Send, token: str) -> None:
    """Set the token's cookie and send the browser to the page without the token."""
    cookie = f"{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/"
    headers: list[tuple[bytes, bytes]] = [
        (b"location", b"/"), (b"set-cookie", cookie.encode("latin-1")),
        (b"content-length", b"0"), (b"cache-control", b"no-store")]
    await send({"type": "http.response.start", "status": 303, "headers": headers})
    await send({"type": "http.response.body", "body": b""})
