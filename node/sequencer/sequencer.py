"""Sequencer: each L2 slot, if L1 elects us, build a block from pending txs and publish it.

Per slot (`work_at(ts)`, ts = the timestamp the next L1 block will carry):
1. slot = slot_at(ts); proposer = getProposerAt(ts). 0x0 means anyone: among our devnet sequencers
   the one with `slot % sequencer_count == sequencer_index` proposes, so they do not race.
2. parent = proven tip if canPruneAtTime(ts) else pending tip (like propose does); skip if the parent
   is already in this slot or the archiver has not synced it.
3. take up to `max_txs_per_block` pending txs, convert each to a TxEffect (`node.l2.from_tx`), build
   header/body/archive/blockHash (`node.l2.block.build_block`); inHash = Inbox.getRoot(n) (block 1:
   the empty root); gas fees 0 (non-canonical rollup).
4. committee (getCurrentEpochCommittee at ts) non-empty: gossip a BlockProposal and collect
   attestations; signatures go in committee order, missing ones as empty entries; need 2n/3+1.
5. claim: getClaimableEpoch(); quotes for it from the quote source, drop validUntilSlot < slot,
   `node.l1.rules.check_claim` against the L1 state at ts (signature, fee, bond, escrow deposit,
   claim phase, proposer: the rules interop/test_l1_claim.py checks against the Rollup), then
   eth_call validateEpochProofRightClaimAtTime(ts, quote) from our publisher for the survivors,
   lowest fee wins (stable) -> proposeAndClaim, else propose. With fewer than `min_txs_per_block` txs we do not
   propose but still claim with claimEpochProofRight, so claims do not depend on traffic.
6. mark the included txs mined in the tx source.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import trio

from node.l1 import artifacts as art
from node.l1.client import L1Client
from node.l1.errors import L1RevertError
from node.l1.rpc import Receipt, encode_call
from node.l1.rules import ZERO_ADDRESS, ClaimRejection, check_claim, drop_expired, select_best_quote
from node.l2.block import BlockGlobals, L2Block, build_block
from node.l2.from_tx import tx_to_effect
from node.l2.messages import in_hash
from node.l2.tx_effect import Body, BodyDecodeError
from node.l2.world_state import ChainState
from p2p.pools.quote_pool import EpochProofQuotePool
from p2p.wire.block_attestation import BlockAttestation
from p2p.wire.block_proposal import BlockProposal
from p2p.wire.quote import EpochProofQuote, Signature, address_of
from p2p.wire.serialization import DecodeError
from p2p.wire.tx import Tx

log = logging.getLogger("node.sequencer")

RESULTS_KEPT: Final = 256

EMPTY_SIGNATURE: Final = Signature(0, 0, 0)


class TxSource(Protocol):
    def get_pending_txs(self, limit: int) -> list[Tx]: ...
    def mark_txs_as_mined(self, tx_hashes: Sequence[bytes], block_number: int) -> None: ...


class QuoteSource(Protocol):
    def get_epoch_proof_quotes(self, epoch: int) -> list[EpochProofQuote]: ...


class AttestationCollector(Protocol):
    async def collect(self, proposal: BlockProposal, committee: Sequence[bytes], needed: int,
                      deadline: float) -> dict[bytes, BlockAttestation]: ...


class ChainStateSource(Protocol):
    """The archiver: world state after a synced block, and that block's archive."""

    def chain_state(self, block_number: int) -> ChainState: ...
    def get_block(self, n: int) -> L2Block | None: ...
    def get_l1_to_l2_messages(self, block_number: int) -> list[bytes]: ...


