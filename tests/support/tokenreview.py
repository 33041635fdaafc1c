"""A local Kubernetes TokenReview stand-in, and Kubernetes auth on a dev server that uses it."""

from __future__ import annotations

import base64
import http.server
import json
import secrets
import uuid
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.support.certs import self_signed
from tests.support.loopback import HOST, serve, stop_serving
from tests.support.openbao import OpenBao

KUBERNETES_MOUNT = "kubernetes"
KUBERNETES_ROLE = "nova-app"
KUBERNETES_NAMESPACE = "trading"
KUBERNETES_ACCOUNT = "nova-aetus"
# The TokenReview stand-in refuses this service account; the role binds it so the refusal
# demonstrably comes from the review, not from the role's name binding.
REJECTED_ACCOUNT = "rejected"
TOKENREVIEW_PATH = "/apis/authentication.k8s.io/v1/tokenreviews"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, decoded without verifying anything."""
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    if not isinstance(claims, dict):
        raise TypeError("JWT payload is not an object")
    return claims


def _service_account_of(claims: Mapping[str, Any]) -> tuple[str, str, str]:
    """(namespace, name, uid) from legacy or projected service-account claims."""
    projected = claims.get("kubernetes.io")
    if isinstance(projected, dict):
        account = projected.get("serviceaccount", {})
        return projected["namespace"], account["name"], account["uid"]
    prefix = "kubernetes.io/serviceaccount/"
    return (
        claims[prefix + "namespace"],
        claims[prefix + "service-account.name"],
        claims[prefix + "service-account.uid"],
    )


class _TokenReviewServer(http.server.ThreadingHTTPServer):
    """The stand-in's HTTP server; remembers the expected bearer and every review it answered."""

    daemon_threads = True

    def __init__(self, reviewer_jwt: str) -> None:
        super().__init__((HOST, 0), _TokenReviewHandler)
        self.reviewer_jwt = reviewer_jwt
        self.reviews: list[dict[str, Any]] = []


class _TokenReviewHandler(http.server.BaseHTTPRequestHandler):
    """Answers POST /apis/authentication.k8s.io/v1/tokenreviews like a Kubernetes API server."""

    server: _TokenReviewServer

    def do_POST(self) -> None:
        """Review `spec.token`: authenticated unless its service account is REJECTED_ACCOUNT."""
        if self.path != TOKENREVIEW_PATH:
            self._send(404, _status_failure(404, "NotFound", f"no route {self.path}"))
            return
        # A real API server authenticates the reviewer itself before reviewing anything.
        if self.headers.get("Authorization") != f"Bearer {self.server.reviewer_jwt}":
            self._send(401, _status_failure(401, "Unauthorized", "Unauthorized"))
            return
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        spec = body.get("spec", {})
        self.server.reviews.append(body)
        try:
            namespace, name, uid = _service_account_of(_jwt_claims(spec["token"]))
        except (KeyError, IndexError, TypeError, ValueError):
            namespace, name, uid = "", "", ""
        if not name or name == REJECTED_ACCOUNT:
            # What Kubernetes answers for a deleted account's token: no user, an error.
            status: dict[str, Any] = {
                "user": {},
                "error": "[invalid bearer token, service account token has been invalidated]",
            }
        else:
            status = {
                "authenticated": True,
                "user": {
                    "username": f"system:serviceaccount:{namespace}:{name}",
                    "uid": uid,
                    "groups": [
                        "system:serviceaccounts",
                        f"system:serviceaccounts:{namespace}",
                        "system:authenticated",
                    ],
                },
                "audiences": spec.get("audiences") or ["https://kubernetes.default.svc"],
            }
        self._send(
            201,
            {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenReview",
                "metadata": {"creationTimestamp": None},
                "spec": spec,
                "status": status,
            },
        )

    def _send(self, code: int, document: Mapping[str, Any]) -> None:
        payload = json.dumps(document).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: request lines on stderr would clutter pytest's output."""


def _status_failure(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Status",
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


class KubernetesReviewer:
    """Kubernetes auth on the session server, backed by the local TokenReview stand-in.

    Attributes:
        role: the OpenBao role to log in with ("nova-app"), bound to service accounts
            "nova-aetus" and "rejected" in namespace "trading", reading secret/data/nova-aetus/*.
        mount: the auth mount ("kubernetes").
        host: the stand-in's base URL (OpenBao's `kubernetes_host`).
        reviews: every TokenReview request body the stand-in answered, oldest first.
    """

    def __init__(self, openbao: OpenBao) -> None:
        """Start the stand-in and configure the auth method and role on `openbao`."""
        self.role = KUBERNETES_ROLE
        self.mount = KUBERNETES_MOUNT
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        certificate = _self_signed_certificate(self._key)
        self._server = _TokenReviewServer(reviewer_jwt=f"reviewer-{secrets.token_hex(8)}")
        self.host = f"http://{HOST}:{self._server.server_address[1]}"
        self.reviews = self._server.reviews
        self._thread = serve(self._server, "tokenreview-stand-in")

        root = openbao.client()
        try:
            root.sys.enable_auth_method("kubernetes", path=self.mount)
            # pem_keys makes OpenBao check the JWT's signature too, as a real cluster would.
            root.auth.kubernetes.configure(
                kubernetes_host=self.host,
                kubernetes_ca_cert=certificate,
                token_reviewer_jwt=self._server.reviewer_jwt,
                pem_keys=[certificate],
                disable_local_ca_jwt=True,
                mount_point=self.mount,
            )
            policy = openbao.policy("nova-kubernetes", ["secret/data/nova-aetus/*"])
            root.auth.kubernetes.create_role(
                self.role,
                bound_service_account_names=[KUBERNETES_ACCOUNT, REJECTED_ACCOUNT],
                bound_service_account_namespaces=[KUBERNETES_NAMESPACE],
                policies=[policy],
                ttl="60s",
                mount_point=self.mount,
            )
        except BaseException:
            self.stop()
            raise
        finally:
            root.adapter.close()

    def service_account_jwt(
        self, namespace: str = KUBERNETES_NAMESPACE, name: str = KUBERNETES_ACCOUNT
    ) -> str:
        """A legacy service-account token, RS256-signed with the key OpenBao trusts.

        Args:
            namespace: the account's namespace.
            name: the account's name; REJECTED_ACCOUNT ("rejected") fails its TokenReview.

        Returns:
            The compact JWT.
        """
        prefix = "kubernetes.io/serviceaccount/"
        claims = {
            "iss": "kubernetes/serviceaccount",
            prefix + "namespace": namespace,
            prefix + "secret.name": f"{name}-token-x7k2p",
            prefix + "service-account.name": name,
            # The review must echo this uid: OpenBao refuses a login whose uids differ.
            prefix + "service-account.uid": str(
                uuid.uuid5(uuid.NAMESPACE_URL, f"{namespace}/{name}")
            ),
            "sub": f"system:serviceaccount:{namespace}:{name}",
        }
        header = {"alg": "RS256", "typ": "JWT"}
        signing_input = (
            f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        )
        signature = self._key.sign(
            signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256()
        )
        return f"{signing_input}.{_b64url(signature)}"

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        stop_serving(self._server, self._thread)


def _self_signed_certificate(key: rsa.RSAPrivateKey) -> str:
    """A PEM certificate for `key`, valid for a day."""
    certificate = self_signed(key, "nova-config test cluster")
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
