"""Outstanding requests ("calls") of the discv5 core and who waits for whose handshake (sans-IO).

A call is keyed by its request id; the nonce of the packet that last carried it maps back to it (a
WHOAREYOU names the nonce it answers). Per peer endpoint at most one call drives a handshake (the
`holder`); other calls to that endpoint wait (at most `max_waiting` of them) until the handshake went
out, then are sent under the new session.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from p2p.discv5.config import Address, SessionKey
from p2p.discv5.messages import FindNode, Nodes, Request
from p2p.discv5.routing import log_distance
from p2p.enr import Enr


class Owner(Enum):
    """Who gets the answer: the API caller (an event), a lookup, or the core's own maintenance."""

    USER = "user"
    LOOKUP = "lookup"
    LIVENESS = "liveness"
    ENR_REFRESH = "enr-refresh"


@dataclass(slots=True)
class Call:
    handle: int
    request: Request
    enr: Enr
    addr: Address
    owner: Owner
    lookup: int = 0
    sent_at: float = 0.0
    attempts: int = 0
    nonce: bytes = b""
    handshake_sent: bool = False
    nodes_expected: int = 0
    nodes_seen: int = 0
    enrs: list[Enr] = field(default_factory=list)

    @property
    def node_id(self) -> bytes:
        return self.enr.node_id

    @property
    def key(self) -> SessionKey:
        return (self.enr.node_id, self.addr)

    @property
    def request_id(self) -> bytes:
        return self.request.request_id

    def add_nodes(self, request: FindNode, message: Nodes, local_id: bytes, max_responses: int) -> bool:
        """Take one NODES answer to this FINDNODE (records at the asked distances only); True once the
        announced number of answers (at most `max_responses`) arrived."""
        wanted = set(request.distances)
        for enr in message.enrs:
            if log_distance(enr.node_id, self.node_id) in wanted and enr.node_id != local_id:
                self.enrs.append(enr)
        if self.nodes_seen == 0:
            self.nodes_expected = min(max(message.total, 1), max_responses)
        self.nodes_seen += 1
        return self.nodes_seen >= self.nodes_expected


class CallTable:
    def __init__(self, max_waiting: int) -> None:
        self.max_waiting = max_waiting
        self.calls: dict[bytes, Call] = {}
        self._nonces: dict[bytes, bytes] = {}
        self._handshaking: dict[SessionKey, bytes] = {}
        self._waiting: dict[SessionKey, list[Call]] = {}

    def __len__(self) -> int:
        return len(self.calls)

    def __contains__(self, request_id: bytes) -> bool:
        return request_id in self.calls

    def get(self, request_id: bytes) -> Call | None:
        return self.calls.get(request_id)

    def add(self, call: Call) -> None:
        self.calls[call.request_id] = call

    # ---- nonces ---------------------------------------------------------------------------------
    def sent_with(self, call: Call, nonce: bytes) -> None:
        """`call` went out in the packet with `nonce` (the previous packet's nonce no longer maps)."""
        call.nonce = nonce
        self._nonces[nonce] = call.request_id

    def forget_nonce(self, call: Call) -> None:
        self._nonces.pop(call.nonce, None)

    def by_nonce(self, nonce: bytes) -> Call | None:
        """The call whose packet a WHOAREYOU answers (each nonce answers once)."""
        request_id = self._nonces.pop(nonce, None)
        return self.calls.get(request_id) if request_id is not None else None

    # ---- handshakes -------------------------------------------------------------------------------
    def drives_handshake(self, call: Call) -> None:
        self._handshaking[call.key] = call.request_id

    def handshake_in_progress(self, key: SessionKey) -> bool:
        holder = self._handshaking.get(key)
        return holder is not None and holder in self.calls

    def wait(self, call: Call) -> bool:
        """Queue `call` behind the handshake to its endpoint; False if too many already wait."""
        waiting = self._waiting.setdefault(call.key, [])
        if len(waiting) >= self.max_waiting:
            return False
        waiting.append(call)
        return True

    def requeue(self, call: Call) -> None:
        """Queue behind a handshake without the bound (a call that was already admitted)."""
        self._waiting.setdefault(call.key, []).append(call)

    def stop_waiting(self, call: Call) -> None:
        waiting = self._waiting.get(call.key)
        if waiting is not None and call in waiting:
            waiting.remove(call)

    def handshake_done(self, call: Call) -> list[Call]:
        """`call`'s handshake went out: it no longer holds the endpoint; the live waiters go next."""
        if self._handshaking.get(call.key) == call.request_id:
            del self._handshaking[call.key]
        return [w for w in self._waiting.pop(call.key, []) if w.request_id in self.calls]

    def remove(self, call: Call) -> list[Call]:
        """Forget `call`. If it held a handshake, return the live waiters (each must now try itself)."""
        self.calls.pop(call.request_id, None)
        self._nonces.pop(call.nonce, None)
        if self._handshaking.get(call.key) != call.request_id:
            return []
        del self._handshaking[call.key]
        return [w for w in self._waiting.pop(call.key, []) if w.request_id in self.calls]
