"""The whole-loop simulation (node/deadline/sim.py), the plan-based quote provider and the planner.

Small epochs (4 blocks x 4 txs) keep each run well under a second; the properties checked are the
ones the bench relies on: repeatable per seed, speculation wins time and is cancelled (and
counted) when another prover wins, Aztec's start-at-claim needs more agents, refused quotes are
refused and quoted epochs are proven in time."""

from __future__ import annotations

from dataclasses import replace

import pytest
import trio

from node.cli import main as cli_main
from node.deadline.sim import SimConfig, fewest_agents, simulate, throughput_bound
from node.prover_node.plan_quote import PlanQuoteConfig, PlanQuoteProvider, QuoteRefused
from node.prover_node.quote_provider import QuoteRequest
from proving.orchestrator.schedule import BlockShape

SMALL = SimConfig(agents=8, epochs=3, blocks_per_epoch=4, txs_per_block=4, slot_duration=36, claim_window=3,
                  claim_position=1, seconds_per_mgate=1.0, competitors=1, seed=3)


def _summary(r: object) -> list[tuple[object, ...]]:
    return [(e.epoch, e.winner, e.claimed_at, e.proven_at, e.missed, e.wasted) for e in r.epochs.values()]  # type: ignore[attr-defined]


@pytest.mark.slow  # fast tier: a live network / subprocess / long simulation; CI runs it
def test_simulation_is_seeded_and_repeatable() -> None:
    cfg = replace(SMALL, failure_rate=0.05)
    a, b = simulate(cfg), simulate(cfg)
    assert _summary(a) == _summary(b) and a.busy == b.busy and a.timeouts == b.timeouts
    c = simulate(replace(cfg, seed=4))
    assert _summary(c) != _summary(a) or c.busy != a.busy


def test_we_prove_every_epoch_we_win_before_the_deadline() -> None:
    r = simulate(SMALL)
    ours = r.ours()
    assert len(ours) == SMALL.epochs
    for e in ours:
        assert e.proven_at is not None and e.claimed_at is not None and not e.missed
        assert e.proven_at <= e.deadline
    # speculation: most of the work was done before the claim, so the proof follows it quickly
    aztec = simulate(replace(SMALL, behaviour="aztec", speculation=False))
    assert max(e.makespan or 0 for e in ours) < min(e.makespan or 1e9 for e in aztec.ours())


def test_lost_epochs_are_cancelled_and_counted_as_waste() -> None:
    r = simulate(replace(SMALL, epochs=4, win_every=2, competitors=2))
    won = {e.epoch for e in r.ours()}
    lost = [e for e in r.epochs.values() if e.winner not in (None, "us")]
    assert won and lost
    assert all(e.epoch % 2 == 0 for e in r.ours())
    assert r.speculative_wasted > 0 and r.speculative_wasted == pytest.approx(sum(e.wasted for e in lost))
    assert r.missed == 0


def test_agent_failures_are_survived_through_broker_timeouts() -> None:
    r = simulate(replace(SMALL, failure_rate=0.05, restart_s=5.0, job_timeout=20.0, heartbeat_s=5.0, agents=12))
    assert r.timeouts > 0
    assert all(e.proven_at is not None for e in r.ours())


@pytest.mark.slow  # fast tier: a live network / subprocess / long simulation; CI runs it
def test_fewest_agents_ours_below_aztec() -> None:
    ours, _ = fewest_agents(SMALL, 1, 64)
    aztec, _ = fewest_agents(replace(SMALL, behaviour="aztec", speculation=False), 1, 64)
    assert ours is not None and aztec is not None
    assert ours <= aztec
    assert ours >= int(throughput_bound(SMALL))


def _provider(agents: int, cost: int = 0) -> PlanQuoteProvider:
    class Shapes:
        def epoch_shapes(self, epoch: int) -> list[BlockShape]:
            return [BlockShape(36, 18)] * 32

    cfg = PlanQuoteConfig(agents=agents, bond_amount=1000, slot_duration=36, epoch_duration=32, claim_window=13,
                          cost_per_agent_hour=cost, profit_margin=0.0, failure_allowance=0.0)
    return PlanQuoteProvider(cfg, Shapes())


REQ = QuoteRequest(epoch_number=5, from_block=1, to_block=32, tx_count=1152, total_fees=10**9)


def test_plan_quote_refuses_what_it_cannot_finish_and_prices_from_cost() -> None:
    with pytest.raises(QuoteRefused, match="does not fit"):
        _provider(100).quote(REQ)
    p = _provider(600, cost=10**6)
    params = p.quote(REQ)
    stats = p.statistics()
    assert stats["quoted"] == 1 and stats["slack"] > 0 and stats["epoch"] == 5
    ev = p.evaluate(REQ, [BlockShape(36, 18)] * 32)
    assert ev.makespan * 1.1 <= ev.window == 684.0
    assert params.basis_point_fee == pytest.approx(10_000 * ev.work_agent_hours * 10**6 / 10**9, abs=1)
    with pytest.raises(QuoteRefused, match="exceeds"):
        _provider(600, cost=10**12).quote(REQ)
    # blocks already proven speculatively count as done
    partial = p.evaluate(REQ, [BlockShape(36, 18)] * 32, frozenset(range(30)))
    assert partial.makespan < ev.makespan


async def test_plan_quote_async_port(autojump_clock: trio.abc.Clock) -> None:
    params = await _provider(600).get_quote(REQ)
    assert params.bond_amount == 1000 and params.basis_point_fee == 0


@pytest.mark.slow  # fast tier: a live network / subprocess / long simulation; CI runs it
def test_plan_command_prints_the_three_behaviours(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["plan", "--agents", "200", "--tps", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "Aztec" in out and "speculation" in out and "slack" in out
    assert cli_main(["plan", "--claim-slot", "0"]) == 2
