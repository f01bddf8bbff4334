import runnables


def test_all_is_exact_and_importable() -> None:
    assert sorted(runnables.__all__) == [
        "AddableDict",
        "BranchError",
        "Edge",
        "Graph",
        "Node",
        "QuorumError",
        "RateLimiter",
        "Reservation",
        "Runnable",
        "RunnableAssign",
        "RunnableBinding",
        "RunnableBranch",
        "RunnableConfig",
        "RunnableEach",
        "RunnableGenerator",
        "RunnableLambda",
        "RunnableParallel",
        "RunnablePassthrough",
        "RunnablePick",
        "RunnableRace",
        "RunnableRetry",
        "RunnableSequence",
        "RunnableTimeout",
        "RunnableWithFallbacks",
        "chain",
        "coerce_to_runnable",
        "leaf_slot",
    ]
    for name in runnables.__all__:
        assert getattr(runnables, name) is not None
