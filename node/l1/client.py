"""trio-friendly client for the Aztec v0.63.1 Rollup and its escrow/token, for the prover node, the
sequencer and the BondManager.

Blocking web3 calls run in `trio.to_thread.run_sync`; transient transport errors are retried with
exponential backoff (`RetryPolicy`, sleeping with `trio.sleep` so MockClock tests stay fast). A
long-running node uses `RetryPolicy.forever()`: an L1 outage is a state (`L1Reachability`, one log
line when it starts and one when it ends, reported in /health), not an exception; callers simply wait
until L1 answers again (or their own deadline cancels them). Reverts
surface as `L1RevertError` carrying the decoded custom error name. Transactions get a local nonce,
an estimated gas limit (a revert during estimation is raised before sending) and are awaited by
polling receipts with `trio.sleep`.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import trio
from web3 import Web3

from node.l1 import artifacts as art
from node.l1.deploy import L1ContractAddresses, read_l1_addresses_sync
from node.l1.errors import L1Error, L1RevertError, L1TransactionError, L1TransientError
from node.l1.propose import EpochProofArgs, ProposeArgs
from node.l1.reachability import CameBack, L1Reachability, WentDown
from node.l1.rpc import (
    LocalSigner,
    Receipt,
    SyncRpc,
    check_receipt,
    decode_output,
    encode_call,
    normalize_address,
    prepare_tx,
    send_prepared,
)
from node.l1.rules import ZERO_ADDRESS, ChainTips, ClaimContext, L1Timing, ProofClaim
from p2p.wire.quote import EpochProofQuote, EpochProofQuotePayload, Signature

T = TypeVar("T")

log = logging.getLogger("node.l1")

_EMPTY_SIG: Final = Signature(0, 0, 0)
NO_EPOCH_TO_PROVE: Final = "Rollup__NoEpochToProve"
ALREADY_CLAIMED: Final = "Rollup__ProofRightAlreadyClaimed"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int | None = 5  # None: retry transient failures until L1 answers (or the caller is cancelled)
    base_delay: float = 0.1
    max_delay: float = 5.0

    def delay(self, attempt: int) -> float:
        return float(min(self.max_delay, self.base_delay * (2 ** min(attempt, 32))))

    @classmethod
    def forever(cls, base_delay: float = 0.2, max_delay: float = 5.0) -> RetryPolicy:
        """The running node's policy: outages are waited out, with backoff capped at `max_delay`."""
        return cls(attempts=None, base_delay=base_delay, max_delay=max_delay)

    def gives_up_after(self, attempt: int) -> bool:
        return self.attempts is not None and attempt >= self.attempts


@dataclass(frozen=True, slots=True)
class BlockLog:
    """Rollup.blocks(n): what propose stored."""

    archive: bytes
    block_hash: bytes
    slot_number: int


async def call_with_retry(
    fn: Callable[[], T], policy: RetryPolicy, on_retry: Callable[[int, Exception], None] | None = None
) -> T:
    """Run blocking `fn` in a worker thread; retry L1TransientError with exponential backoff."""
    attempt = 0
    while True:
        try:
            return await trio.to_thread.run_sync(fn, abandon_on_cancel=True)
        except L1TransientError as e:
            attempt += 1
            if policy.gives_up_after(attempt):
                raise
            if on_retry is not None:
                on_retry(attempt, e)
            await trio.sleep(policy.delay(attempt - 1))


def _addr_bytes(a: str | bytes) -> bytes:
    if isinstance(a, bytes):
        return a
    return bytes.fromhex(a.removeprefix("0x"))


