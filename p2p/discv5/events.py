"""What the discv5 core reports (`Discv5Protocol.take_events()`)."""

from __future__ import annotations

from dataclasses import dataclass

from p2p.discv5.messages import Pong, TalkResp
from p2p.enr import Enr


@dataclass(frozen=True, slots=True)
class RequestCompleted:
    handle: int
    response: Pong | tuple[Enr, ...] | TalkResp


@dataclass(frozen=True, slots=True)
class RequestFailed:
    handle: int
    reason: str


@dataclass(frozen=True, slots=True)
class LookupCompleted:
    handle: int
    enrs: tuple[Enr, ...]


@dataclass(frozen=True, slots=True)
class EnrDiscovered:
    enr: Enr


Event = RequestCompleted | RequestFailed | LookupCompleted | EnrDiscovered
