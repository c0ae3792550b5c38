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
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import trio

from core.aztec.messages import in_hash
from core.aztec.serialization import DecodeError
from core.aztec.tx_effect import Body, BodyDecodeError
from node.l1 import artifacts as art
from node.l1.client import L1Client
from node.l1.errors import L1RevertError
from node.l1.rpc import Receipt, encode_call
from node.l1.rules import ZERO_ADDRESS, ClaimRejection, check_claim, drop_expired, select_best_quote
from node.l2.block import BlockGlobals, L2Block, build_block
from node.l2.from_tx import tx_to_effect
from node.l2.world_state import ChainState
from node.metrics import NodeMetrics
from p2p.pools.quote_pool import EpochProofQuotePool
from p2p.wire.block_attestation import BlockAttestation
from p2p.wire.block_proposal import BlockProposal
from p2p.wire.quote import EpochProofQuote, Signature, address_of
from p2p.wire.tx import Tx

log = logging.getLogger("node.sequencer")

RESULTS_KEPT: Final = 256
QUOTE_HISTORY: Final = 128  # quotes (and why they were or were not chosen) kept for the live view

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


def _who(q: EpochProofQuote) -> str:
    return "0x" + q.payload.prover.hex()[:8]


@dataclass(frozen=True, slots=True)
class QuoteReport:
    """The quotes one slot considered: the one chosen and why each other one was not."""

    slot: int
    epoch: int
    chosen: EpochProofQuote | None
    not_chosen: tuple[tuple[EpochProofQuote, str], ...]

    def __str__(self) -> str:
        n = len(self.not_chosen) + (self.chosen is not None)
        head = f"slot {self.slot}: {n} quote{'s' if n != 1 else ''} for epoch {self.epoch}, "
        if self.chosen is not None:
            p = self.chosen.payload
            head += f"chose {_who(self.chosen)} (fee {p.basis_point_fee} bps, bond {p.bond_amount})"
        else:
            head += "none chosen"
        if self.not_chosen:
            head += "; not chosen: " + ", ".join(f"{_who(q)} {why}" for q, why in self.not_chosen)
        return head


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
        metrics: NodeMetrics | None = None,
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
        self.quote_history: OrderedDict[tuple[int, bytes, int, int, int], dict[str, Any]] = OrderedDict()
        self._stats: dict[str, int] = {"proposed": 0, "claims": 0, "skipped": 0, "errors": 0, "txs": 0,
                                       "parent_sync_waits": 0, "quotes_rejected_by_rules": 0,
                                       "quotes_rejected_by_l1": 0}
        self.last_quote_rejections: list[tuple[EpochProofQuote, ClaimRejection]] = []  # of the last choice
        self.results: deque[SlotResult] = deque(maxlen=RESULTS_KEPT)  # oldest dropped
        self.last_error: str | None = None
        self._result_event = trio.Event()  # set (and replaced) on every recorded result
        self.metrics = metrics if metrics is not None else NodeMetrics()
        for outcome in (*(o.value for o in SlotOutcome if not o.retry_within_slot), "error"):
            self.metrics.slots.labels(outcome)  # exported at 0 from the start
        self._seen_quotes: deque[bytes] = deque(maxlen=4096)  # quote digests counted as seen (oldest dropped)
        self._seen_set: set[bytes] = set()
        self.quote_reports: deque[QuoteReport] = deque(maxlen=RESULTS_KEPT)  # why each quote was (not) chosen

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
        quotes = self.quotes.get_epoch_proof_quotes(epoch)
        unexpired = drop_expired(quotes, slot)
        kept = {id(q) for q in unexpired}
        why_not: dict[int, str] = {id(q): f"expired (valid until slot {q.payload.valid_until_slot} < {slot})"
                                   for q in quotes if id(q) not in kept}
        rejected: list[tuple[EpochProofQuote, ClaimRejection]] = []
        valid = []
        if unexpired:
            base = await self.l1.claim_context(None, timestamp=ts)
            chain_id, rollup = await self.l1.chain_id(), self.l1.addresses.rollup
            deposits: dict[bytes, int] = {}
            for q in unexpired:
                prover = q.payload.prover
                if prover not in deposits:
                    deposits[prover] = await self.l1.escrow_deposits(prover)
                refused = check_claim(q, dataclasses.replace(base, escrow_deposit=deposits[prover]),
                                      chain_id=chain_id, rollup=rollup)
                if refused is not None:  # the rules L1 applies: no eth_call spent on a quote they refuse
                    self._stats["quotes_rejected_by_rules"] += 1
                    rejected.append((q, refused))
                    why_not[id(q)] = f"refused by the claim rules: {refused}"
                    continue
                try:  # what the rules cannot see (a contract upgrade, state between our reads)
                    await self.l1.validate_epoch_proof_right_claim_at_time(ts, q)
                except L1RevertError as e:
                    self._stats["quotes_rejected_by_l1"] += 1
                    why_not[id(q)] = f"rejected by L1: {str(e)[:160]}"
                    continue
                valid.append(q)
        self.last_quote_rejections = rejected
        best = select_best_quote(valid, slot)
        for q in valid:
            if q is not best:
                why_not[id(q)] = (f"fee {q.payload.basis_point_fee} bps > {best.payload.basis_point_fee} bps"
                                  if best is not None else "not chosen")
        self._report_quotes(slot, epoch, quotes, best, why_not)
        for q in quotes:
            why = "chosen (lowest fee)" if q is best else why_not.get(id(q), "not considered")
            self._note_quote(slot, q, why, q is best)
        return best

    def _report_quotes(self, slot: int, epoch: int, quotes: Sequence[EpochProofQuote], best: EpochProofQuote | None,
                       why_not: dict[int, str]) -> None:
        """Metrics for every quote considered, and ONE info line per slot saying why the others lost."""
        if not quotes:
            return
        for q in quotes:
            digest = q.to_bytes()
            if digest not in self._seen_set:
                if len(self._seen_quotes) == self._seen_quotes.maxlen:
                    self._seen_set.discard(self._seen_quotes[0])
                self._seen_quotes.append(digest)
                self._seen_set.add(digest)
                self.metrics.quotes_seen.inc()
            reason = why_not.get(id(q), "")
            verdict = ("chosen" if q is best else "expired" if reason.startswith("expired")
                       else "rejected_by_rules" if reason.startswith("refused by the claim rules")
                       else "rejected_by_l1" if reason.startswith("rejected") else "higher_fee")
            self.metrics.quote_verdicts.labels(verdict).inc()
        report = QuoteReport(slot, epoch, best, tuple((q, why_not[id(q)]) for q in quotes if q is not best))
        self.quote_reports.append(report)
        log.info(str(report), extra={"slot": slot, "epoch": epoch, "quotes": len(quotes)})

    def _note_quote(self, slot: int, q: EpochProofQuote, why: str, chosen: bool) -> None:
        """The quote history of the live view: one entry per quote (its latest verdict and slot); the
        QUOTE_HISTORY most recently judged are kept, the oldest dropped."""
        p = q.payload
        key = (p.epoch_to_prove, p.prover, p.basis_point_fee, p.bond_amount, p.valid_until_slot)
        self.quote_history[key] = {
            "slot": slot, "epoch": p.epoch_to_prove, "prover": "0x" + p.prover.hex(), "fee_bps": p.basis_point_fee,
            "bond": p.bond_amount, "valid_until_slot": p.valid_until_slot, "chosen": chosen, "why": why,
        }
        self.quote_history.move_to_end(key)
        while len(self.quote_history) > QUOTE_HISTORY:
            self.quote_history.popitem(last=False)

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
        if not res.outcome.retry_within_slot:
            self.metrics.slots.labels(res.outcome.value).inc()
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
            self.metrics.seq_claims.inc()
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
        self.metrics.txs_included.inc(len(used))
        if quote is not None:
            self._stats["claims"] += 1
            self.metrics.seq_claims.inc()
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
                        if res.outcome.skipped and res.outcome not in (SlotOutcome.NOT_OUR_TURN,
                                                                       SlotOutcome.NOT_PROPOSER):
                            log.info("slot %d not proposed: %s%s", slot, res.outcome.value,
                                     f" ({res.detail})" if res.detail else "")  # our turn, and why it failed
            except Exception as e:  # one failed slot (L1 error, bad tx, ...) never ends the sequencer
                self._stats["errors"] += 1
                self.metrics.slots.labels("error").inc()
                self.last_error = f"{type(e).__name__}: {e}"
                log.warning("sequencer slot failed: %s", self.last_error)
            await trio.sleep(delay)
