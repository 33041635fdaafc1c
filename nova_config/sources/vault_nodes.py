"""A request's way through Vault's nodes: what stops a node, and why none answered.

VAULT_ADDR may list a cluster's nodes. Each request tries them in turn (the one that last
answered first), round after round until one answers or the deadline passes; this module holds
what that walk records and what sys/health's codes say of a node.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from nova_config.sources.common import shown_url

if TYPE_CHECKING:
    from nova_config.sources.vault_config import VaultConfig

# sys/health's codes for a node that cannot serve: a standby, a performance or DR secondary, a
# standby cut off from the active node. A KV read rarely answers them, but a proxy in front of
# one node may; each moves a cluster's walk on to the next node, as 5xx and sealed do.
STANDBY_STATUSES = frozenset({429, 472, 473, 474})
# What sys/health's codes say of a node.
HEALTH = {
    429: "a standby",
    472: "a disaster-recovery secondary",
    473: "a performance standby",
    474: "a standby cut off from the active node",
    501: "not initialised",
    503: "sealed",
}
# The longest pause between two rounds through a cluster's nodes (an election takes ~2 s).
MAX_CLUSTER_PAUSE = 0.4


class Failure(NamedTuple):
    """Why one try got no answer, and whether another try could help."""

    cause: str
    final: bool = False
    refused: bool = False  # a redirect that is not followed


@dataclass
class Walk:
    """One request's way through the nodes: those still worth trying, and why each failed."""

    live: list[str]
    rounds: int = 0
    attempts: int = 0
    causes: dict[str, tuple[str, str]] = field(default_factory=dict)  # node: (cause, state)
    refused: dict[str, str] = field(default_factory=dict)  # node: the redirect refused

    def note(self, node: str, cause: str, state: str, *, final: bool = False) -> None:
        """Why a node gave no answer; a final reason (sealed, TLS, a redirect) drops it."""
        self.causes[node] = (cause, state)
        if final:
            self.live.remove(node)

    def pause(self, cluster: bool) -> float:
        """How long to wait before the next round: doubling from 0.2 s, briefer for a cluster."""
        pause: float = 0.2 * 2.0 ** (self.rounds - 1)
        return min(pause, MAX_CLUSTER_PAUSE) if cluster else pause


def walk_failed(config: VaultConfig, walk: Walk, deadline: float) -> str:
    """Why no node answered a request: each node's last reason, the attempts (the cause of a
    StoreUnavailableError, after the address)."""
    tries = f"{walk.attempts} attempt" + ("s" if walk.attempts != 1 else "")
    if deadline - time.monotonic() <= 0:
        tries += f"; the {config.deadline:g} s deadline (NOVA_VAULT_DEADLINE) has passed"
    if len(config.nodes) == 1:
        node = config.nodes[0]
        if node in walk.refused:
            return walk.refused[node]
        cause, state = walk.causes.get(node, ("", "unreachable"))
        return f"{state} ({cause or 'no answer'}; {tries})"
    states = {state for _, state in walk.causes.values()}
    state = states.pop() if len(states) == 1 else "unreachable"
    causes = "; ".join(
        f"{shown_url(node)}: {walk.causes[node][0] if node in walk.causes else 'not tried'}"
        for node in config.nodes
    )
    return f"{state} ({causes}; {tries})"


__all__ = ["HEALTH", "MAX_CLUSTER_PAUSE", "STANDBY_STATUSES", "Failure", "Walk", "walk_failed"]
