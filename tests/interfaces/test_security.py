"""Tokens, loopback-only addresses, hosts, origins and body sizes."""

from __future__ import annotations

import pytest

from tests.interfaces._apps import build
from tests.interfaces.conftest import Serve
from torchsystem.interfaces.http import create_app
from torchsystem.interfaces.serve import UnsafeAddress, check_address

TOKEN = "s3cret-token"


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/runs"), ("GET", "/jobs"), ("GET", "/"), ("GET", "/docs"),
    ("GET", "/openapi.json"), ("GET", "/docs/assets/swagger-ui-bundle.js"),
    ("GET", "/no/such/path"), ("POST", "/commands/echo"),
    ("DELETE", "/jobs/0123456789ab"), ("GET", "/jobs/0123456789ab/events"),
])
def test_with_a_token_every_request_without_it_is_401(serve: Serve, method: str,
                                                      path: str) -> None:
    client = serve(build(), token=TOKEN)

    response = client.request(method, path, json={"text": "x"} if method == "POST" else None)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["detail"].startswith("this server needs its token")


def test_a_wrong_token_is_401_and_the_right_one_passes(serve: Serve) -> None:
    client = serve(build(), token=TOKEN)

    wrong = client.get("/runs", headers={"Authorization": "Bearer nope"})
    right = client.get("/runs", headers={"Authorization": f"Bearer {TOKEN}"})
    posted = client.post("/commands/echo", json={"text": "x"},
                         headers={"Authorization": f"bearer {TOKEN}"})

    assert (wrong.status_code, right.status_code, posted.status_code) == (401, 200, 202)


def test_the_token_is_read_from_the_environment(serve: Serve,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCHSYSTEM_TOKEN", TOKEN)
    app = create_app(build())

    assert [m.kwargs["token"] for m in app.user_middleware] == [TOKEN]


def test_an_empty_token_is_refused() -> None:
    with pytest.raises(ValueError, match=r"the token is empty: set \$TORCHSYSTEM_TOKEN"):
        create_app(build(), token="  ")


def test_a_browser_logs_in_with_a_form_and_gets_a_cookie(serve: Serve) -> None:
    client = serve(build(), token=TOKEN)

    page = client.get("/", headers={"Accept": "text/html"})
    refused = client.post("/login", data={"token": "nope"})
    login = client.post("/login", data={"token": TOKEN})
    after = client.get("/runs")

    assert page.status_code == 401
    assert '<form method=post action=/login>' in page.text
    assert refused.status_code == 401
    assert "torchsystem_token" not in refused.headers.get(
        "set-cookie", "")
    assert login.status_code == 303
    assert login.headers["location"] == "/"
    assert "HttpOnly" in login.headers["set-cookie"]
    assert "SameSite=Strict" in login.headers[
        "set-cookie"]
    assert after.status_code == 200  # the client keeps the cookie


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "example.org", "::"])
def test_the_server_refuses_to_listen_beyond_loopback_without_a_token(host: str) -> None:
    with pytest.raises(UnsafeAddress, match=f"refusing to listen on {host} without a token"):
        check_address(host, None)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_needs_no_token(host: str) -> None:
    check_address(host, None)
    check_address("0.0.0.0", TOKEN)


def test_a_foreign_host_header_is_refused_without_a_token(serve: Serve) -> None:
    client = serve(build())

    response = client.get("/runs", headers={"Host": "attacker.example:8000"})

    assert response.status_code == 403
    assert response.json()["detail"].startswith("Host 'attacker.example' is not this machine")


def test_a_cross_site_post_is_refused(serve: Serve) -> None:
    client = serve(build())

    foreign = client.post("/commands/echo", json={"text": "x"},
                          headers={"Origin": "http://evil.example"})
    own = client.post("/commands/echo", json={"text": "x"},
                      headers={"Origin": str(client.base_url)})

    assert foreign.status_code == 403
    assert foreign.json()["detail"] == ("a POST from http://evil.example is refused: only "
                                        "this server's own pages")
    assert own.status_code == 202


def test_a_body_over_the_limit_is_413(serve: Serve) -> None:
    client = serve(build(), max_body=1024)

    declared = client.post("/commands/echo", json={"text": "x" * 2000})
    chunked = client.post("/commands/echo", content=iter([b'{"text": "', b"x" * 2000, b'"}']),
                          headers={"content-type": "application/json"})
    small = client.post("/commands/echo", json={"text": "x" * 500})

    assert declared.status_code == chunked.status_code == 413
    assert declared.json() == {"detail": "the request body is larger than 1024 bytes"}
    assert small.status_code == 202
    assert client.get("/jobs").json()[0]["arguments"]["text"] == "x" * 500
