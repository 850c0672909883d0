"""The AWS Signature Version 4 steps that the signed HEADs (blobs/head.py) and the presigned
URLs (blobs/s3.py) share: the signing key, derived once a day, and the signature of a canonical
request. Each caller builds its own canonical request, and checks once that what it signs is
botocore's own, to the byte.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import SplitResult

ALGORITHM = "AWS4-HMAC-SHA256"


class S3Signer:
    """Signs canonical requests to one region's S3, with the signing key of the last secret and
    day it was asked for (a key serves a whole UTC day, and deriving it costs four HMACs)."""

    def __init__(self, region: str) -> None:
        self.region = region
        self._key: tuple[str, str, bytes] | None = None  # (secret, day, signing key)

    def scope(self, day: str) -> str:
        """The credential scope of a day (``YYYYMMDD``), without the access key."""
        return f"{day}/{self.region}/s3/aws4_request"

    def signature(self, secret: str, stamp: str, canonical: str) -> str:
        """The hex signature of ``canonical`` at ``stamp`` (``YYYYMMDDTHHMMSSZ``)."""
        day = stamp[:8]
        # Read once: another thread may put another day's key (or another secret's) in its
        # place meanwhile.
        cached = self._key
        if cached is None or cached[0] != secret or cached[1] != day:
            key = hmac.digest(f"AWS4{secret}".encode(), day.encode(), "sha256")
            for part in (self.region, "s3", "aws4_request"):
                key = hmac.digest(key, part.encode(), "sha256")
            cached = self._key = (secret, day, key)
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        to_sign = f"{ALGORITHM}\n{stamp}\n{self.scope(day)}\n{digest}"
        return hmac.new(cached[2], to_sign.encode(), "sha256").hexdigest()


def signed_host(endpoint: SplitResult) -> str:
    """The host of an endpoint as botocore signs it: lower case, without a default port."""
    host = endpoint.hostname or ""
    if ":" in host:  # IPv6
        host = f"[{host}]"
    if endpoint.port is not None and endpoint.port != {"http": 80, "https": 443}.get(
        endpoint.scheme
    ):
        host += f":{endpoint.port}"
    return host
