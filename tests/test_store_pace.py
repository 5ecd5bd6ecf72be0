"""The pacer sizes write transactions to the budget (`feedhub.store.pace`): pure arithmetic
on the durations it is told, so these tests feed it durations instead of timing anything."""

from __future__ import annotations

from itertools import pairwise

from feedhub.store.pace import AIM, Pacer


def sizes(pacer: Pacer, cost: float, steps: int, fixed: float = 0.0) -> list[int]:
    """Batch sizes over ``steps`` transactions that take ``fixed`` + ``cost`` per item."""
    out = []
    for _ in range(steps):
        out.append(pacer.batch)
        pacer.record(fixed + cost * pacer.batch)
    return out


def test_a_steady_pace_settles_on_the_batch_that_fills_the_budget() -> None:
    # 8 ms an item, 0.2 s budget: the threshold rule stayed at 8 items (64 ms: neither
    # under a quarter of the budget nor over it), a commit every 8 articles.
    seen = sizes(Pacer(budget=0.2), cost=0.008, steps=12)
    assert abs(seen[-1] - AIM * 0.2 / 0.008) <= 1  # 20 items: 0.16 s
    assert all(b * 0.008 <= 0.2 for b in seen)


def test_steps_at_most_double_or_halve() -> None:
    pacer = Pacer(budget=0.2, batch=64)
    seen = sizes(pacer, cost=0.0001, steps=6) + sizes(pacer, cost=1.0, steps=10)
    for before, after in pairwise(seen):
        assert before // 2 <= after <= before * 2
    assert seen[5] > 64 and seen[-1] == 1  # grew while quick, shrank to one item when slow


def test_the_batch_stays_within_one_and_the_maximum() -> None:
    pacer = Pacer(budget=0.2, batch=4, max_batch=50)
    assert max(sizes(pacer, cost=0.0, steps=10)) == 50  # instant transactions
    assert min(sizes(pacer, cost=10.0, steps=10)) == 1


def test_a_fixed_cost_per_transaction_is_paid_for_with_larger_batches() -> None:
    # A commit that costs as much as 20 items: the batch still ends near the aim.
    pacer = Pacer(budget=0.2)
    seen = sizes(pacer, cost=0.004, steps=20, fixed=0.08)
    last = seen[-1]
    assert 0.5 * AIM * 0.2 <= 0.08 + 0.004 * last <= 0.2
