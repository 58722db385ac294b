"""The config's TLS settings win over REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE, against a loopback HTTPS server with a
self-signed certificate; with no TLS settings, those variables still name the CA bundle."""

from __future__ import annotations

import datetime as dt
import os
import ssl
import threading
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from mlprom.clients.http import build_session, request
from mlprom.config import HTTPEndpoint, TLSConfig
from mlprom.errors import UpstreamError

ENV_VARS = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def _self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by its own key: (cert.pem, key.pem)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    """(https URL, the server's own certificate, another unrelated CA certificate)."""
    cert, key = _self_signed(tmp_path, "server")
    other, _ = _self_signed(tmp_path, "other")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", cert, other
    finally:
        server.shutdown()
        server.server_close()


def _get(url: str, tls: TLSConfig) -> int:
    session = build_session(HTTPEndpoint(tls=tls), "prometheus")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # urllib3's InsecureRequestWarning for insecure_skip_verify
        return request(session, "GET", url + "/", "Prometheus", 3.0).status_code


@pytest.mark.parametrize("variable", ENV_VARS)
def test_the_configured_ca_file_wins_over_the_environment_bundle(
    variable: str, tls_server: tuple[str, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, cert, other = tls_server
    monkeypatch.setenv(variable, str(other))
    assert _get(url, TLSConfig(ca_file=str(cert))) == 200


@pytest.mark.parametrize("variable", ENV_VARS)
def test_insecure_skip_verify_wins_over_the_environment_bundle(
    variable: str, tls_server: tuple[str, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _, other = tls_server
    monkeypatch.setenv(variable, str(other))
    assert _get(url, TLSConfig(insecure_skip_verify=True)) == 200


@pytest.mark.parametrize("variable", ENV_VARS)
def test_without_tls_settings_the_environment_bundle_is_used(
    variable: str, tls_server: tuple[str, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, cert, other = tls_server
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, str(cert))
    assert _get(url, TLSConfig()) == 200
    monkeypatch.setenv(variable, str(other))
    with pytest.raises(UpstreamError, match="TLS handshake or verification failed"):
        _get(url, TLSConfig())


@pytest.mark.parametrize("key", ["ca_file", "cert_file"])
def test_a_tls_file_that_is_a_fifo_is_a_config_error_naming_it(key: str, tmp_path: Path) -> None:
    from mlprom.errors import ConfigError

    fifo = tmp_path / "ca.pem"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match=rf"prometheus\.tls\.{key} {fifo}: is a FIFO, not a regular file"):
        build_session(HTTPEndpoint(tls=TLSConfig(**{key: str(fifo)})), "prometheus")
