import runnables


def test_all_is_exact_and_importable() -> None:
    assert sorted(runnables.__all__) == [
        "AddableDict",
        "BaseCache",
        "BaseCallbackHandler",
        "BranchError",
        "Budget",
        "BudgetExceededError",
        "BudgetReservation",
        "CACHE_MISS",
        "Edge",
        "Graph",
        "InMemoryCache",
        "Node",
        "QuorumError",
        "RateLimiter",
        "RedisCache",
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
        "RunnableWithCache",
        "RunnableWithFallbacks",
        "RunnableWrapper",
        "SQLiteCache",
        "add_global_handler",
        "adispatch_custom_event",
        "cache_key",
        "chain",
        "coerce_to_runnable",
        "current_run",
        "dispatch_custom_event",
        "leaf_slot",
        "loop_resource",
        "remove_global_handler",
    ]
    for name in runnables.__all__:
        assert getattr(runnables, name) is not None


def test_ray_module_exports_and_stays_optional() -> None:
    import subprocess
    import sys

    import runnables.ray

    assert sorted(runnables.ray.__all__) == ["RayExecutor", "RayRateLimiter"]
    for name in runnables.ray.__all__:
        assert getattr(runnables.ray, name) is not None
    # Ray is an optional extra: the package itself never imports it.
    code = "import sys, runnables, llm, prompts; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
