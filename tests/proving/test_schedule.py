"""Deadline scheduling: DAG shape, lower bounds, the list-schedule estimator and the broker's
"deadline" policy (priority keys across epochs, re-keying, the speculation cap)."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from proving.broker.state import JobStateMachine
from proving.orchestrator.schedule import (
    SPECULATIVE_OFFSET_MS,
    BlockShape,
    EpochLoad,
    deadline_key,
    epoch_tree,
    list_schedule,
    lower_bounds,
    nominal_durations,
)
from proving.types import JobFilter, ProvingJob
from proving.types import ProvingRequestType as T


def test_epoch_tree_counts_match_the_proving_doc() -> None:
    tree = epoch_tree([BlockShape(36, 18)] * 32)
    c = Counter(tree.types)
    assert len(tree) == 4191
    assert c[T.TUBE_PROOF] == 1152 and c[T.PUBLIC_VM] == 576 and c[T.MERGE_ROLLUP] == 1088
    assert c[T.BLOCK_MERGE_ROLLUP] == 30 and c[T.ROOT_ROLLUP] == 1 and c[T.BASE_PARITY] == 128
    assert len(epoch_tree([BlockShape(36, 0)] * 32)) == 3615
    one = Counter(epoch_tree([BlockShape(1, 0)]).types)  # 1-block epoch, 1-tx block: both paddings
    assert one[T.EMPTY_BLOCK_ROOT_ROLLUP] == 1 and one[T.PRIVATE_KERNEL_EMPTY] == 1


def test_epoch_tree_keys_and_types_are_the_plans() -> None:
    """The estimator's DAG is the orchestrator's: same job keys, same types (padding included)."""
    from proving.synthetic import make_epoch
    from tests.proving.test_epoch import run_plan_synchronously

    for blocks, txs in ((3, 5), (1, 1), (2, 0)):
        ep = make_epoch(blocks, txs, public_fraction=0.4, seed=blocks + txs)
        plan, _ = run_plan_synchronously(ep)
        shapes = [BlockShape(len(b.txs), sum(t.has_public_calls for t in b.txs)) for b in ep.blocks]
        tree = epoch_tree(shapes)
        emitted = {k: j.type for k, j in plan.emitted().items()}
        assert dict(zip(tree.keys, tree.types, strict=True)) == emitted


def test_seed_epoch_bounds_and_estimate() -> None:
    tree = epoch_tree([BlockShape(36, 18)] * 32)
    dur = nominal_durations(tree, 1.0)
    b = lower_bounds(tree, dur, 100)
    assert abs(b.critical_path - 42.3) < 1e-6
    assert b.lb_tail > (b.work - 10.0) / 100 + 10.0 > b.lb  # tighter than the root-only tail bound
    ours = list_schedule([EpochLoad(tree, dur, [0.0] * 32, 0.0, 1000.0)], 100).finish[0]
    aztec = list_schedule([EpochLoad(tree, dur, [0.0] * 32, 0.0, 1000.0)], 100, policy="aztec").finish[0]
    assert b.lb_tail <= ours <= 1.02 * b.lb_tail
    assert aztec > ours


shapes = st.lists(st.builds(lambda t, p: BlockShape(t, min(p, t)), st.integers(0, 9), st.integers(0, 9)),
                  min_size=1, max_size=6)


@settings(max_examples=60, deadline=None)
@given(shapes, st.integers(1, 12), st.sampled_from(["deadline", "aztec"]), st.floats(0.0, 50.0))
def test_no_schedule_beats_the_bounds(blocks: list[BlockShape], agents: int, policy: str, spread: float) -> None:
    tree = epoch_tree(blocks)
    dur = nominal_durations(tree, 1.0)
    b = lower_bounds(tree, dur, agents)
    release = [i * spread for i in range(len(blocks))]
    res = list_schedule([EpochLoad(tree, dur, [0.0] * len(blocks), 0.0, 100.0)], agents, policy=policy)  # type: ignore[arg-type]
    assert b.lb <= b.lb_tail <= res.finish[0] + 1e-9
    assert abs(res.busy - b.work) < 1e-6
    # streaming releases can only delay the finish, never make it infeasible
    late = list_schedule([EpochLoad(tree, dur, release, 0.0, 100.0)], agents)
    assert late.finish[0] >= b.critical_path - 1e-9


def test_speculative_epoch_waits_below_claimed_one() -> None:
    tree = epoch_tree([BlockShape(4, 2)] * 2)
    dur = nominal_durations(tree, 1.0)
    claimed = EpochLoad(tree, dur, [0.0, 0.0], 0.0, 1000.0)
    spec = EpochLoad(tree, dur, [0.0, 0.0], 500.0, 2000.0, speculative=True)
    alone = list_schedule([claimed], 2).finish[0]
    both = list_schedule([claimed, spec], 2)
    assert both.finish[0] == alone  # speculation never delays a claimed epoch
    assert both.finish[1] > both.finish[0]
    capped = list_schedule([claimed, spec], 4, speculative_share=0.25)
    assert capped.finish[1] >= list_schedule([claimed, spec], 4).finish[1]


def test_deadline_key_orders_slack_and_speculation() -> None:
    assert deadline_key(10.0, 1000.0, 1.0) < deadline_key(5.0, 1000.0, 1.0)  # more work above: earlier
    assert deadline_key(1.0, 900.0, 1.0) < deadline_key(1.0, 1000.0, 1.0)  # earlier deadline: earlier
    assert deadline_key(0.0, 4e9, 1.0) < deadline_key(1e6, 0.0, 1.0, speculative=True)
    assert deadline_key(0.0, 0.0, 1.0, speculative=True) >= SPECULATIVE_OFFSET_MS


def _job(n: int, epoch: int, key: int, t: T = T.MERGE_ROLLUP) -> ProvingJob:
    return ProvingJob(f"{t.name}:{n:064x}", t, epoch, f"data:{n}", key)


def _ready(m: JobStateMachine) -> None:
    m.on_journaled(list(m.take_effects().persist))


def test_broker_deadline_policy_orders_across_epochs_and_rekeys() -> None:
    m = JobStateMachine(policy="deadline")
    m.enqueue(_job(1, 5, 3000), 0.0)  # older epoch, later latest-start
    m.enqueue(_job(2, 6, 1000, T.TUBE_PROOF), 0.0)
    m.enqueue(_job(3, 6, 2000 + SPECULATIVE_OFFSET_MS), 0.0)
    _ready(m)
    first = m.dispatch(JobFilter(), "a", 0.0)
    assert first is not None and first.id.endswith(f"{2:064x}")
    assert m.set_priority(_job(3, 6, 0).id, 500)  # the speculative epoch became ours, urgent
    second = m.dispatch(JobFilter(), "a", 0.0)
    assert second is not None and second.id.endswith(f"{3:064x}")
    m.check_invariants()
    # aztec/priority policies keep the epoch first
    p = JobStateMachine(policy="priority")
    p.enqueue(_job(1, 5, 3000), 0.0)
    p.enqueue(_job(2, 6, 1000), 0.0)
    _ready(p)
    got = p.dispatch(JobFilter(), "a", 0.0)
    assert got is not None and got.epoch == 5


def test_broker_below_priority_caps_speculation() -> None:
    m = JobStateMachine(policy="deadline")
    m.enqueue(_job(1, 1, 10 + SPECULATIVE_OFFSET_MS), 0.0)
    _ready(m)
    assert m.dispatch(JobFilter(), "a", 0.0, below_priority=SPECULATIVE_OFFSET_MS) is None
    m.enqueue(_job(2, 1, 99), 0.0)
    _ready(m)
    got = m.dispatch(JobFilter(), "a", 0.0, below_priority=SPECULATIVE_OFFSET_MS)
    assert got is not None and got.priority == 99
    assert m.dispatch(JobFilter(), "a", 0.0) is not None  # without the cap the speculative one goes
    assert not m.set_priority("MERGE_ROLLUP:unknown", 1)
    m.check_invariants()
