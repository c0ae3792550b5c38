"""What the prover node should do next, as a pure function of what L1 says (sans-IO).

The EpochMonitor and claims watcher of Aztec v0.63.1's prover node, folded into one rule:
  * a claim on L1 whose bond provider is us, for the epoch still to be proven, that we are not
    already proving -> StartProving(epoch);
  * otherwise, the oldest unproven epoch E is complete, unclaimed, and we are inside epoch E+1's claim
    window (the only time a claim for E can land without risking a prune) and have not quoted E yet
    -> SendQuote(E, valid_until_slot = last slot of that window).
The driver (node/prover_node/node.py) polls L1 every PROVER_NODE_POLLING_INTERVAL_MS, builds a
`ChainView`, applies the actions and records them in `MonitorState`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from node.l1.rules import ProofClaim, claim_window


@dataclass(frozen=True, slots=True)
class ChainView:
    current_slot: int
    epoch_duration: int
    claim_window: int  # CLAIM_DURATION_IN_L2_SLOTS
    pending_block: int
    proven_block: int
    epoch_to_prove: int | None  # epoch of block proven+1, None when pending == proven
    claim: ProofClaim | None  # None when Rollup.proofClaim is empty

    @property
    def current_epoch(self) -> int:
        return self.current_slot // self.epoch_duration

    @property
    def position_in_epoch(self) -> int:
        return self.current_slot % self.epoch_duration


@dataclass(frozen=True, slots=True)
class SendQuote:
    epoch: int
    valid_until_slot: int


@dataclass(frozen=True, slots=True)
class StartProving:
    epoch: int
    claim: ProofClaim


Action = SendQuote | StartProving


@dataclass
class MonitorState:
    quoted: set[int] = field(default_factory=set)
    proving: set[int] = field(default_factory=set)

    def forget_before(self, epoch: int) -> None:
        """Bounded memory: drop bookkeeping of epochs older than `epoch`."""
        self.quoted = {e for e in self.quoted if e >= epoch}
        self.proving = {e for e in self.proving if e >= epoch}


def decide(view: ChainView, state: MonitorState, me: bytes) -> list[Action]:
    actions: list[Action] = []
    e = view.epoch_to_prove
    claim = view.claim
    if (
        claim is not None
        and claim.bond_provider == me
        and e is not None
        and claim.epoch_to_prove == e
        and e not in state.proving
    ):
        actions.append(StartProving(e, claim))
    window = claim_window(e, view.epoch_duration, view.claim_window) if e is not None else range(0)
    if (
        e is not None
        and view.current_slot in window  # quote valid until the window's last slot
        and (claim is None or claim.epoch_to_prove != e)
        and e not in state.quoted
    ):
        actions.append(SendQuote(e, window[-1]))
    return actions
