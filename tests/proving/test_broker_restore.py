"""A restart loads only unsettled jobs and recent settled ones; older settled jobs are answered from
the journal on demand (so restart time does not grow with settled history)."""

from __future__ import annotations

from pathlib import Path

import trio
from prometheus_client import CollectorRegistry

from proving.broker import ProvingBroker
from proving.broker.store import SqliteJobStore
from proving.proof_store import UriPolicy
from proving.types import JobFilter, ProvingJob, ProvingRequestType, make_job_id

POLICY = UriPolicy(Path("/proofs"))


def _job(i: int) -> ProvingJob:
    t = ProvingRequestType.TUBE_PROOF
    jid = make_job_id(t, f"job-{i}".encode())
    return ProvingJob(jid, t, 1, f"file:///proofs/in/{i}")


def _broker(db: Path, retain: int) -> ProvingBroker:
    return ProvingBroker(SqliteJobStore(db), uri_policy=POLICY, restore_settled=retain, registry=CollectorRegistry())


async def test_restart_keeps_settled_history_on_disk(tmp_path: Path) -> None:
    db = tmp_path / "broker.sqlite"
    jobs = [_job(i) for i in range(30)]
    async with trio.open_nursery() as nursery:
        b = _broker(db, 5)
        await nursery.start(b.run)
        for j in jobs:
            await b.enqueue_proving_job(j)
        for _ in range(20):  # 20 settle, 10 stay queued
            got = await b.get_proving_job(JobFilter())
            assert got is not None
            await b.report_proving_job_success(got.id, f"file:///proofs/out/{got.id[-8:]}")
        nursery.cancel_scope.cancel()
    b.store.close()  # type: ignore[union-attr]

    async with trio.open_nursery() as nursery:
        b = _broker(db, 5)
        await nursery.start(b.run)
        assert b.store is not None and b.store.history_on_disk
        assert len(b.machine) == 10  # unsettled; the 5 newest jobs (by seq) are all unsettled here
        assert sum(b.machine.queue_depths().values()) == 10
        oldest = jobs[0].id
        assert b.machine.record(oldest) is None
        st = await b.get_proving_job_status(oldest)
        assert st.status == "fulfilled" and st.value is not None and st.value.endswith(oldest[-8:])
        assert b.history_reads == 1
        # re-enqueueing a settled job from the old history does not prove it again
        again = await b.enqueue_proving_job(jobs[1])
        assert again.status == "fulfilled"
        assert sum(b.machine.queue_depths().values()) == 10
        # an unknown job is still unknown
        assert (await b.get_proving_job_status(_job(999).id)).status == "not-found"
        nursery.cancel_scope.cancel()
    b.store.close()