class L1Client:
    """One L1 endpoint + one Rollup deployment (+ optionally a signing account).

    `with_signer(key)` gives a client for another account sharing the connection and caches."""

    def __init__(
        self,
        rpc: SyncRpc,
        addresses: L1ContractAddresses,
        *,
        signer: LocalSigner | None = None,
        retry: RetryPolicy | None = None,
        receipt_timeout: float = 120.0,
        receipt_poll: float = 0.05,
    ) -> None:
        self.rpc = rpc
        self.addresses = addresses
        self.signer = signer
        self.retry = retry or RetryPolicy()
        self.receipt_timeout = receipt_timeout
        self.receipt_poll = receipt_poll
        self._abi = {
            name: art.load_artifact(name).abi
            for name in (art.ROLLUP, art.PROOF_COMMITMENT_ESCROW, art.TEST_ERC20, art.INBOX, art.OUTBOX)
        }
        self._timing: L1Timing | None = None
        self._stats = {"calls": 0, "retries": 0, "transactions": 0, "reverts": 0}
        self.reachability = L1Reachability()  # shared by with_signer() clones (one endpoint)

    # ----- construction -----
    @classmethod
    async def connect(
        cls,
        url: str | Web3,
        rollup: str | bytes,
        *,
        signer_key: bytes | str | None = None,
        retry: RetryPolicy | None = None,
    ) -> L1Client:
        """Connect to `url` and read every contract address from the Rollup."""
        rpc = SyncRpc(url) if isinstance(url, Web3) else SyncRpc.from_url(url)
        policy = retry or RetryPolicy()
        addresses = await call_with_retry(functools.partial(read_l1_addresses_sync, rpc, rollup), policy)
        return cls(rpc, addresses, signer=LocalSigner(signer_key) if signer_key else None, retry=policy)

    def with_signer(self, key: bytes | str | LocalSigner) -> L1Client:
        signer = key if isinstance(key, LocalSigner) else LocalSigner(key)
        other = L1Client(
            self.rpc,
            self.addresses,
            signer=signer,
            retry=self.retry,
            receipt_timeout=self.receipt_timeout,
            receipt_poll=self.receipt_poll,
        )
        other._timing = self._timing
        other._stats = self._stats
        other.reachability = self.reachability
        return other

    @property
    def address(self) -> str:
        if self.signer is None:
            raise L1TransactionError("this L1Client has no signing account")
        return self.signer.address

    def statistics(self) -> dict[str, int]:
        return dict(self._stats)

    # ----- plumbing -----
    async def _retrying(self, fn: Callable[[], T]) -> T:
        """Every L1 request goes through here: transient failures are retried per `self.retry` and
        feed `self.reachability` (one log line per outage start/end)."""
        self._stats["calls"] += 1
        attempt = 0
        while True:
            began, began_wall = trio.current_time(), time.time()  # an outage starts when the attempt did
            try:
                out = await trio.to_thread.run_sync(fn, abandon_on_cancel=True)
            except L1TransientError as e:
                attempt += 1
                self._stats["retries"] += 1
                self._note(self.reachability.failure(str(e)[:300], now=began, wall=began_wall))
                if self.retry.gives_up_after(attempt):
                    raise
                await trio.sleep(self.retry.delay(attempt - 1))
            except L1Error:
                self._note(self.reachability.success(now=trio.current_time(), wall=time.time()))
                raise  # L1 answered (a revert, a rejected tx): not an outage
            else:
                self._note(self.reachability.success(now=trio.current_time(), wall=time.time()))
                return out

    def _note(self, change: WentDown | CameBack | None) -> None:
        if isinstance(change, WentDown):
            since = time.strftime("%H:%M:%S", time.gmtime(change.since))
            log.warning("L1 down since %s UTC (%s): retrying with backoff", since, change.error[:160],
                        extra={"l1": self.rpc.url})
        elif isinstance(change, CameBack):
            log.warning("L1 back after %.1fs", change.down_for, extra={"l1": self.rpc.url})

    async def _view(
        self,
        contract: str,
        to: str,
        fn: str,
        *args: Any,
        sender: str | None = None,
        block: int | str = "latest",
    ) -> tuple[Any, ...]:
        abi = self._abi[contract]
        data = encode_call(abi, fn, args)

        def call() -> bytes:
            return self.rpc.call(to, data, sender=sender, block=block, context=f"{contract}.{fn}")

        try:
            out = await self._retrying(call)
        except L1RevertError:
            self._stats["reverts"] += 1
            raise
        return decode_output(abi, fn, len(args), out)

    async def _rollup(self, fn: str, *args: Any, **kw: Any) -> Any:
        out = await self._view(art.ROLLUP, self.addresses.rollup, fn, *args, **kw)
        return out[0] if len(out) == 1 else out

    async def rollup_view(self, fn: str, *args: Any, block: int | str = "latest") -> Any:
        """Any Rollup view by name (e.g. at block "pending"), through the retrying path."""
        return await self._rollup(fn, *args, block=block)

    async def rpc_request(self, method: str, params: Sequence[Any] = ()) -> Any:
        """Raw JSON-RPC (e.g. anvil_* / evm_* on a dev chain)."""
        return await self._retrying(lambda: self.rpc.rpc(method, params))

    async def send_transaction(
        self,
        to: str | None,
        data: bytes,
        *,
        value: int = 0,
        gas: int | None = None,
        context: str = "",
    ) -> Receipt:
        """Estimate, sign with the local nonce, broadcast, and wait for a successful receipt.

        Raises L1RevertError (decoded) if estimation or execution reverts, L1TransactionError on a
        receipt timeout."""
        signer = self.signer
        if signer is None:
            raise L1TransactionError(f"{context}: this L1Client has no signing account")
        self._stats["transactions"] += 1
        try:
            prepared = await self._retrying(
                lambda: prepare_tx(self.rpc, signer, to=to, data=data, value=value, gas=gas, context=context)
            )
        except L1RevertError:
            self._stats["reverts"] += 1
            raise
        await self._retrying(lambda: send_prepared(self.rpc, signer, prepared))
        with trio.move_on_after(self.receipt_timeout):
            while True:
                receipt = await self._retrying(lambda: self.rpc.get_receipt(prepared.tx_hash))
                if receipt is not None:
                    try:
                        return await trio.to_thread.run_sync(
                            functools.partial(check_receipt, self.rpc, prepared, receipt, context)
                        )
                    except L1RevertError:
                        self._stats["reverts"] += 1
                        raise
                await trio.sleep(self.receipt_poll)
        # an L1 node that restarted may have lost the tx: re-read the nonce, or every later tx waits behind the gap
        signer.reset_nonce()
        raise L1TransactionError(
            f"{context}: tx 0x{prepared.tx_hash.hex()} not mined within {self.receipt_timeout}s"
        )

    async def _rollup_tx(self, fn: str, *args: Any, gas: int | None = None) -> Receipt:
        data = encode_call(self._abi[art.ROLLUP], fn, args)
        return await self.send_transaction(self.addresses.rollup, data, gas=gas, context=f"Rollup.{fn}")

    async def get_logs(self, address: str, topics: Sequence[bytes], from_block: int,
                       to_block: int | str = "latest") -> list[Any]:
        return await self._retrying(lambda: self.rpc.get_logs(address, topics, from_block, to_block))

    async def get_transaction(self, tx_hash: bytes) -> dict[str, Any]:
        return await self._retrying(lambda: self.rpc.get_transaction(tx_hash))

    # ----- chain -----
    async def chain_id(self) -> int:
        return await self._retrying(self.rpc.chain_id)

    async def block_number(self) -> int:
        return int((await self._retrying(lambda: self.rpc.block("latest")))["number"])

    async def block_timestamp(self, block: int | str = "latest") -> int:
        return int((await self._retrying(lambda: self.rpc.block(block)))["timestamp"])

    # ----- timing -----
    async def timing(self) -> L1Timing:
        """GENESIS_TIME, SLOT_DURATION, EPOCH_DURATION, CLAIM_DURATION_IN_L2_SLOTS (cached: immutable)."""
        if self._timing is None:
            genesis = await self._rollup("GENESIS_TIME")
            slot = await self._rollup("SLOT_DURATION")
            epoch = await self._rollup("EPOCH_DURATION")
            claim = await self._rollup("CLAIM_DURATION_IN_L2_SLOTS")
            self._timing = L1Timing(int(genesis), int(slot), int(epoch), int(claim))
        return self._timing

    async def min_bond_amount(self) -> int:
        return int(await self._rollup("PROOF_COMMITMENT_MIN_BOND_AMOUNT_IN_TST"))

    async def current_slot(self) -> int:
        return int(await self._rollup("getCurrentSlot"))

    async def current_epoch(self) -> int:
        return int(await self._rollup("getCurrentEpoch"))

    async def slot_at(self, timestamp: int) -> int:
        return int(await self._rollup("getSlotAt", timestamp))

    async def epoch_for_block(self, block_number: int) -> int:
        return int(await self._rollup("getEpochForBlock", block_number))

    # ----- rollup state -----
    async def tips(self) -> ChainTips:
        pending, proven = await self._rollup("tips")
        return ChainTips(int(pending), int(proven))

    async def block(self, block_number: int) -> BlockLog:
        archive, block_hash, slot = await self._rollup("blocks", block_number)
        return BlockLog(bytes(archive), bytes(block_hash), int(slot))

    async def archive_at(self, block_number: int) -> bytes:
        return bytes(await self._rollup("archiveAt", block_number))

    async def proof_claim(self) -> ProofClaim:
        epoch, fee, bond, provider, claimant = await self._rollup("proofClaim")
        return ProofClaim(int(epoch), int(fee), int(bond), _addr_bytes(provider), _addr_bytes(claimant))

    async def epoch_to_prove(self) -> int | None:
        """getEpochToProve(), or None when there is nothing to prove (Rollup__NoEpochToProve)."""
        try:
            return int(await self._rollup("getEpochToProve"))
        except L1RevertError as e:
            if e.name == NO_EPOCH_TO_PROVE:
                return None
            raise

    async def claimable_epoch(self) -> int | None:
        """getClaimableEpoch(), or None on NoEpochToProve / ProofRightAlreadyClaimed (sequencer step 1)."""
        try:
            return int(await self._rollup("getClaimableEpoch"))
        except L1RevertError as e:
            if e.name in (NO_EPOCH_TO_PROVE, ALREADY_CLAIMED):
                return None
            raise

    async def can_prune_at(self, timestamp: int) -> bool:
        return bool(await self._rollup("canPruneAtTime", timestamp))

    async def prune(self) -> Receipt:
        return await self._rollup_tx("prune")

    async def setup_epoch(self) -> Receipt:
        return await self._rollup_tx("setupEpoch")

    # ----- committee / proposer -----
    async def current_proposer(self) -> bytes:
        return _addr_bytes(await self._rollup("getCurrentProposer"))

    async def proposer_at(self, timestamp: int) -> bytes:
        return _addr_bytes(await self._rollup("getProposerAt", timestamp))

    async def current_epoch_committee(self) -> list[bytes]:
        return [_addr_bytes(a) for a in await self._rollup("getCurrentEpochCommittee")]

    async def epoch_committee(self, epoch: int) -> list[bytes]:
        return [_addr_bytes(a) for a in await self._rollup("getEpochCommittee", epoch)]

    # ----- quotes and claims -----
    async def quote_to_digest(self, payload: EpochProofQuotePayload) -> bytes:
        q = EpochProofQuote(payload, _EMPTY_SIG).to_l1_tuple()[0]
        return bytes(await self._rollup("quoteToDigest", q))

    async def validate_epoch_proof_right_claim_at_time(
        self, timestamp: int, quote: EpochProofQuote, *, sender: str | bytes | None = None
    ) -> None:
        """eth_call; raises L1RevertError (e.g. Rollup__QuoteExpired) if L1 would reject the claim."""
        s = normalize_address(sender) if sender is not None else (self.signer.address if self.signer else None)
        await self._rollup("validateEpochProofRightClaimAtTime", timestamp, quote.to_l1_tuple(), sender=s)

    async def claim_epoch_proof_right(self, quote: EpochProofQuote) -> Receipt:
        return await self._rollup_tx("claimEpochProofRight", quote.to_l1_tuple())

    async def claim_context(self, quote_prover: bytes | None, *, timestamp: int | None = None) -> ClaimContext:
        """The L1 state `rules.check_claim` needs, for a claim sent by this client's account.
        `quote_prover` None: `escrow_deposit` is 0 (fill it per quote with `dataclasses.replace`)."""
        ts = timestamp if timestamp is not None else await self.block_timestamp()
        timing = await self.timing()
        epoch = await self.epoch_to_prove()
        claim = await self.proof_claim()
        return ClaimContext(
            current_slot=timing.slot_at(ts),
            epoch_to_prove=epoch,
            proposer=await self.proposer_at(ts),
            sender=_addr_bytes(self.address) if self.signer else ZERO_ADDRESS,
            already_claimed=epoch is not None and claim.exists and claim.epoch_to_prove == epoch,
            escrow_deposit=0 if quote_prover is None else await self.escrow_deposits(quote_prover),
            claim_duration=timing.claim_duration,
            epoch_duration=timing.epoch_duration,
            min_bond=await self.min_bond_amount(),
        )

    # ----- escrow and bond token (BondManager) -----
    async def escrow_deposits(self, prover: str | bytes) -> int:
        out = await self._view(
            art.PROOF_COMMITMENT_ESCROW, self.addresses.proof_commitment_escrow, "deposits", normalize_address(prover)
        )
        return int(out[0])

    async def escrow_withdrawal(self, prover: str | bytes) -> tuple[int, int]:
        """ProofCommitmentEscrow.withdrawRequests(prover): (amount, executableAt timestamp); (0, 0) if none."""
        out = await self._view(
            art.PROOF_COMMITMENT_ESCROW, self.addresses.proof_commitment_escrow, "withdrawRequests",
            normalize_address(prover),
        )
        return int(out[0]), int(out[1])

    async def escrow_withdraw_delay(self) -> int:
        out = await self._view(art.PROOF_COMMITMENT_ESCROW, self.addresses.proof_commitment_escrow, "WITHDRAW_DELAY")
        return int(out[0])

    async def escrow_deposit(self, amount: int) -> Receipt:
        data = encode_call(self._abi[art.PROOF_COMMITMENT_ESCROW], "deposit", [amount])
        return await self.send_transaction(self.addresses.proof_commitment_escrow, data, context="Escrow.deposit")

    async def escrow_start_withdraw(self, amount: int) -> Receipt:
        data = encode_call(self._abi[art.PROOF_COMMITMENT_ESCROW], "startWithdraw", [amount])
        return await self.send_transaction(
            self.addresses.proof_commitment_escrow, data, context="Escrow.startWithdraw"
        )

    async def escrow_execute_withdraw(self) -> Receipt:
        data = encode_call(self._abi[art.PROOF_COMMITMENT_ESCROW], "executeWithdraw", [])
        return await self.send_transaction(
            self.addresses.proof_commitment_escrow, data, context="Escrow.executeWithdraw"
        )

    async def token_balance(self, owner: str | bytes) -> int:
        out = await self._view(art.TEST_ERC20, self.addresses.fee_juice, "balanceOf", normalize_address(owner))
        return int(out[0])

    async def token_allowance(self, owner: str | bytes, spender: str | bytes) -> int:
        out = await self._view(
            art.TEST_ERC20, self.addresses.fee_juice, "allowance", normalize_address(owner), normalize_address(spender)
        )
        return int(out[0])

    async def token_approve(self, spender: str | bytes, amount: int) -> Receipt:
        data = encode_call(self._abi[art.TEST_ERC20], "approve", [normalize_address(spender), amount])
        return await self.send_transaction(self.addresses.fee_juice, data, context="TestERC20.approve")

    async def token_mint(self, to: str | bytes, amount: int) -> Receipt:
        """TestERC20.mint (open to anyone on the test token; real deployments have no such call)."""
        data = encode_call(self._abi[art.TEST_ERC20], "mint", [normalize_address(to), amount])
        return await self.send_transaction(self.addresses.fee_juice, data, context="TestERC20.mint")

    # ----- blocks and proofs -----
    async def compute_txs_effects_hash(self, body: bytes) -> bytes:
        """Rollup.computeTxsEffectsHash (TxsDecoder.decode) over raw body bytes."""
        return bytes(await self._rollup("computeTxsEffectsHash", body))

    async def propose(self, args: ProposeArgs, *, gas: int | None = None) -> Receipt:
        return await self._rollup_tx("propose", *args.abi_args(), gas=gas)

    async def propose_and_claim(self, args: ProposeArgs, quote: EpochProofQuote) -> Receipt:
        return await self._rollup_tx("proposeAndClaim", *args.abi_args(), quote.to_l1_tuple())

    async def submit_epoch_root_proof(self, args: EpochProofArgs) -> Receipt:
        return await self._rollup_tx("submitEpochRootProof", *args.abi_args())

    async def vk_tree_root(self) -> int:
        return int.from_bytes(bytes(await self._rollup("vkTreeRoot")), "big")

    async def protocol_contract_tree_root(self) -> int:
        return int.from_bytes(bytes(await self._rollup("protocolContractTreeRoot")), "big")

    async def epoch_proof_public_inputs(self, args: EpochProofArgs) -> list[bytes]:
        a = args.abi_args()
        out = await self._rollup("getEpochProofPublicInputs", a[0], a[1], a[2], a[3])
        return [bytes(x) for x in out]

    # ----- Inbox / Outbox (read side) -----
    async def inbox_root(self, block_number: int) -> bytes:
        out = await self._view(art.INBOX, self.addresses.inbox, "getRoot", block_number)
        return bytes(out[0])


