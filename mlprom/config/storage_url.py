"""Parsing and validating `storage.url` (s3://bucket/prefix, file:///abs, ./rel) without touching the network."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from mlprom.errors import ConfigError

_BUCKET_CHARS = re.compile(r"^[a-z0-9.-]+$")


@dataclass(frozen=True)
class StorageURL:
    scheme: str  # "s3" or "file"
    bucket: str | None  # s3 only
    prefix: str  # s3: key prefix without trailing slash ("" for the bucket root)
    path: Path | None  # file only, absolute

    def __str__(self) -> str:
        if self.scheme == "s3":
            return f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        return str(self.path)


def bucket_name_problem(name: str) -> str | None:
    """Why `name` is not a valid S3 bucket name (general purpose bucket rules), or None."""
    if not 3 <= len(name) <= 63:
        return "must be 3 to 63 characters long"
    if not _BUCKET_CHARS.match(name):
        bad = sorted({c for c in name if not re.match(r"[a-z0-9.-]", c)})
        return (
            "may contain only lowercase letters, digits, dots and hyphens (found "
            + " ".join(repr(c) for c in bad)
            + ")"
        )
    if not (name[0].isalnum() and name[-1].isalnum()):
        return "must begin and end with a letter or digit"
    if ".." in name:
        return "must not contain two adjacent dots"
    try:
        ipaddress.IPv4Address(name)
        return "must not be formatted as an IP address"
    except ValueError:
        pass
    for bad_prefix in ("xn--", "sthree-", "amzn-s3-demo-"):
        if name.startswith(bad_prefix):
            return f"must not start with {bad_prefix!r}"
    for bad_suffix in ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"):
        if name.endswith(bad_suffix):
            return f"must not end with {bad_suffix!r}"
    return None


def parse_storage_url(url: str, base_dir: Path | None = None) -> StorageURL:
    """Parse a storage URL; relative paths resolve against `base_dir` (default: the working directory)."""
    from mlprom.redact import redact_url

    if not url or not url.strip():
        raise ConfigError("storage.url is empty")
    url = url.strip()
    # Messages show the URL without credentials, whatever else is wrong with it.
    shown = redact_url(url)
    if "\x00" in url:
        raise ConfigError(f"storage.url {shown!r} contains a NUL character")
    if url.startswith("s3:") or "://" in url:
        try:
            parts = urlsplit(url)
        except ValueError:
            raise ConfigError(f"storage.url {shown!r} is not a valid URL") from None
        if "@" in parts.netloc:
            raise ConfigError(
                f"storage.url {shown!r}: credentials do not belong in the URL; "
                "use the AWS credential chain (environment, profile, instance role)"
            )
        if parts.scheme == "s3":
            if not url.startswith("s3://"):
                raise ConfigError(f"storage.url {shown!r} is not an S3 URL: expected s3://BUCKET[/PREFIX]")
            bucket = parts.netloc
            if not bucket:
                raise ConfigError(f"storage.url {shown!r} names no bucket: expected s3://BUCKET[/PREFIX]")
            problem = bucket_name_problem(bucket)
            if problem:
                raise ConfigError(f"storage.url {shown!r}: bucket name {bucket!r} is invalid: it {problem}")
            return StorageURL("s3", bucket, parts.path.strip("/"), None)
        if parts.scheme == "file":
            if parts.netloc not in ("", "localhost"):
                raise ConfigError(f"storage.url {shown!r}: file URLs take no host (file:///abs/path)")
            return StorageURL("file", None, "", Path(parts.path).resolve())
        raise ConfigError(
            f"storage.url {shown!r}: unsupported scheme {parts.scheme!r} (use s3://, file:// or a path)"
        )
    path = Path(url).expanduser()
    if not path.is_absolute():
        path = (base_dir or Path.cwd()) / path
    return StorageURL("file", None, "", path.resolve())
