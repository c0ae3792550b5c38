"""Deploy the Aztec v0.63.1 L1 contracts (the minimal set a Rollup needs) from Python.

Order and constructor arguments as measured on anvil (../shared/notes/aztec-v0.63.1-npm-and-l1.md §3):
    0 TestERC20 (fee juice / bond token)       ()
    1 Registry                                 (owner)
    2 FeeJuicePortal                           (registry, token, bytes32 L2 fee juice address)
    3 RewardDistributor                        (token, registry, owner)
    4 TxsDecoder (library)                     ()
    5 Rollup, TxsDecoder linked at its 2 link references
        (portal, rewardDistributor, vkTreeRoot, protocolContractTreeRoot, ares(owner), validators,
         Config{aztecSlotDuration, aztecEpochDuration, targetCommitteeSize,
                aztecEpochProofClaimWindowInL2Slots})
The Rollup constructor deploys its own MockVerifier, ProofCommitmentEscrow, Inbox and Outbox; we read
their addresses back. Governance, CoinIssuer and registry upgrade (the official `deployL1Contracts`)
are not needed to propose, claim and prove, and are not done (the rollup is then not canonical:
gas fees in headers must be 0). `register_rollup=True` calls `Registry.upgrade(rollup)`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import trio
from web3 import Web3

from core.aztec.constants import (
    AZTEC_EPOCH_DURATION,
    AZTEC_EPOCH_PROOF_CLAIM_WINDOW_IN_L2_SLOTS,
    AZTEC_SLOT_DURATION,
    AZTEC_TARGET_COMMITTEE_SIZE,
)
from node.l1 import artifacts as art
from node.l1.rpc import (
    LocalSigner,
    Receipt,
    SyncRpc,
    decode_output,
    encode_call,
    encode_constructor,
    normalize_address,
    transact_sync,
)

L2_FEE_JUICE_ADDRESS: Final = (5).to_bytes(32, "big")  # bytes32 L2 FeeJuice address (0x...05)


@dataclass(frozen=True, slots=True)
class RollupConfig:
    slot_duration: int = AZTEC_SLOT_DURATION
    epoch_duration: int = AZTEC_EPOCH_DURATION
    target_committee_size: int = AZTEC_TARGET_COMMITTEE_SIZE
    claim_window: int = AZTEC_EPOCH_PROOF_CLAIM_WINDOW_IN_L2_SLOTS

    def __post_init__(self) -> None:
        if self.slot_duration <= 0 or self.epoch_duration <= 0:
            raise ValueError(f"slot and epoch duration must be positive: {self}")
        if not 0 <= self.claim_window <= self.epoch_duration:
            raise ValueError(f"claim window must be within the epoch: {self}")
        if self.target_committee_size < 0:
            raise ValueError(f"target committee size must be >= 0: {self}")

    def as_abi_tuple(self) -> tuple[int, int, int, int]:
        return (self.slot_duration, self.epoch_duration, self.target_committee_size, self.claim_window)


@dataclass(frozen=True, slots=True)
class L1ContractAddresses:
    rollup: str
    registry: str
    inbox: str
    outbox: str
    proof_commitment_escrow: str
    fee_juice: str  # TestERC20: fee asset and bond token
    fee_juice_portal: str
    reward_distributor: str
    verifier: str
    txs_decoder: str | None = None  # None when read back from a Rollup (not discoverable)

    def to_json(self) -> dict[str, str | None]:
        return {
            "rollup": self.rollup,
            "registry": self.registry,
            "inbox": self.inbox,
            "outbox": self.outbox,
            "proofCommitmentEscrow": self.proof_commitment_escrow,
            "feeJuice": self.fee_juice,
            "feeJuicePortal": self.fee_juice_portal,
            "rewardDistributor": self.reward_distributor,
            "verifier": self.verifier,
            "txsDecoder": self.txs_decoder,
        }


@dataclass(frozen=True, slots=True)
class DeployReport:
    addresses: L1ContractAddresses
    gas_used: dict[str, int]
    genesis_time: int  # timestamp of the Rollup deploy block = GENESIS_TIME


def _deploy(rpc: SyncRpc, signer: LocalSigner, name: str, code: bytes, gas_used: dict[str, int]) -> str:
    receipt: Receipt = transact_sync(rpc, signer, to=None, data=code, context=f"deploy {name}")
    if receipt.contract_address is None:
        raise art.ArtifactsError(f"deploy {name}: receipt has no contract address")
    gas_used[name] = receipt.gas_used
    return normalize_address(receipt.contract_address)


def _view(rpc: SyncRpc, abi: art.Abi, to: str, fn: str, args: Sequence[Any] = ()) -> Any:
    return decode_output(abi, fn, len(args), rpc.call(to, encode_call(abi, fn, args), context=fn))[0]


def deploy_l1_contracts_report(
    w3_or_url: Web3 | str,
    deployer_key: bytes | str,
    config: RollupConfig | None = None,
    validators: Sequence[bytes | str] = (),
    *,
    register_rollup: bool = False,
    vk_tree_root: bytes = b"\0" * 32,
    protocol_contract_tree_root: bytes = b"\0" * 32,
    node_modules: Path | str | None = None,
) -> DeployReport:
    """Blocking deploy; returns addresses, gas used per deployment and the rollup's GENESIS_TIME."""
    config = config or RollupConfig()
    rpc = SyncRpc(w3_or_url) if isinstance(w3_or_url, Web3) else SyncRpc.from_url(w3_or_url)
    signer = LocalSigner(deployer_key)
    owner = signer.address
    gas: dict[str, int] = {}

    def load(name: str) -> art.ContractArtifact:
        return art.load_artifact(name, node_modules)

    erc20, registry_a, portal_a, dist_a, decoder_a, rollup_a = (
        load(n) for n in (art.TEST_ERC20, art.REGISTRY, art.FEE_JUICE_PORTAL, art.REWARD_DISTRIBUTOR,
                          art.TXS_DECODER, art.ROLLUP)
    )
    token = _deploy(rpc, signer, art.TEST_ERC20, encode_constructor(erc20.abi, erc20.bytecode), gas)
    registry = _deploy(rpc, signer, art.REGISTRY, encode_constructor(registry_a.abi, registry_a.bytecode, [owner]), gas)
    portal = _deploy(
        rpc,
        signer,
        art.FEE_JUICE_PORTAL,
        encode_constructor(portal_a.abi, portal_a.bytecode, [registry, token, L2_FEE_JUICE_ADDRESS]),
        gas,
    )
    distributor = _deploy(
        rpc,
        signer,
        art.REWARD_DISTRIBUTOR,
        encode_constructor(dist_a.abi, dist_a.bytecode, [token, registry, owner]),
        gas,
    )
    txs_decoder = _deploy(rpc, signer, art.TXS_DECODER, decoder_a.bytecode, gas)
    rollup_code = rollup_a.linked_bytecode({art.TXS_DECODER: txs_decoder})
    rollup_args = [
        portal,
        distributor,
        vk_tree_root,
        protocol_contract_tree_root,
        owner,
        [normalize_address(v) for v in validators],
        config.as_abi_tuple(),
    ]
    rollup = _deploy(rpc, signer, art.ROLLUP, encode_constructor(rollup_a.abi, rollup_code, rollup_args), gas)
    if register_rollup:
        receipt = transact_sync(
            rpc, signer, to=registry, data=encode_call(registry_a.abi, "upgrade", [rollup]), context="Registry.upgrade"
        )
        gas["Registry.upgrade"] = receipt.gas_used
    addresses = read_l1_addresses_sync(rpc, rollup, node_modules=node_modules, registry=registry)
    addresses = dataclasses.replace(addresses, txs_decoder=txs_decoder)
    genesis = int(_view(rpc, rollup_a.abi, rollup, "GENESIS_TIME"))
    return DeployReport(addresses=addresses, gas_used=gas, genesis_time=genesis)


