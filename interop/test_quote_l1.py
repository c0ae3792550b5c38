"""Our EpochProofQuote digest and signature against the real v0.63.1 Rollup bytecode on anvil.

The contracts are deployed from Python (node.l1.deploy) exactly as the npm-and-l1 note describes;
`Rollup.quoteToDigest` must equal our EIP-712 digest, and `validateEpochProofRightClaimAtTime` must
accept our signature (it then reverts Rollup__NoEpochToProve on a fresh rollup) and reject a tampered
one with SignatureLib__InvalidSignature. Custom errors are decoded by name from the ABIs."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from typing import Any

import pytest

from node.l1.anvil import ANVIL_DEV_KEYS
from node.l1.artifacts import ROLLUP, load_artifact
from node.l1.errors import L1RevertError
from node.l1.rpc import SyncRpc, decode_output, encode_call
from p2p.wire.quote import (
    SECP256K1_N,
    EpochProofQuote,
    EpochProofQuotePayload,
    Signature,
    address_of,
    recover_address,
)

pytestmark = pytest.mark.interop

U256_MAX = 2**256 - 1
SENDER = "0x1111111111111111111111111111111111111111"


def _random_quote(rng: random.Random, chain_id: int, rollup: str) -> EpochProofQuote:
    key = rng.randrange(1, SECP256K1_N).to_bytes(32, "big")

    def u256() -> int:
        return rng.choice([0, 1, U256_MAX, rng.randrange(2**16), rng.randrange(2**64), rng.randrange(2**256)])

    payload = EpochProofQuotePayload(
        epoch_to_prove=u256(),
        valid_until_slot=u256(),
        bond_amount=u256(),
        prover=address_of(key),
        basis_point_fee=rng.choice([0, 10_000, rng.randrange(10_001)]),
    )
    return EpochProofQuote.new(payload, key, chain_id, rollup)


class RollupView:
    def __init__(self, session: Any) -> None:
        self.rpc = SyncRpc(session.w3)
        self.rollup = session.addresses.rollup
        self.abi = load_artifact(ROLLUP).abi
        self.chain_id = self.rpc.chain_id()

    def call(self, fn: str, *args: Any, sender: str | None = None) -> tuple[Any, ...]:
        data = self.rpc.call(self.rollup, encode_call(self.abi, fn, args), sender=sender, context=fn)
        return decode_output(self.abi, fn, len(args), data)

    def now(self) -> int:
        return int(self.rpc.block("latest")["timestamp"])

    def validate(self, quote: EpochProofQuote) -> L1RevertError:
        with pytest.raises(L1RevertError) as exc:
            self.call("validateEpochProofRightClaimAtTime", self.now(), quote.to_l1_tuple(), sender=SENDER)
        return exc.value


def _seed() -> int:
    return int(os.environ.get("QUOTE_INTEROP_SEED", random.SystemRandom().randrange(2**32)))


@pytest.fixture(scope="module")
def second_chain(deploy_l1: Callable[..., Any]) -> Any:
    return deploy_l1(chain_id=11155111)


def test_deployment_matches_the_note(l1_session: Any) -> None:
    a = l1_session.addresses
    # deterministic CREATE addresses of anvil account #0 (nonces 0..5)
    assert a.fee_juice == "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    assert a.registry == "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
    assert a.fee_juice_portal == "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"
    assert a.reward_distributor == "0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9"
    assert a.txs_decoder == "0xDc64a140Aa3E981100a9becA4E685f962f0cF6C9"
    assert a.rollup == "0x5FC8d32690cc91D4c39d9d3abcBD16989F875707"
    assert l1_session.report.gas_used["Rollup"] == 7_037_144
    view = RollupView(l1_session)
    (fields, name, version, chain, contract, _salt, ext) = view.call("eip712Domain")
    assert (fields, name, version, chain, ext) == (b"\x0f", "Aztec Rollup", "1", 31337, ())
    assert contract == a.rollup.lower()
    assert view.call("CLAIM_DURATION_IN_L2_SLOTS") == (13,)
    assert view.call("PROOF_COMMITMENT_MIN_BOND_AMOUNT_IN_TST") == (1000,)


@pytest.mark.parametrize("which", ["31337", "11155111"])
def test_quote_to_digest_equals_ours(which: str, l1_session: Any, second_chain: Any) -> None:
    session = l1_session if which == "31337" else second_chain
    view = RollupView(session)
    assert view.chain_id == int(which)
    seed = _seed()
    rng = random.Random(seed)
    for _ in range(25):
        q = _random_quote(rng, view.chain_id, view.rollup)
        (digest,) = view.call("quoteToDigest", q.to_l1_tuple()[0])
        assert digest == q.digest(view.chain_id, view.rollup), f"seed={seed} quote={q.to_json()}"
        # the same quote signed for the other chain gives a different digest
        assert digest != q.digest(view.chain_id + 1, view.rollup)


def test_l1_accepts_our_signature_and_rejects_tampering(l1_session: Any) -> None:
    view = RollupView(l1_session)
    seed = _seed()
    rng = random.Random(seed)
    for _ in range(10):
        q = _random_quote(rng, view.chain_id, view.rollup)
        ctx = f"seed={seed} quote={q.to_json()}"
        # signature check passes; the fresh rollup then has nothing to prove
        err = view.validate(q)
        assert (err.name, err.args_) == ("Rollup__NoEpochToProve", ()), ctx
        # high-s twin of the same signature is accepted too (documented malleability)
        s = q.signature
        twin = EpochProofQuote(q.payload, Signature(s.r, SECP256K1_N - s.s, 55 - s.v))
        assert view.validate(twin).name == "Rollup__NoEpochToProve", ctx
        # tamper with a signed field: recovers some other address
        p = q.payload
        tampered = EpochProofQuote(
            EpochProofQuotePayload(p.epoch_to_prove, p.valid_until_slot, p.bond_amount ^ 1, p.prover,
                                   p.basis_point_fee),
            q.signature,
        )
        err = view.validate(tampered)
        recovered = recover_address(tampered.digest(view.chain_id, view.rollup), tampered.signature)
        assert err.name == "SignatureLib__InvalidSignature", ctx
        assert [a.lower() for a in err.args_] == ["0x" + p.prover.hex(), "0x" + recovered.hex()], ctx


def test_wrong_domain_and_bad_signatures_are_rejected(l1_session: Any) -> None:
    view = RollupView(l1_session)
    key = bytes.fromhex(ANVIL_DEV_KEYS[3][2:])
    payload = EpochProofQuotePayload(0, 100, 5000, address_of(key), 123)
    for chain, rollup in ((1, view.rollup), (view.chain_id, "0x" + "22" * 20)):
        q = EpochProofQuote.new(payload, key, chain, rollup)
        assert view.validate(q).name == "SignatureLib__InvalidSignature"
    good = EpochProofQuote.new(payload, key, view.chain_id, view.rollup)
    empty = EpochProofQuote(payload, Signature(0, 0, 0))
    assert view.validate(empty).name == "SignatureLib__CannotVerifyEmpty"
    # v must be 27/28 on L1: 0/1 recovers 0x0
    v01 = EpochProofQuote(payload, Signature(good.signature.r, good.signature.s, good.signature.v - 27))
    err = view.validate(v01)
    assert err.name == "SignatureLib__InvalidSignature"
    assert err.args_[1] == "0x" + "00" * 20
