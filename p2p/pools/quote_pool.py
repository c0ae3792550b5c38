"""EpochProofQuotePool: quotes per epoch, bounded, with the proposer's best-quote rule (sans-IO).

Aztec 0.63 keeps a plain list per epoch with no checks and no de-duplication (p2p doc 8.1). This
pool keeps 0.63's interface (`add_quote`, `get_quotes`, `delete_quotes_to_epoch`) and adds:
- de-duplication by (payload, normalised signature): a high-s variant of a signature is the same
  quote, so re-signed malleated copies are not stored twice;
- bounds: at most `max_per_epoch` quotes per epoch, `max_per_prover` per prover per epoch and
  `max_total` overall. Whenever a bound is hit the **worst** quote of the group it bounds goes, the
  incoming one included: worst = unclaimable before claimable, then highest fee, then newest. So an
  unclaimable quote (expired, or bond no longer covered, per the `claimable` hook the admission
  rule installs) never displaces a claimable one, and a full group refuses a quote that is not
  better than everything in it (`REFUSED_FULL` / `REFUSED_PROVER_CAP`). When the whole pool is
  full, expired quotes go first (if the current slot is known), then the worst of the epoch
  holding most quotes. Admission (bond in escrow, signature domain, minimum bond, fee range) is
  `p2p.pools.quote_admission`; this pool only ranks what it is given;
- `best_quote`: the proposer's rule (sequencer.ts): drop quotes with validUntilSlot < slot, drop
  those the caller's `is_claimable` check rejects (the L1 `validateEpochProofRightClaimAtTime`
  eth_call), then the lowest basisPointFee, ties going to the quote received first.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

from p2p.validation import quote_not_expired
from p2p.wire.quote import SECP256K1_N, EpochProofQuote

DEFAULT_MAX_PER_EPOCH: Final = 128
DEFAULT_MAX_TOTAL: Final = 1024
DEFAULT_MAX_PER_PROVER: Final = 4  # per prover per epoch

# claimable(quote, current_slot or None) -> bool; the admission rule installs one (bond still
# covered by the escrow); the pool itself adds "not expired" when the slot is known.
Claimable = Callable[[EpochProofQuote, "int | None"], bool]


def drop_expired(quotes: Iterable[EpochProofQuote], slot: int) -> list[EpochProofQuote]:
    """Keep quotes with validUntilSlot >= slot, in their original order."""
    return [q for q in quotes if quote_not_expired(q.payload.valid_until_slot, slot)]


def select_best_quote(
    quotes: Iterable[EpochProofQuote], slot: int, claimable: Callable[[EpochProofQuote], bool] = lambda _q: True
) -> EpochProofQuote | None:
    """The sequencer's choice (Aztec v0.63.1): lowest basisPointFee among unexpired quotes that are
    `claimable`; ties go to the quote seen first (Aztec uses a stable sort). `claimable` (an L1 check,
    say) is asked in that order and only until one says yes. node/l1/rules re-exports this."""
    for q in sorted(drop_expired(quotes, slot), key=lambda q: q.payload.basis_point_fee):  # stable
        if claimable(q):
            return q
    return None


def quote_key(quote: EpochProofQuote) -> bytes:
    """Identity of a quote: payload bytes + r + low-s (so s and n-s variants collide)."""
    s = quote.signature.s
    low_s = min(s, SECP256K1_N - s) if 0 < s < SECP256K1_N else s
    return quote.payload.to_bytes() + quote.signature.r.to_bytes(32, "big") + low_s.to_bytes(32, "big")


class AddResult(enum.Enum):
    ADDED = "added"
    DUPLICATE = "duplicate"
    REFUSED_FULL = "refused_full"  # epoch (or pool) full and the quote is not better than the worst kept
    REFUSED_PROVER_CAP = "refused_prover_cap"  # its prover's quotes for the epoch are at the cap, all better


@dataclass(frozen=True, slots=True)
class _Entry:
    seq: int
    key: bytes
    quote: EpochProofQuote


class EpochProofQuotePool:
    def __init__(
        self,
        *,
        max_per_epoch: int = DEFAULT_MAX_PER_EPOCH,
        max_total: int = DEFAULT_MAX_TOTAL,
        max_per_prover: int = DEFAULT_MAX_PER_PROVER,
        claimable: Claimable | None = None,
    ) -> None:
        if max_per_epoch < 1 or max_total < 1 or max_per_prover < 1:
            raise ValueError("pool bounds must be >= 1")
        self.max_per_epoch = max_per_epoch
        self.max_total = max_total
        self.max_per_prover = max_per_prover
        self.claimable: Claimable = claimable or (lambda _q, _slot: True)
        self._epochs: dict[int, list[_Entry]] = {}
        self._keys: dict[bytes, int] = {}  # key -> epoch
        self._seq = 0
        self._stats = {
            "added": 0,
            "duplicates": 0,
            "refused_full": 0,
            "refused_prover_cap": 0,
            "evicted": 0,
            "expired": 0,
            "deleted": 0,
        }

    def __len__(self) -> int:
        return len(self._keys)

    def contains(self, quote: EpochProofQuote) -> bool:
        return quote_key(quote) in self._keys

    def is_claimable(self, quote: EpochProofQuote, current_slot: int | None) -> bool:
        if current_slot is not None and not quote_not_expired(quote.payload.valid_until_slot, current_slot):
            return False
        return self.claimable(quote, current_slot)

    def _rank(self, e: _Entry, slot: int | None) -> tuple[bool, int, int]:
        """Larger is worse: unclaimable first, then highest fee, then newest."""
        return (not self.is_claimable(e.quote, slot), e.quote.payload.basis_point_fee, e.seq)

    def _worst(self, group: list[_Entry], slot: int | None) -> _Entry:
        return max(group, key=lambda e: self._rank(e, slot))

    def add_quote(self, quote: EpochProofQuote, *, current_slot: int | None = None) -> AddResult:
        key = quote_key(quote)
        if key in self._keys:
            self._stats["duplicates"] += 1
            return AddResult.DUPLICATE
        epoch = quote.payload.epoch_to_prove
        new = _Entry(self._seq + 1, key, quote)
        bucket = self._epochs.get(epoch, [])
        victims: list[_Entry] = []
        mine = [e for e in bucket if e.quote.payload.prover == quote.payload.prover]
        if len(mine) >= self.max_per_prover:
            worst = self._worst([*mine, new], current_slot)
            if worst is new:
                self._stats["refused_prover_cap"] += 1
                return AddResult.REFUSED_PROVER_CAP
            victims.append(worst)
        elif len(bucket) >= self.max_per_epoch:
            worst = self._worst([*bucket, new], current_slot)
            if worst is new:
                self._stats["refused_full"] += 1
                return AddResult.REFUSED_FULL
            victims.append(worst)
        if not victims and len(self._keys) >= self.max_total:
            if current_slot is not None:
                self.prune_expired(current_slot)
            if len(self._keys) >= self.max_total:
                big = max(self._epochs, key=lambda e: (len(self._epochs[e]), -e))
                worst = self._worst([*self._epochs[big], new], current_slot)
                if worst is new:
                    self._stats["refused_full"] += 1
                    return AddResult.REFUSED_FULL
                self._remove(big, worst)
                self._stats["evicted"] += 1
        for v in victims:
            self._remove(epoch, v)
            self._stats["evicted"] += 1
        self._seq += 1
        self._epochs.setdefault(epoch, []).append(new)
        self._keys[key] = epoch
        self._stats["added"] += 1
        return AddResult.ADDED

    def _remove(self, epoch: int, entry: _Entry) -> None:
        bucket = self._epochs[epoch]
        bucket.remove(entry)
        del self._keys[entry.key]
        if not bucket:
            del self._epochs[epoch]

    def get_quotes(self, epoch: int) -> list[EpochProofQuote]:
        """Quotes for `epoch` in the order received."""
        return [e.quote for e in self._epochs.get(epoch, ())]

    def epochs(self) -> list[int]:
        return sorted(self._epochs)

    def best_quote(
        self,
        epoch: int,
        current_slot: int,
        is_claimable: Callable[[EpochProofQuote], bool] = lambda _q: True,
    ) -> EpochProofQuote | None:
        """Lowest fee among unexpired, claimable quotes (the pool's `claimable` hook and the
        caller's `is_claimable`, e.g. the L1 eth_call); ties go to the one received first."""
        return select_best_quote(
            [e.quote for e in self._epochs.get(epoch, ())],
            current_slot,
            lambda q: self.claimable(q, current_slot) and is_claimable(q),
        )

    def delete_quotes_to_epoch(self, epoch: int) -> int:
        """Remove every quote for epochs <= `epoch` (called when an epoch is proven)."""
        n = 0
        for e in [e for e in self._epochs if e <= epoch]:
            for entry in self._epochs.pop(e):
                del self._keys[entry.key]
                n += 1
        self._stats["deleted"] += n
        return n

    def prune_expired(self, current_slot: int) -> int:
        n = 0
        for epoch in list(self._epochs):
            for entry in [x for x in self._epochs[epoch]
                          if not quote_not_expired(x.quote.payload.valid_until_slot, current_slot)]:
                self._remove(epoch, entry)
                n += 1
        self._stats["expired"] += n
        return n

    def statistics(self) -> dict[str, object]:
        return {
            "quotes": len(self._keys),
            "epochs": len(self._epochs),
            "max_per_epoch": self.max_per_epoch,
            "max_total": self.max_total,
            "max_per_prover": self.max_per_prover,
            **self._stats,
        }
