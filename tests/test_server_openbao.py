"""The OpenBao test servers themselves: health, audit counting, KV, AppRole, sealing, Kubernetes."""

from __future__ import annotations

import os
import uuid

import hvac
import pytest
from hvac import exceptions

from tests.support.openbao import OpenBao, SealedOpenBao, http_json
from tests.support.tokenreview import KubernetesReviewer


def unique(prefix: str) -> str:
    """A path no other test writes, so the session server's state never couples tests."""
    return f"{prefix}/{uuid.uuid4().hex[:12]}"


def test_server_is_running_healthy_and_unsealed(openbao: OpenBao) -> None:
    os.kill(openbao.pid, 0)  # raises if the process is gone
    health = openbao.client().sys.read_health_status(method="GET")
    assert health["initialized"] is True
    assert health["sealed"] is False
    assert openbao.client().is_authenticated()
    assert not openbao.client(token="not-a-token").is_authenticated()
    assert openbao.addr == f"http://127.0.0.1:{openbao.port}"


def test_audit_log_counts_one_read_per_kv2_read(openbao: OpenBao) -> None:
    path = unique("nova-aetus")
    assert openbao.write_kv2(path, {"ALPACA_API_KEY": "AKFIRST"}) == 1
    assert openbao.write_kv2(path, {"ALPACA_API_KEY": "AKSECOND"}) == 2
    client = openbao.client()
    mark = openbao.audit_mark()

    secret = client.secrets.kv.v2.read_secret_version(path, raise_on_deleted_version=True)

    assert secret["data"]["data"] == {"ALPACA_API_KEY": "AKSECOND"}
    assert secret["data"]["metadata"]["version"] == 2
    reads = openbao.requests_since(mark, path_prefix="secret/data/", operation="read")
    assert [entry["request"]["path"] for entry in reads] == [f"secret/data/{path}"]
    # Nothing else reached the server: one HTTP request, one counted entry.
    assert len(openbao.requests_since(mark)) == 1
    assert openbao.requests_since(mark, operation="update") == []
    assert openbao.requests_since(openbao.audit_mark()) == []


def test_kv1_mount_stores_and_serves_secrets(openbao: OpenBao) -> None:
    path = unique("nova-aetus")
    openbao.write_kv1(path, {"TIMESCALE_PASSWORD": "tsdb-pass-kv1"})

    secret = openbao.client().secrets.kv.v1.read_secret(path, mount_point="kv1")

    assert secret["data"] == {"TIMESCALE_PASSWORD": "tsdb-pass-kv1"}
    with pytest.raises(exceptions.InvalidPath):
        openbao.client().secrets.kv.v2.read_secret_version(
            path, mount_point="secret", raise_on_deleted_version=True
        )


def test_approle_token_reads_its_paths_only_and_a_foreign_token_is_denied(
    openbao: OpenBao,
) -> None:
    allowed, other = unique("nova-aetus"), unique("other-app")
    openbao.write_kv2(allowed, {"k": "allowed"})
    openbao.write_kv2(other, {"k": "other"})
    role_id, secret_id = openbao.approle(["secret/data/nova-aetus/*"])
    assert openbao.approle(["secret/data/other-app/*"])[0] != role_id  # roles are distinct

    client = openbao.client(token="")
    login = client.auth.approle.login(role_id=role_id, secret_id=secret_id)
    assert login["auth"]["lease_duration"] == 60
    assert login["auth"]["renewable"] is True
    kv = client.secrets.kv.v2
    assert kv.read_secret_version(allowed, raise_on_deleted_version=True)["data"]["data"] == {
        "k": "allowed"
    }
    with pytest.raises(exceptions.Forbidden):
        kv.create_or_update_secret(allowed, secret={"k": "overwritten"})
    with pytest.raises(exceptions.Forbidden):
        kv.read_secret_version(other, raise_on_deleted_version=True)

    mark = openbao.audit_mark()
    stranger = openbao.client(token=openbao.token(["no-such-policy"]))
    with pytest.raises(exceptions.Forbidden):
        stranger.secrets.kv.v2.read_secret_version(allowed, raise_on_deleted_version=True)
    [denied] = openbao.requests_since(mark, path_prefix="secret/data/", operation="read")
    assert "permission denied" in denied["error"]


def test_sealed_server_reports_sealed_and_refuses_reads(sealed_openbao: SealedOpenBao) -> None:
    client = sealed_openbao.client()
    assert client.sys.is_sealed() is True  # type: ignore[no-untyped-call]
    with pytest.raises(exceptions.VaultDown):
        client.secrets.kv.v2.read_secret_version("nova-aetus/x", raise_on_deleted_version=True)
    status, body = http_json(
        sealed_openbao.port, "GET", "/v1/secret/data/nova-aetus/x", sealed_openbao.root_token
    )
    assert (status, body) == (503, {"errors": ["Vault is sealed"]})
    assert http_json(sealed_openbao.port, "GET", "/v1/sys/health")[0] == 503


def test_kubernetes_login_reads_secrets_and_a_rejected_account_is_refused(
    openbao: OpenBao, kubernetes_reviewer: KubernetesReviewer
) -> None:
    path = unique("nova-aetus")
    openbao.write_kv2(path, {"DISCORD_WEBHOOK_URL": "https://example.invalid/hook"})
    reviews = len(kubernetes_reviewer.reviews)

    client = openbao.client(token="")
    login = client.auth.kubernetes.login(
        kubernetes_reviewer.role,
        kubernetes_reviewer.service_account_jwt(),
        mount_point=kubernetes_reviewer.mount,
    )
    assert login["auth"]["metadata"]["service_account_name"] == "nova-aetus"
    assert login["auth"]["metadata"]["service_account_namespace"] == "trading"
    secret = client.secrets.kv.v2.read_secret_version(path, raise_on_deleted_version=True)
    assert secret["data"]["data"] == {"DISCORD_WEBHOOK_URL": "https://example.invalid/hook"}
    with pytest.raises(exceptions.Forbidden):
        client.secrets.kv.v2.read_secret_version("other-app/x", raise_on_deleted_version=True)

    refused = hvac.Client(url=openbao.addr, token="")
    refused.session.trust_env = False
    rejected_jwt = kubernetes_reviewer.service_account_jwt(name="rejected")
    with pytest.raises(exceptions.Forbidden):
        refused.auth.kubernetes.login(
            kubernetes_reviewer.role, rejected_jwt, mount_point=kubernetes_reviewer.mount
        )
    # Both logins went to the stand-in; the second was refused there, not by the role binding.
    assert len(kubernetes_reviewer.reviews) == reviews + 2
    assert kubernetes_reviewer.reviews[-1]["spec"]["token"] == rejected_jwt
    # A token not signed by the cluster's key never reaches the review.
    header, payload, _ = kubernetes_reviewer.service_account_jwt().split(".")
    with pytest.raises(exceptions.Forbidden):
        refused.auth.kubernetes.login(
            kubernetes_reviewer.role, f"{header}.{payload}.AAAA", mount_point="kubernetes"
        )
    assert len(kubernetes_reviewer.reviews) == reviews + 2