class LocalAttestors:
    """In-process validators (devnet / tests): sign attestations with the given keys."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        self.keys = {address_of(k): k for k in keys}

    async def collect(self, proposal: BlockProposal, committee: Sequence[bytes], needed: int,
                      deadline: float) -> dict[bytes, BlockAttestation]:
        return {a: BlockAttestation.create(proposal.payload, k) for a, k in self.keys.items() if a in committee}


class P2PAttestations:
    """Gossip the proposal through a P2PClient and poll its attestation pool until enough arrive."""

    def __init__(self, p2p: Any, own_keys: Sequence[bytes] = (), poll: float = 0.2) -> None:
        self.p2p = p2p
        self.local = LocalAttestors(own_keys)
        self.poll = poll

    async def collect(self, proposal: BlockProposal, committee: Sequence[bytes], needed: int,
                      deadline: float) -> dict[bytes, BlockAttestation]:
        await self.p2p.broadcast_proposal(proposal)
        got = await self.local.collect(proposal, committee, needed, deadline)
        while len(got) < needed and trio.current_time() < deadline:
            for att in self.p2p.get_attestations_for_slot(proposal.slot_number, proposal.archive):
                try:
                    sender = att.get_sender()
                except DecodeError:
                    continue
                if sender in committee and att.payload == proposal.payload:
                    got[sender] = att
            await trio.sleep(self.poll)
        return got


class P2PSources:
    """TxSource + QuoteSource over the real P2PClient."""

    def __init__(self, p2p: Any) -> None:
        self.p2p = p2p

    def get_pending_txs(self, limit: int) -> list[Tx]:
        return list(self.p2p.get_txs("pending"))[:limit]

    def mark_txs_as_mined(self, tx_hashes: Sequence[bytes], block_number: int) -> None:
        self.p2p.mark_txs_as_mined(tx_hashes, block_number)

    def get_epoch_proof_quotes(self, epoch: int) -> list[EpochProofQuote]:
        return list(self.p2p.get_epoch_proof_quotes(epoch))


@dataclass
class MemorySources:
    """In-process tx + quote source (tests, devnet without libp2p). Quotes live in the same bounded
    `EpochProofQuotePool` as gossip's; the node puts them in through a `QuoteAdmission` (bond in
    escrow, signature domain, caps), see node.components."""

    txs: dict[bytes, Tx] = field(default_factory=dict)
    mined: dict[bytes, int] = field(default_factory=dict)
    quote_pool: EpochProofQuotePool = field(default_factory=EpochProofQuotePool)

    def add_tx(self, tx: Tx) -> None:
        self.txs[tx.tx_hash()] = tx

    def get_pending_txs(self, limit: int) -> list[Tx]:
        return [t for h, t in self.txs.items() if h not in self.mined][:limit]

    def mark_txs_as_mined(self, tx_hashes: Sequence[bytes], block_number: int) -> None:
        for h in tx_hashes:
            self.mined[h] = block_number

    def get_epoch_proof_quotes(self, epoch: int) -> list[EpochProofQuote]:
        return self.quote_pool.get_quotes(epoch)


class SlotOutcome(enum.Enum):
    """What one slot's work came to. Compare members, never their text: `detail` carries the why."""

    PROPOSED = "proposed"
    CLAIMED = "claimed"  # claimEpochProofRight without a block
    NOT_OUR_TURN = "not-our-turn"
    NOT_PROPOSER = "not-proposer"
    SLOT_TAKEN = "slot-taken"
    PARENT_NOT_SYNCED = "parent-not-synced"  # our archiver is behind L1: retried within the slot
    PARENT_ARCHIVE_MISMATCH = "parent-archive-mismatch"  # archiver has another block there: retried too
    NO_TXS = "no-txs"
    NO_ATTESTATION_COLLECTOR = "no-attestation-collector"
    NOT_ENOUGH_ATTESTATIONS = "not-enough-attestations"

    @property
    def skipped(self) -> bool:
        return self not in (SlotOutcome.PROPOSED, SlotOutcome.CLAIMED)

    @property
    def retry_within_slot(self) -> bool:
        return self in (SlotOutcome.PARENT_NOT_SYNCED, SlotOutcome.PARENT_ARCHIVE_MISMATCH)


