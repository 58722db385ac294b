"""Alertmanager API v2 client: POST alerts to every configured replica and say what each answered."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlprom.clients.http import redact_url, request
from mlprom.errors import UpstreamError

if TYPE_CHECKING:
    import requests

    from mlprom.config import Config

ALERTS_PATH = "/api/v2/alerts"
BODY_LIMIT = 500  # enough of an error body to see Alertmanager's reason, not a page of HTML


@dataclass(frozen=True)
class Delivery:
    """One replica's answer to one POST."""

    url: str  # redacted: no credentials, no query string
    accepted: bool  # answered 2xx
    status: int | None  # HTTP status; None when it could not be reached
    error: str | None = None  # why it was not accepted (transport failure, or the error body)

    @property
    def reachable(self) -> bool:
        """Reached and answered with something other than a server error after retries."""
        return self.status is not None and self.status < 500

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "accepted": self.accepted, "status": self.status, "error": self.error}


class AlertmanagerClient:
    """Posts to every URL: each replica gets every alert, as Prometheus does, and they deduplicate."""

    def __init__(self, http: requests.Session, urls: list[str], timeout: float = 30.0) -> None:
        self.http = http
        self.urls = [u.rstrip("/") for u in urls]
        self.timeout = timeout

    @classmethod
    def from_config(cls, config: Config) -> AlertmanagerClient:
        from mlprom.clients.http import build_session

        http = build_session(config.alertmanager, "alertmanager")
        return cls(http, list(config.alertmanager.urls), config.alertmanager.timeout)

    def post_alerts(self, body: bytes) -> list[Delivery]:
        """POST the JSON list `body` to every replica; never raises for one replica's failure."""
        return [self._post(url, body) for url in self.urls]

    def _post(self, base: str, body: bytes) -> Delivery:
        url = base + ALERTS_PATH
        shown = redact_url(url)
        try:
            # The HTTP client retries connection errors and 5xx with backoff; what comes back is final.
            response = request(
                self.http,
                "POST",
                url,
                "Alertmanager",
                self.timeout,
                data=body,
                headers={"Content-Type": "application/json"},
            )
        except UpstreamError as exc:
            return Delivery(shown, False, None, str(exc))
        if 200 <= response.status_code < 300:
            return Delivery(shown, True, response.status_code)
        text = " ".join(response.text.split())[:BODY_LIMIT] or response.reason or ""
        return Delivery(
            shown,
            False,
            response.status_code,
            f"Alertmanager at {shown} answered {response.status_code}: {text}",
        )
