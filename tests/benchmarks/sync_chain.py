"""Sync `invoke` of a 50-step sequence of trivial sync functions, side by side with langchain-core.

Run: `python tests/benchmarks/sync_chain.py`. Not collected by pytest (no `test_` prefix).

Needs `langchain-core` installed in the environment (it is not a dependency of this project);
without it the langchain-core row is skipped with a message, and only our figure is printed.

Rounds alternate (langchain-core, ours, ...); each figure is the best round, and the ratio
compares figures of the same run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from runnables import RunnableLambda, RunnableSequence

STEPS = 50


def inc(x: int) -> int:
    return x + 1


def ours() -> Callable[[int], Any]:
    return RunnableSequence(*[RunnableLambda(inc) for _ in range(STEPS)]).invoke


def langchain() -> Callable[[int], Any] | None:
    try:
        from langchain_core.runnables import RunnableLambda as LCLambda
        from langchain_core.runnables import RunnableSequence as LCSequence
    except ImportError:
        return None
    chain: Any = LCSequence(*[LCLambda(inc) for _ in range(STEPS)])
    return chain.invoke  # type: ignore[no-any-return]


def main(n: int = 200, rounds: int = 7) -> None:
    cases: dict[str, Callable[[int], Any]] = {}
    lc = langchain()
    if lc is None:
        print("langchain-core is not installed: its row is skipped (pip install langchain-core)")
    else:
        cases["langchain-core"] = lc
    cases["ours"] = ours()
    for fn in cases.values():
        assert fn(0) == STEPS
        for _ in range(20):
            fn(0)
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(rounds):
        for name, fn in cases.items():
            start = time.perf_counter()
            for _ in range(n):
                fn(0)
            best[name] = min(best[name], (time.perf_counter() - start) / n)
    print(f"sync invoke of a {STEPS}-step sequence of trivial sync functions")
    for name, seconds in best.items():
        line = f"   {name:15} {seconds * 1e3:7.3f} ms/call"
        if "langchain-core" in best and name == "ours":
            line += f"   {seconds / best['langchain-core']:5.2f}x langchain-core (target <= 0.5x)"
        print(line)


if __name__ == "__main__":
    main()
