"""The redirect policy over generated Locations: a GET is followed exactly when the target keeps the first URL's
scheme, host and port; a POST, PUT or DELETE never; every refusal names the Location without credentials."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlprom.clients.http import MAX_REDIRECTS, Answer, _redirect_target, split_credentials
from mlprom.errors import UpstreamError

FIRST = "http://prom.example:9090/api/v1/query"
SECRET = "loc-secret-8"

schemes = st.sampled_from(["http", "https", "HTTP", "ftp"])
hosts = st.sampled_from(["prom.example", "PROM.example", "other.example", "127.0.0.1", "[::1]"])
ports = st.sampled_from(["", ":9090", ":80", ":443", ":9091"])
userinfo = st.sampled_from(["", f"eve:{SECRET}@", "eve@"])
paths = st.sampled_from(["/", "/api/v1/query", "/a/b?token=" + SECRET, "/x#frag"])


@st.composite
def locations(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        return draw(paths)  # relative: same origin
    return f"{draw(schemes)}://{draw(userinfo)}{draw(hosts)}{draw(ports)}{draw(paths)}"


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or (443 if scheme == "https" else 80)


def _answer(code: int, location: str) -> Answer:
    return Answer(code, "Moved", {"location": location}, b"", FIRST)


@given(code=st.sampled_from([301, 302, 303, 307, 308]), location=locations())
def test_a_get_follows_only_to_its_own_scheme_host_and_port(code: int, location: str) -> None:
    target = urljoin(FIRST, location)
    same = urlsplit(target).scheme.lower() in ("http", "https") and _origin(target) == _origin(FIRST)
    if same:
        followed = _redirect_target(_answer(code, location), "GET", FIRST, FIRST, 0, "Prometheus")
        assert followed == split_credentials(target)[0]
        assert followed is not None and "@" not in followed.split("?")[0]
    else:
        with pytest.raises(UpstreamError, match="another scheme, host or port") as caught:
            _redirect_target(_answer(code, location), "GET", FIRST, FIRST, 0, "Prometheus")
        assert SECRET not in str(caught.value)


@given(
    code=st.sampled_from([301, 302, 303, 307, 308]),
    location=locations(),
    method=st.sampled_from(["POST", "PUT", "DELETE", "post"]),
)
def test_a_request_with_a_body_is_never_followed(code: int, location: str, method: str) -> None:
    with pytest.raises(UpstreamError, match=f"never follows a redirect of a {method.upper()}") as caught:
        _redirect_target(_answer(code, location), method, FIRST, FIRST, 0, "Alertmanager")
    assert SECRET not in str(caught.value)
    assert f"redirected (HTTP {code})" in str(caught.value)


def test_the_hop_after_the_last_allowed_one_is_refused() -> None:
    answer = _answer(302, "/again")
    assert _redirect_target(answer, "GET", FIRST, FIRST, MAX_REDIRECTS - 1, "X") is not None
    with pytest.raises(UpstreamError, match=f"more than {MAX_REDIRECTS} redirects"):
        _redirect_target(answer, "GET", FIRST, FIRST, MAX_REDIRECTS, "X")
