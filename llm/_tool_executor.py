"""`ToolExecutor`: the step that runs a reply's tool calls and returns the tools' messages.

Input: an `AIMessage` (or a list of messages ending with one, such as a conversation so far).
Output: one `ToolMessage` per call, in the order of the calls, whatever order they finish in.

The calls run concurrently (the executor's per-call step mapped over them, so the first
failure cancels the others); each tool holds a slot of the run's `max_concurrency` while it
works, so the limit set for a run also bounds its tools. A call that fails (an unknown tool,
arguments that are not valid JSON or do not fit the tool's schema, an exception in the tool)
either raises, with a note naming the tool and the call, or with `handle_errors=True` becomes a
`ToolMessage` with `status="error"` whose content says what went wrong, so the model can see the
failure and try again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from prompts._messages import AIMessage, BaseMessage, ToolMessage
from prompts._tool_calls import InvalidToolCall, ToolCall
from runnables import Runnable, RunnableConfig
from runnables._concurrency import gather
from runnables._events import call_child
from runnables._tool import BaseTool

__all__ = ["ToolExecutor"]


class ToolCallError(LookupError):
    """A tool call that cannot be run: it names no known tool, or its arguments were not JSON."""


class ToolExecutor(Runnable[AIMessage | Sequence[BaseMessage], list[ToolMessage]]):
    """Runs the tool calls of an `AIMessage` and returns the `ToolMessage`s, in call order.

    Args:
        tools: The tools the model may call, by their `name`.
        handle_errors: Turn a failing call into an error `ToolMessage` (`status="error"`,
            content `"Error: ..."`) instead of raising.

    Raises:
        TypeError: `tools` is not a list of tools, or `handle_errors` is not a bool.
        ValueError: `tools` is empty or two tools share a name.

    Example:
        >>> reply = model_with_tools.invoke(question)  # doctest: +SKIP
        >>> ToolExecutor([get_weather]).invoke(reply)  # doctest: +SKIP
        [ToolMessage(content='...', tool_call_id='call_0', name='get_weather')]
    """

    def __init__(self, tools: Sequence[BaseTool], *, handle_errors: bool = False) -> None:
        if not isinstance(tools, list | tuple):
            raise TypeError(f'Invalid "tools" argument: {tools!r}; expected a list of tools')
        if not tools:
            raise ValueError('Invalid "tools" argument: []; give at least one tool')
        by_name: dict[str, BaseTool] = {}
        for i, tool in enumerate(tools):
            if not isinstance(tool, BaseTool):
                raise TypeError(
                    f'Invalid "tools[{i}]" argument: {tool!r}; expected a tool (make one with '
                    "@tool or Runnable.as_tool)"
                )
            if tool.name in by_name:
                raise ValueError(f'Invalid "tools" argument: two tools are named {tool.name!r}')
            by_name[tool.name] = tool
        if not isinstance(handle_errors, bool):
            raise TypeError(f'Invalid "handle_errors" argument: {handle_errors!r}; expected a bool')
        self.tools = by_name
        self.handle_errors = handle_errors

    def __repr__(self) -> str:
        return f"ToolExecutor(tools={list(self.tools)!r}, handle_errors={self.handle_errors})"

    async def _acall(self, input: Any, config: RunnableConfig, **kwargs: Any) -> list[ToolMessage]:
        message = _last_ai_message(input)
        calls: list[ToolCall | InvalidToolCall] = [*message.tool_calls, *message.invalid_tool_calls]
        if not calls:
            return []
        # The core's fan-out: the first failure cancels the other calls. Each tool reports as a
        # child of the executor, with no layer of ours between them.
        return await gather(
            [self._run(i, len(calls), call, config) for i, call in enumerate(calls)]
        )

    async def _run(
        self, index: int, total: int, call: Mapping[str, Any], config: RunnableConfig
    ) -> ToolMessage:
        """One call: look the tool up, run it, answer with a ToolMessage."""
        name, call_id = call.get("name") or "", call.get("id") or ""
        try:
            if "error" in call:  # an InvalidToolCall: its arguments were not a JSON object
                raise ToolCallError(f"Invalid arguments for tool {name!r}: {call['error']}")
            tool = self.tools.get(name)
            if tool is None:
                raise ToolCallError(
                    f"The model called an unknown tool {name!r}; the tools are "
                    f"{sorted(self.tools)!r}"
                )
            result = await call_child(tool, call, config)  # the tool's own run events
        except Exception as exc:
            if not self.handle_errors:
                exc.add_note(f"in tool {name!r} (call {index + 1} of {total}, id {call_id!r})")
                raise
            return ToolMessage(
                content=f"Error: {type(exc).__name__}: {exc}",
                tool_call_id=call_id,
                name=name,
                status="error",
                artifact=exc,
            )
        if not isinstance(result, ToolMessage):  # a tool that ignores the call's id
            raise TypeError(f"Tool {name!r} answered a tool call with {result!r}")
        return result


def _last_ai_message(value: object) -> AIMessage:
    if isinstance(value, AIMessage):
        return value
    if isinstance(value, list | tuple) and value and isinstance(value[-1], AIMessage):
        return value[-1]
    raise TypeError(
        "ToolExecutor expects an AIMessage, or a list of messages ending with one, got "
        f"{type(value).__name__}: {value!r}"
    )
