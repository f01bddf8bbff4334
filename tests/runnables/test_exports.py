import runnables


def test_all_is_exact_and_importable() -> None:
    assert sorted(runnables.__all__) == [
        "AddableDict",
        "BaseCallbackHandler",
        "BranchError",
        "Edge",
        "Graph",
        "Node",
        "QuorumError",
        "RateLimiter",
        "Reservation",
        "RunEvent",
        "RunState",
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
        "RunnableWrapper",
        "add_global_handler",
        "chain",
        "coerce_to_runnable",
        "current_run",
        "leaf_slot",
        "loop_resource",
        "remove_global_handler",
    ]
    for name in runnables.__all__:
        assert getattr(runnables, name) is not None
