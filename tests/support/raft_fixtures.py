"""The HA fixture: a 3-node OpenBao raft cluster, started once per session, stopped by PID."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fixtures import running
from tests.support.openbao_raft import RaftCluster


@pytest.fixture(scope="session")
def raft_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RaftCluster]:
    """Three OpenBao nodes in one raft cluster, KV v2 at secret/, all voters."""
    with running(lambda: RaftCluster(tmp_path_factory.mktemp("openbao-raft"))) as cluster:
        yield cluster
