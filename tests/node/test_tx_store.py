"""The tx pool survives restarts (DATA_DIRECTORY/tx_pool.sqlite): pending txs come back in order,
mined and expired ones are removed, a flushed pool survives kill -9, and a restored pool equals the
original's pending set after any sequence of operations (hypothesis)."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.tx_store import SqliteTxStore
from node.txbot import make_tx
from p2p.pools.tx_pool import TxPool
from p2p.wire.tx import OFF_MAX_BLOCK_NUMBER, Tx

REPO = Path(__file__).resolve().parents[2]


def tx(n: int, max_block: int | None = None) -> Tx:
    t = make_tx(n, chain_id=31337)
    if max_block is None:
        return t
    data = bytearray(t.data)
    data[OFF_MAX_BLOCK_NUMBER] = 1
    data[OFF_MAX_BLOCK_NUMBER + 1 : OFF_MAX_BLOCK_NUMBER + 33] = max_block.to_bytes(32, "big")
    return dataclasses.replace(t, data=bytes(data))


def test_restore_keeps_pending_in_order_and_drops_mined_and_expired(tmp_path: Path) -> None:
    path = tmp_path / "tx_pool.sqlite"
    store = SqliteTxStore(path)
    pool = TxPool(store=store)
    txs = [tx(i) for i in range(1, 8)] + [tx(100, max_block=5), tx(101, max_block=50)]
    for t in txs:
        assert pool.add_tx(t)
    pool.mark_as_mined([txs[1].tx_hash(), txs[2].tx_hash()], 3)
    pool.mark_mined_as_pending([txs[2].tx_hash()])  # a prune: pending again
    pool.delete_txs([txs[3].tx_hash()])
    store.close()

    again = TxPool(store=SqliteTxStore(path))
    assert again.restore(next_block_number=10) == 6
    want = [t.tx_hash() for t in txs if t not in (txs[1], txs[3], txs[7])]  # mined, deleted, expired (5 < 10)
    assert sorted(again.get_pending_tx_hashes()) == sorted(want)
    assert again.get_pending_tx_hashes()[:2] == [txs[0].tx_hash(), txs[2].tx_hash()]  # original order
    assert again.get_tx_by_hash(txs[8].tx_hash()) == txs[8]
    st_ = again.statistics()
    assert st_["dropped_on_restore"] == 2 and st_["restored"] == 6
    assert again.store is not None
    again.store.close()
    # what restore dropped is gone from the disk too
    third = TxPool(store=SqliteTxStore(path))
    assert third.restore(next_block_number=10) == 6 and third.statistics()["dropped_on_restore"] == 0


def test_restore_respects_the_pool_bounds(tmp_path: Path) -> None:
    path = tmp_path / "p.sqlite"
    pool = TxPool(store=SqliteTxStore(path))
    for i in range(1, 11):
        pool.add_tx(tx(i))
    assert pool.store is not None
    pool.store.close()
    small = TxPool(max_txs=4, store=SqliteTxStore(path))
    small.restore()
    assert len(small) == 4  # the newest four, the oldest evicted as on a live pool
    assert small.get_pending_tx_hashes() == [tx(i).tx_hash() for i in range(7, 11)]


CHILD = """
import sys, time
from node.tx_store import SqliteTxStore
from node.txbot import make_tx
from p2p.pools.tx_pool import TxPool
pool = TxPool(store=SqliteTxStore(__import__("pathlib").Path(sys.argv[1])))
for i in range(1, 201):
    pool.add_tx(make_tx(i, chain_id=31337))
pool.mark_as_mined([make_tx(i, chain_id=31337).tx_hash() for i in range(1, 51)], 7)
pool.store.flush()
print("flushed", flush=True)
for i in range(1000, 1100):  # queued, never flushed: may be lost, must not corrupt
    pool.add_tx(make_tx(i, chain_id=31337))
time.sleep(60)
"""


def test_flushed_pool_survives_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "tx_pool.sqlite"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "flushed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    pool = TxPool(store=SqliteTxStore(path))
    assert pool.restore() == 150  # 200 flushed, 50 of them mined
    assert set(pool.get_pending_tx_hashes()) == {make_tx(i, chain_id=31337).tx_hash() for i in range(51, 201)}


ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(1, 30)),
        st.tuples(st.just("mined"), st.lists(st.integers(1, 30), max_size=4), st.integers(1, 9)),
        st.tuples(st.just("pending"), st.lists(st.integers(1, 30), max_size=4)),
        st.tuples(st.just("delete"), st.lists(st.integers(1, 30), max_size=4)),
        st.tuples(st.just("flush")),
    ),
    max_size=60,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops)
def test_restored_pool_equals_the_original(tmp_path: Path, steps: list[tuple[object, ...]]) -> None:
    path = tmp_path / f"h{abs(hash(str(steps)))}.sqlite"
    if path.exists():
        path.unlink()
    store = SqliteTxStore(path)
    pool = TxPool(max_txs=12, store=store)
    for step in steps:
        kind = step[0]
        if kind == "add":
            pool.add_tx(tx(int(step[1])))  # type: ignore[call-overload]
        elif kind == "mined":
            pool.mark_as_mined([tx(n).tx_hash() for n in step[1]], int(step[2]))  # type: ignore[attr-defined,call-overload]
        elif kind == "pending":
            pool.mark_mined_as_pending([tx(n).tx_hash() for n in step[1]])  # type: ignore[attr-defined]
        elif kind == "delete":
            pool.delete_txs([tx(n).tx_hash() for n in step[1]])  # type: ignore[attr-defined]
        else:
            store.flush()
    store.close()
    again = TxPool(max_txs=12, store=SqliteTxStore(path))
    again.restore()
    assert set(again.get_pending_tx_hashes()) == set(pool.get_pending_tx_hashes())
    assert again.get_mined_tx_hashes() == []
    assert again.store is not None
    again.store.close()