def deploy_l1_contracts_sync(
    w3_or_url: Web3 | str,
    deployer_key: bytes | str,
    config: RollupConfig | None = None,
    validators: Sequence[bytes | str] = (),
    **kwargs: Any,
) -> L1ContractAddresses:
    return deploy_l1_contracts_report(w3_or_url, deployer_key, config, validators, **kwargs).addresses


async def deploy_l1_contracts(
    w3_or_url: Web3 | str,
    deployer_key: bytes | str,
    config: RollupConfig | None = None,
    validators: Sequence[bytes | str] = (),
    **kwargs: Any,
) -> L1ContractAddresses:
    """trio-friendly deploy (the blocking deploy runs in a worker thread)."""

    def run() -> L1ContractAddresses:
        return deploy_l1_contracts_sync(w3_or_url, deployer_key, config, validators, **kwargs)

    return await trio.to_thread.run_sync(run)


def read_l1_addresses_sync(
    rpc: SyncRpc,
    rollup: bytes | str,
    *,
    registry: str | None = None,
    node_modules: Path | str | None = None,
) -> L1ContractAddresses:
    """Every contract address reachable from a Rollup: its escrow, inbox, outbox, verifier, fee asset,
    FeeJuicePortal (via the escrow/asset is not enough: read `FEE_JUICE_PORTAL()`), reward distributor,
    and the registry (from the reward distributor, unless given)."""
    rollup = normalize_address(rollup)
    abi = art.load_artifact(art.ROLLUP, node_modules).abi

    def view(fn: str) -> str:
        return normalize_address(_view(rpc, abi, rollup, fn))

    distributor = view("REWARD_DISTRIBUTOR")
    if registry is None:
        dist_abi = art.load_artifact(art.REWARD_DISTRIBUTOR, node_modules).abi
        registry = normalize_address(_view(rpc, dist_abi, distributor, "registry"))
    return L1ContractAddresses(
        rollup=rollup,
        registry=registry,
        inbox=view("INBOX"),
        outbox=view("OUTBOX"),
        proof_commitment_escrow=view("PROOF_COMMITMENT_ESCROW"),
        fee_juice=view("ASSET"),
        fee_juice_portal=view("FEE_JUICE_PORTAL"),
        reward_distributor=distributor,
        verifier=view("epochProofVerifier"),
    )


def read_rollup_from_registry_sync(
    rpc: SyncRpc, registry: bytes | str, *, node_modules: Path | str | None = None
) -> str:
    """The Registry's canonical rollup (`getRollup()`), for REGISTRY_CONTRACT_ADDRESS without
    ROLLUP_CONTRACT_ADDRESS. A Registry no rollup was registered with (`upgrade`) still lists its
    constructor's placeholder 0x...dead: that is an error, not an address to follow."""
    abi = art.load_artifact(art.REGISTRY, node_modules).abi
    rollup = normalize_address(_view(rpc, abi, normalize_address(registry), "getRollup"))
    if int(rollup, 16) in (0, 0xDEAD):
        raise art.ArtifactsError(f"Registry {normalize_address(registry)} has no rollup registered ({rollup})")
    return rollup


async def read_l1_addresses(rpc: SyncRpc, rollup: bytes | str, **kwargs: Any) -> L1ContractAddresses:
    return await trio.to_thread.run_sync(lambda: read_l1_addresses_sync(rpc, rollup, **kwargs))
