"""AWS Signature Version 4 on Prometheus requests (Amazon Managed Service for Prometheus), by botocore.

Imported only when `prometheus.sigv4` is configured, so botocore and boto3 stay out of every other run.
The signature covers the bytes requests sends: method, URL with its query, and the body.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import requests

from mlprom.errors import ConfigError, UpstreamError

if TYPE_CHECKING:
    from botocore.credentials import Credentials

    from mlprom.config.schema import SigV4

# Headers the signature covers besides host and x-amz-date: what a proxy may add or change
# (Connection, Accept-Encoding, User-Agent) is left out, as AWS's own clients do.
_SIGNED = ("Content-Type",)
_SET_BY_SIGNER = ("Authorization", "X-Amz-Date", "X-Amz-Security-Token")
ROLE_SESSION_NAME = "mlprom"


def _canonical_url(url: str) -> str:
    # botocore signs the query as written; AWS decodes it and re-encodes each part with %20 for a space
    # and "~" unescaped. Sending it in that form makes the two the same for any value (a "+" from
    # requests' encoding of a space would otherwise not match).
    parts = urlsplit(url)
    if not parts.query:
        return url
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    return urlunsplit(parts._replace(query=urlencode(pairs, quote_via=quote, safe="-_.~")))


class SigV4Auth(requests.auth.AuthBase):
    """Signs each prepared request (also each retry and redirect hop, with a fresh timestamp)."""

    def __init__(self, credentials: Credentials, region: str, service: str) -> None:
        self.credentials = credentials
        self.region = region
        self.service = service

    def __call__(self, prepared: requests.PreparedRequest) -> requests.PreparedRequest:
        from botocore.auth import SigV4Auth as Signer
        from botocore.awsrequest import AWSRequest

        body = prepared.body
        if isinstance(body, str):
            # Encode once here, so the bytes hashed are the bytes sent (requests sends a str as Latin-1).
            body = body.encode("utf-8")
            prepared.body = body
        if body is not None and not isinstance(body, bytes):
            raise TypeError("SigV4 signs a request body given as bytes, not a stream")
        prepared.url = _canonical_url(str(prepared.url))
        for name in _SET_BY_SIGNER:
            prepared.headers.pop(name, None)
        headers = {name: prepared.headers[name] for name in _SIGNED if name in prepared.headers}
        signed = AWSRequest(method=prepared.method, url=prepared.url, data=body or b"", headers=headers)
        frozen = self.credentials.get_frozen_credentials()  # refreshes assumed-role credentials
        Signer(frozen, self.service, self.region).add_auth(signed)
        for name in _SET_BY_SIGNER:
            if name in signed.headers:
                prepared.headers[name] = signed.headers[name]
        return prepared


def _assumed_role(source: Any, sigv4: SigV4) -> Credentials:
    """Credentials of `sigv4.role_arn`, assumed with STS and refreshed before they expire."""
    import boto3
    from botocore.credentials import RefreshableCredentials
    from botocore.exceptions import BotoCoreError, ClientError

    sts = boto3.session.Session(botocore_session=source).client("sts", region_name=sigv4.region)

    def fetch() -> dict[str, str]:
        try:
            answer = sts.assume_role(RoleArn=sigv4.role_arn, RoleSessionName=ROLE_SESSION_NAME)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise UpstreamError(
                f"prometheus.sigv4.role_arn {sigv4.role_arn}: STS AssumeRole refused: "
                f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
            ) from None
        except BotoCoreError as exc:
            raise UpstreamError(
                f"prometheus.sigv4.role_arn {sigv4.role_arn}: STS AssumeRole: {exc}"
            ) from None
        issued = answer["Credentials"]
        return {
            "access_key": issued["AccessKeyId"],
            "secret_key": issued["SecretAccessKey"],
            "token": issued["SessionToken"],
            "expiry_time": issued["Expiration"].isoformat(),
        }

    return RefreshableCredentials.create_from_metadata(fetch(), fetch, "assume-role")


def sigv4_auth(sigv4: SigV4, get_session: Callable[[], Any] | None = None) -> SigV4Auth:
    """The signer of `sigv4`, with credentials from botocore's chain (environment, AWS_PROFILE and the
    shared files, web identity, container and instance roles), and `role_arn` assumed from them.

    ConfigError (exit 2) when the chain finds no credentials or cannot read its configuration.
    """
    import botocore.session
    from botocore.exceptions import BotoCoreError

    session = (get_session or botocore.session.get_session)()
    try:
        credentials = session.get_credentials()
    except BotoCoreError as exc:
        # botocore's messages name the profile or the variable, never a secret.
        raise ConfigError(f"prometheus.sigv4: cannot read AWS credentials: {exc}") from None
    if credentials is None:
        raise ConfigError(
            "prometheus.sigv4: no AWS credentials found (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "AWS_PROFILE or a shared credentials file, a web identity token, a container or instance role)"
        )
    if sigv4.role_arn:
        credentials = _assumed_role(session, sigv4)
    return SigV4Auth(credentials, sigv4.region, sigv4.service)