@dataclass(frozen=True, slots=True)
class SlotResult:
    slot: int
    outcome: SlotOutcome
    detail: str = ""
    block: L2Block | None = None
    quote: EpochProofQuote | None = None
    receipt: Receipt | None = None

    def __str__(self) -> str:
        return f"slot {self.slot}: {self.outcome.value}" + (f" ({self.detail})" if self.detail else "")


def needed_attestations(committee_size: int) -> int:
    return committee_size * 2 // 3 + 1 if committee_size else 0


def signatures_in_committee_order(
    committee: Sequence[bytes], attestations: dict[bytes, BlockAttestation]
) -> list[tuple[bool, int, bytes, bytes]]:
    out = []
    for member in committee:
        att = attestations.get(member)
        sig = att.signature if att is not None else EMPTY_SIGNATURE
        out.append((sig.is_empty, sig.v, sig.r.to_bytes(32, "big"), sig.s.to_bytes(32, "big")))
    return out


async def wall_clock() -> int:
    return int(time.time())


class Sequencer:
    """`Sequencer(l1, archiver, txs=..., quotes=..., attestations=None, ...)`.

    `l1` must carry the publisher's signer (`L1Client.with_signer(key)`); that account proposes.
    `archiver` gives the parent chain state; `txs` / `quotes` are TxSource / QuoteSource (P2PSources
    for a P2PClient, MemorySources in-process); `attestations` collects committee signatures."""

    def __init__(
        self,
        l1: L1Client,
        archiver: ChainStateSource,
        *,
        txs: TxSource,
        quotes: QuoteSource,
        attestations: AttestationCollector | None = None,
        sequencer_index: int = 0,
        sequencer_count: int = 1,
        max_txs_per_block: int = 32,
        min_txs_per_block: int = 0,
        coinbase: bytes = ZERO_ADDRESS,
        fee_recipient: int = 0,
        polling_interval: float = 1.0,
        sync_retry_interval: float = 0.2,
        attestation_timeout: float = 4.0,
        clock: Callable[[], Awaitable[int]] = wall_clock,
    ) -> None:
        if l1.signer is None:
            raise ValueError("the sequencer's L1Client needs a signer (the publisher account)")
        if not 0 <= sequencer_index < sequencer_count:
            raise ValueError(f"sequencer index {sequencer_index} not in [0, {sequencer_count})")
        self.l1 = l1
        self.archiver = archiver
        self.txs = txs
        self.quotes = quotes
        self.attestations = attestations
        self.index = sequencer_index
        self.count = sequencer_count
        self.max_txs = max_txs_per_block
        self.min_txs = min_txs_per_block
        self.coinbase = coinbase
        self.fee_recipient = fee_recipient
        self.polling_interval = polling_interval
        self.sync_retry_interval = sync_retry_interval
        self.attestation_timeout = attestation_timeout
        self.clock = clock
        self.me = bytes.fromhex(l1.address.removeprefix("0x"))
        self._last_slot = -1
        self._stats: dict[str, int] = {"proposed": 0, "claims": 0, "skipped": 0, "errors": 0, "txs": 0,
                                       "parent_sync_waits": 0, "quotes_rejected_by_rules": 0,
                                       "quotes_rejected_by_l1": 0}
        self.last_quote_rejections: list[tuple[EpochProofQuote, ClaimRejection]] = []  # of the last choice
        self.results: deque[SlotResult] = deque(maxlen=RESULTS_KEPT)  # oldest dropped
        self.last_error: str | None = None
        self._result_event = trio.Event()  # set (and replaced) on every recorded result

    def statistics(self) -> dict[str, int]:
        return dict(self._stats)

    async def wait_for_result(self, pred: Callable[[SlotResult], bool]) -> SlotResult:
        """The first kept slot result matching `pred`, waiting for new ones (tests, tooling)."""
        while True:
            for r in self.results:
                if pred(r):
                    return r
            await self._result_event.wait()

    async def _pending_view(self, fn: str, *args: Any) -> Any:
        return await self.l1.rollup_view(fn, *args, block="pending")  # retried like every L1 read

    async def _best_quote(self, slot: int, ts: int) -> EpochProofQuote | None:
        epoch = await self.l1.claimable_epoch()
        if epoch is None:
            return None
        candidates = drop_expired(self.quotes.get_epoch_proof_quotes(epoch), slot)
        if not candidates:
            return None
        base = await self.l1.claim_context(None, timestamp=ts)
        chain_id, rollup = await self.l1.chain_id(), self.l1.addresses.rollup
        deposits: dict[bytes, int] = {}
        rejected: list[tuple[EpochProofQuote, ClaimRejection]] = []
        valid = []
        for q in candidates:
            prover = q.payload.prover
            if prover not in deposits:
                deposits[prover] = await self.l1.escrow_deposits(prover)
            why = check_claim(q, dataclasses.replace(base, escrow_deposit=deposits[prover]), chain_id=chain_id,
                              rollup=rollup)
            if why is not None:  # the rules L1 applies: no eth_call spent on a quote they refuse
                self._stats["quotes_rejected_by_rules"] += 1
                rejected.append((q, why))
                continue
            try:  # what the rules cannot see (a contract upgrade, state between our reads)
                await self.l1.validate_epoch_proof_right_claim_at_time(ts, q)
            except L1RevertError as e:
                self._stats["quotes_rejected_by_l1"] += 1
                log.debug("quote rejected by L1: %s", e)
                continue
            valid.append(q)
        self.last_quote_rejections = rejected
        if rejected:
            log.debug("quotes refused by the claim rules: %s", "; ".join(str(w) for _, w in rejected[:5]))
        return select_best_quote(valid, slot)

    def _build(self, parent: ChainState, slot: int, ts: int, chain_id: int, inbox_root: bytes,
               txs: list[Tx]) -> tuple[L2Block, list[bytes]]:
        effects = []
        used: list[bytes] = []
        for tx in txs:
            try:
                if tx.chain_id != chain_id or tx.version != 1:
                    continue
                effects.append(tx_to_effect(tx))
                used.append(tx.tx_hash())
            except (DecodeError, BodyDecodeError) as e:
                log.info("dropping tx that cannot be included: %s", e)
        n = parent.block_number + 1
        block, _ = build_block(
            parent,
            BlockGlobals(chain_id, n, slot, ts, self.coinbase, self.fee_recipient),
            Body(tuple(effects)),
            self.archiver.get_l1_to_l2_messages(n),
            in_hash_override=inbox_root,
        )
        return block, used

    async def work_at(self, ts: int) -> SlotResult:
        timing = await self.l1.timing()
        slot = timing.slot_at(ts)
        res = await self._work(slot, ts, timing.timestamp_for_slot(slot))
        self.results.append(res)
        self._result_event.set()
        self._result_event = trio.Event()
        if res.outcome is SlotOutcome.PROPOSED:
            self._stats["proposed"] += 1
        elif res.outcome.skipped:
            self._stats["skipped"] += 1
            key = "skipped_" + res.outcome.value.replace("-", "_")
            self._stats[key] = self._stats.get(key, 0) + 1
        return res

    async def _work(self, slot: int, ts: int, slot_start: int) -> SlotResult:
        proposer = await self.l1.proposer_at(ts)
        if proposer == ZERO_ADDRESS:
            if slot % self.count != self.index:
                return SlotResult(slot, SlotOutcome.NOT_OUR_TURN)
        elif proposer != self.me:
            return SlotResult(slot, SlotOutcome.NOT_PROPOSER)
        tips = await self.l1.tips()
        parent_n = tips.proven_block_number if await self.l1.can_prune_at(ts) else tips.pending_block_number
        parent_log = await self.l1.block(parent_n)
        if parent_log.slot_number >= slot:
            detail = f"parent block {parent_n} is in slot {parent_log.slot_number}"
            return SlotResult(slot, SlotOutcome.SLOT_TAKEN, detail)
        try:
            parent = self.archiver.chain_state(parent_n)
        except Exception as e:  # archiver not synced to the parent yet
            return SlotResult(slot, SlotOutcome.PARENT_NOT_SYNCED, str(e))
        if parent.archive.root.to_bytes(32, "big") != parent_log.archive:
            return SlotResult(slot, SlotOutcome.PARENT_ARCHIVE_MISMATCH, f"block {parent_n}")
        txs = self.txs.get_pending_txs(self.max_txs)
        quote = await self._best_quote(slot, ts)
        if len(txs) < self.min_txs:
            if quote is None:
                return SlotResult(slot, SlotOutcome.NO_TXS, f"{len(txs)} < {self.min_txs}")
            receipt = await self.l1.claim_epoch_proof_right(quote)
            self._stats["claims"] += 1
            return SlotResult(slot, SlotOutcome.CLAIMED, quote=quote, receipt=receipt)
        n = parent_n + 1
        inbox_root = in_hash([]) if n == 1 else await self.l1.inbox_root(n)
        block, used = self._build(parent, slot, slot_start, await self.l1.chain_id(), inbox_root, txs)
        committee = [bytes.fromhex(a[2:]) if isinstance(a, str) else bytes(a)
                     for a in await self._pending_view("getCurrentEpochCommittee")]
        sigs: list[tuple[bool, int, bytes, bytes]] = []
        if committee:
            if self.attestations is None:
                return SlotResult(slot, SlotOutcome.NO_ATTESTATION_COLLECTOR)
            proposal = BlockProposal.create(block.header, int.from_bytes(block.archive, "big"), block.tx_hashes,
                                            self._signing_key())
            needed = needed_attestations(len(committee))
            got = await self.attestations.collect(proposal, committee, needed,
                                                  trio.current_time() + self.attestation_timeout)
            if len(got) < needed:
                return SlotResult(slot, SlotOutcome.NOT_ENOUGH_ATTESTATIONS, f"{len(got)}/{needed}")
            sigs = signatures_in_committee_order(committee, got)
        args: list[Any] = [block.header.to_bytes(), block.archive, block.block_hash, list(block.tx_hashes), sigs,
                           block.body.to_bytes()]
        fn = "propose"
        if quote is not None:
            args.append(quote.to_l1_tuple())
            fn = "proposeAndClaim"
        data = encode_call(self.l1._abi[art.ROLLUP], fn, args)
        receipt = await self.l1.send_transaction(self.l1.addresses.rollup, data, context=f"Rollup.{fn}")
        self.txs.mark_txs_as_mined(used, block.number)
        self._stats["txs"] += len(used)
        if quote is not None:
            self._stats["claims"] += 1
        log.info("proposed block %d in slot %d with %d txs (%s, gas %d)", block.number, slot, len(used), fn,
                 receipt.gas_used)
        return SlotResult(slot, SlotOutcome.PROPOSED, block=block, quote=quote, receipt=receipt)

    def _signing_key(self) -> bytes:
        signer = self.l1.signer
        assert signer is not None
        return bytes(signer._account.key)

    async def run(self, *, task_status: trio.TaskStatus[Sequencer] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started(self)
        while True:
            delay = self.polling_interval
            try:
                ts = await self.clock()
                slot = (await self.l1.timing()).slot_at(ts)
                if slot > self._last_slot:
                    res = await self.work_at(ts)
                    if res.outcome.retry_within_slot:
                        # our archiver is a poll behind L1: try again soon, the slot is still ours
                        self._stats["parent_sync_waits"] += 1
                        delay = min(delay, self.sync_retry_interval)
                        log.debug("%s, retrying within the slot", res)
                    else:
                        self._last_slot = slot
            except Exception as e:  # one failed slot (L1 error, bad tx, ...) never ends the sequencer
                self._stats["errors"] += 1
                self.last_error = f"{type(e).__name__}: {e}"
                log.warning("sequencer slot failed: %s", self.last_error)
            await trio.sleep(delay)
