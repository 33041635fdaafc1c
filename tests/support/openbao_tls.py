"""The OpenBao dev server in `-dev-tls` mode: https only, its certificate from its own dev CA."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from tests.support.openbao import OpenBao, http_json


class TlsOpenBao(OpenBao):
    """The session's dev server in `-dev-tls` mode: https only, certificate from its own dev CA.

    Attributes:
        cert_dir: where the server wrote vault-ca.pem, vault-cert.pem and vault-key.pem.
        ca_path: the dev CA (the certificate is for localhost and 127.0.0.1).
    """

    scheme = "https"

    def __init__(self, workdir: Path) -> None:
        """Start the server with a fresh dev CA; clients made by `client()` trust only it."""
        self.cert_dir = workdir / "tls"
        # bao writes the files into the folder but does not create it.
        self.cert_dir.mkdir(parents=True, exist_ok=True)
        self.ca_path = self.cert_dir / "vault-ca.pem"
        self.verify = str(self.ca_path)
        super().__init__(workdir)

    def _extra_args(self) -> list[str]:
        return ["-dev-tls", f"-dev-tls-cert-dir={self.cert_dir}"]

    def _get_json(self, path: str, token: str | None = None) -> tuple[int, dict[str, Any]]:
        # Until the server has written its CA (or while a failed attempt's CA is still there)
        # this raises an OSError, which the readiness poll treats as "not yet".
        context = ssl.create_default_context(cafile=self.ca_path)
        return http_json(self.port, "GET", path, token, tls=context)
