"""The broker's access model: with PROVER_BROKER_AUTH_TOKEN set, a caller without the token can
neither enqueue, take, cancel, report nor clean up (and nothing changes); with it, everything works.
A broker bound beyond loopback without a token does not start (exit 2, one line)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import trio
from prometheus_client import CollectorRegistry

from core.http import UNAUTHORIZED, ExposureError, JsonRpcError
from node.cli import main as node_main
from proving.broker import BrokerClient, BrokerService
from proving.types import JobFilter, ProvingJob, ProvingRequestType
from tests.conftest import REPO

TOKEN = "s3cret-broker-token-0123456789"


def _job(i: int) -> ProvingJob:
    return ProvingJob(f"TUBE_PROOF:{i:064x}", ProvingRequestType.TUBE_PROOF, 1, f"data:,{i:060x}")


async def _denied(coro: object) -> None:
    with pytest.raises(JsonRpcError) as err:
        await coro  # type: ignore[misc]
    assert err.value.code == UNAUTHORIZED


async def test_without_the_token_nothing_changes_with_it_everything_works() -> None:
    service = BrokerService(None, "127.0.0.1", 0, registry=CollectorRegistry(), auth_token=TOKEN)
    async with trio.open_nursery() as n:
        await n.start(service.run)
        owner = BrokerClient(service.url, token=TOKEN, retry_for=0)
        stranger = BrokerClient(service.url, retry_for=0)
        wrong = BrokerClient(service.url, token="not-the-token-0123456789", retry_for=0)
        for i in range(3):
            await owner.enqueue_proving_job(_job(i))
        for c in (stranger, wrong):
            await _denied(c.enqueue_proving_job(_job(9)))
            await _denied(c.get_proving_job(JobFilter()))
            await _denied(c.remove_and_cancel_proving_job(_job(0).id))
            await _denied(c.report_proving_job_success(_job(1).id, "data:fake"))
            await _denied(c.report_proving_job_error(_job(2).id, "fake failure"))
            await _denied(c.cleanup_epochs_before(10))
            await _denied(c.get_proving_job_status(_job(0).id))
            await _denied(c.statistics())
        # nothing the strangers tried happened
        assert (await owner.get_proving_job_status(_job(9).id)).status == "not-found"
        assert [(await owner.get_proving_job_status(_job(i).id)).status for i in range(3)] == ["in-queue"] * 3
        # the token holder can do all of it
        job = await owner.get_proving_job(JobFilter(), agent_id="a")
        assert job is not None
        assert (await owner.report_proving_job_success(job.id, "data:ok", agent_id="a")).applied
        other = await owner.get_proving_job(JobFilter(), agent_id="a")
        assert other is not None
        assert (await owner.report_proving_job_error(other.id, "failed", agent_id="a")).applied
        assert (await owner.remove_and_cancel_proving_job(_job(2).id)).status in ("rejected", "not-found")
        assert await owner.cleanup_epochs_before(10) >= 1
        for c in (owner, stranger, wrong):
            await c.aclose()
        n.cancel_scope.cancel()


def test_broker_beyond_loopback_without_token_is_a_config_error() -> None:
    with pytest.raises(ExposureError, match="PROVER_BROKER_AUTH_TOKEN"):
        BrokerService(None, "0.0.0.0", 0, registry=CollectorRegistry())
    env = {k: v for k, v in os.environ.items() if k != "PROVER_BROKER_AUTH_TOKEN"}
    env.update(AZTEC_HOST="0.0.0.0", AZTEC_PORT="0", LOG_LEVEL="info")  # the one broker entry point
    out = subprocess.run([sys.executable, "-m", "node", "--prover-broker"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "PROVER_BROKER_AUTH_TOKEN" in out.stderr


def test_node_prover_broker_beyond_loopback_without_token_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert node_main(["--prover-broker"], {"AZTEC_HOST": "0.0.0.0", "AZTEC_PORT": "0"}) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "PROVER_BROKER_AUTH_TOKEN" in err
    assert node_main(["--prover-broker"], {"AZTEC_HOST": "0.0.0.0", "PROVER_BROKER_AUTH_TOKEN": "short"}) == 2


async def test_a_gone_long_poller_is_not_handed_a_job() -> None:
    """An agent's getProvingJob long-poll whose socket closes stops waiting at once: the next job
    goes to a live agent, not to the dead connection."""
    service = BrokerService(None, "127.0.0.1", 0, registry=CollectorRegistry())
    async with trio.open_nursery() as n:
        host, p = await n.start(service.run)
        body = b'{"jsonrpc":"2.0","id":1,"method":"getProvingJob","params":[null,"dead",30000]}'
        dead = await trio.open_tcp_stream(host, p)
        await dead.send_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        while service.server.stats.busy < 1:  # noqa: ASYNC110 - the long-poll has reached the broker
            await trio.sleep(0.01)
        await dead.aclose()
        with trio.fail_after(5):  # not the 30 s of its timeout
            while service.server.stats.busy:  # noqa: ASYNC110 - the long-poll ended on the disconnect
                await trio.sleep(0.01)
        owner = BrokerClient(service.url, retry_for=0)
        await owner.enqueue_proving_job(_job(1))
        live = await owner.get_proving_job(JobFilter(), agent_id="live")
        assert live is not None and live.id == _job(1).id
        await owner.aclose()
        n.cancel_scope.cancel()
