"""Redaction: URLs and free text with credentials replaced by `***`, before anything reaches a message.

A low module of its own: config, storage, the clients, stdio, inputs, the renderers and the CLI all
redact, and none of them should import an HTTP client to do it.
"""

from __future__ import annotations

import re

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
_TOKEN_END = re.compile(r"[\s'\"<>`]")
# user:password@ without a scheme in front (an invalid URL, a DSN fragment). Not "name:/path@alias":
# an MLflow model URI (models:/churn@champion) names its registered model there, no secret.
_BARE_USERINFO = re.compile(r"(?<![\w/@:.\-])[^\s'\"<>/:@`]+:(?!/)[^\s'\"<>@`]*@(?=[^\s'\"<>@`])")
_SECRET_PARAM = re.compile(
    r"(?i)\b((?:access_?token|id_token|refresh_token|auth_?token|token|password|passwd|pwd|secret|"
    r"client_secret|api_?key|apikey|sig|signature|x-amz-signature|x-amz-credential|"
    r"x-amz-security-token)=)[^&\s'\"<>`]+"
)
_SECRET_HEADER = re.compile(
    r"(?i)\b((?:proxy-)?authorization|x-api-key|api-key|x-auth-token|private-token|cookie|set-cookie)"
    r"(['\"]?\s*[:=]\s*['\"]?)[^'\"\r\n]+"
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]{6,}")


def split_url(url: str) -> tuple[str, str, str, str] | None:
    """scheme://, userinfo (with its @, or ""), host[:port], rest (path, query, fragment)."""
    match = _SCHEME.match(url)
    if not match:
        return None
    scheme = match.group(0)
    rest = url[match.end() :]
    before_query = re.split(r"[?#]", rest, maxsplit=1)[0]
    at = before_query.rfind("@")
    userinfo = ""
    if at >= 0:
        head = before_query[:at]
        # user:pw@host is userinfo even when the password holds a "/" (an invalid URL); an "@" further
        # along a path without any ":" before it is part of the path.
        if "/" not in head or ":" in head:
            userinfo, rest = rest[: at + 1], rest[at + 1 :]
    end = re.search(r"[/?#]", rest)
    host, tail = (rest[: end.start()], rest[end.start() :]) if end else (rest, "")
    return scheme, userinfo, host, tail


def redact_url(url: str) -> str:
    """The URL without user:password@, query string and fragment (tokens live there too).

    Works on anything: an invalid URL (bad port, stray characters, a password with "/" or "@") loses its
    credentials just the same; text that is no URL at all goes through `redact_text`.
    """
    text = str(url)
    parts = split_url(text)
    if parts is None:
        return redact_text(text.split("?", 1)[0].split("#", 1)[0])
    scheme, _, host, tail = parts
    path = re.split(r"[?#]", tail, maxsplit=1)[0]
    return f"{scheme}{host}{path}"


def redact_text(text: str) -> str:
    """Free text (an error message, an answer's body) with URL userinfo, token parameters, Authorization
    and similar header values and Bearer/Basic credentials replaced by `***`."""
    out: list[str] = []
    pos = 0
    for match in _SCHEME.finditer(text):
        if match.start() < pos:
            continue
        end = _TOKEN_END.search(text, match.end())
        stop = end.start() if end else len(text)
        token = text[match.start() : stop]
        parts = split_url(token)
        out.append(text[pos : match.start()])
        if parts is not None and parts[1]:
            scheme, _, host, tail = parts
            token = f"{scheme}***@{host}{tail}"
        out.append(token)
        pos = stop
    out.append(text[pos:])
    result = "".join(out)
    result = _BARE_USERINFO.sub("***@", result)
    result = _SECRET_PARAM.sub(r"\1***", result)
    result = _SECRET_HEADER.sub(r"\1\2***", result)
    return _BEARER.sub(r"\1 ***", result)


def printable(text: str, limit: int = 300) -> str:
    """Upstream text fit for one message line: whitespace collapsed, control characters dropped, capped."""
    flat = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    flat = redact_text(flat)
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
