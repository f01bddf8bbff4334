"""Our messages to the Chat Completions wire format, and the SDK's replies back to messages.

- `to_openai_messages`: system / user / assistant (with `tool_calls`) / tool messages;
- `to_message`: a `ChatCompletion` as an `AIMessage` (tool calls parsed; arguments that are not
  a JSON object go to `invalid_tool_calls`);
- `to_chunk`: a `ChatCompletionChunk` as an `AIMessageChunk` (tool call deltas as
  `tool_call_chunks`, which add up by index);
- `parse_completion`: a raw non-streaming reply checked and parsed, raising the SDK's
  `openai.APIResponseValidationError` with what was wrong instead of handing on a string or a
  half-built object.

The SDK is only imported for type checking here (and inside `parse_completion`, which runs after
a request, when it is loaded anyway).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prompts._merge import Content, content_text
from prompts._messages import AIMessage, AIMessageChunk, BaseMessage, ToolMessage, Usage
from prompts._openai_messages import openai_part, openai_role, openai_tool_calls
from prompts._tool_calls import ToolCallChunk, parse_args, tool_call_chunk

if TYPE_CHECKING:
    from openai._legacy_response import LegacyAPIResponse
    from openai.types import CompletionUsage
    from openai.types.chat import ChatCompletion, ChatCompletionChunk

__all__ = ["parse_completion", "to_chunk", "to_message", "to_openai_messages"]

_EXCERPT = 200


def _assistant_text(content: Content) -> str:
    """An assistant's content as Chat Completions takes it back: its text (parts that are
    not text, such as reasoning, are the model's own and are not sent back)."""
    return content if isinstance(content, str) else content_text(content)


def to_openai_messages(messages: list[BaseMessage]) -> list[dict[str, Any]]:
    """The messages as Chat Completions `messages` entries.

    String content is sent as it is; list content as OpenAI content parts (`text`,
    `image_url`, `input_audio`, `file`; standard image / audio / file blocks converted to them),
    except an assistant's, which is sent as its text. `ChatMessage` and `FunctionMessage`
    keep their roles; a system message marked `__openai_role__="developer"` is sent as one.

    The request body's form of `prompts.convert_to_openai_messages` (LangChain's utility, whose
    shape it keeps): the parts, roles and tool calls come from the same helpers
    (`openai_part`, `openai_role`, `openai_tool_calls`); what differs is what a request sends
    back (an assistant's text only, its invalid tool calls too, no content beside tool calls).
    """
    out: list[dict[str, Any]] = []
    for m in messages:
        content = m.content
        if isinstance(m, ToolMessage):
            if not isinstance(content, str):
                content = [openai_part(p) for p in content]
            out.append({"role": "tool", "content": content, "tool_call_id": m.tool_call_id})
            continue
        if isinstance(m, AIMessage):
            item: dict[str, Any] = {"role": "assistant", "content": _assistant_text(content)}
        else:
            if not isinstance(content, str):
                content = [openai_part(p) for p in content]
            item = {"role": openai_role(m), "content": content}
        if m.name is not None:
            item["name"] = m.name
        if isinstance(m, AIMessage) and (m.tool_calls or m.invalid_tool_calls):
            # Invalid calls go back as the model sent them: each call id needs its place.
            item["content"] = item["content"] or None
            item["tool_calls"] = openai_tool_calls(m, invalid=True)
        out.append(item)
    return out


def _usage(usage: CompletionUsage | None) -> Usage | None:
    if usage is None:
        return None
    # The SDK's details, under LangChain's keys (only those the server reported).
    inputs: dict[str, int] | None = None
    prompt = usage.prompt_tokens_details
    if prompt is not None:
        inputs = {
            key: value
            for key, value in (("cache_read", prompt.cached_tokens), ("audio", prompt.audio_tokens))
            if value is not None
        } or None
    outputs: dict[str, int] | None = None
    completion = usage.completion_tokens_details
    if completion is not None:
        outputs = {
            key: value
            for key, value in (
                ("reasoning", completion.reasoning_tokens),
                ("audio", completion.audio_tokens),
            )
            if value is not None
        } or None
    return Usage(
        input_tokens=usage.prompt_tokens,
        output_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
        input_token_details=inputs,
        output_token_details=outputs,
    )


def to_message(completion: ChatCompletion) -> AIMessage:
    """The first choice of a completion as an `AIMessage`."""
    choice = completion.choices[0]
    metadata: dict[str, Any] = {
        "model": completion.model,
        "finish_reason": choice.finish_reason,
        "id": completion.id,
    }
    if choice.message.refusal:
        metadata["refusal"] = choice.message.refusal
    calls: list[dict[str, Any]] = []
    invalid: list[dict[str, Any]] = []
    for call in choice.message.tool_calls or ():
        function = getattr(call, "function", None)  # custom (non-function) tools have none
        if function is None:
            continue
        args, error = parse_args(function.arguments)
        if args is None:
            bad = {"name": function.name, "args": function.arguments, "id": call.id}
            invalid.append(bad | {"error": error})
        else:
            calls.append({"name": function.name, "args": args, "id": call.id})
    return AIMessage.model_validate(
        {
            "content": choice.message.content or "",
            "id": completion.id,
            "tool_calls": calls,
            "invalid_tool_calls": invalid,
            "usage": _usage(completion.usage),
            "response_metadata": metadata,
        }
    )


def to_chunk(chunk: ChatCompletionChunk, *, first: bool = True) -> AIMessageChunk | None:
    """The chunk as an `AIMessageChunk`, or None when it carries nothing (a role-only delta).

    The model's name is in the `response_metadata` of the `first` chunk of a stream only:
    metadata strings concatenate when chunks add up, as in LangChain.
    """
    metadata: dict[str, Any] = {"model": chunk.model, "id": chunk.id} if first else {}
    content = ""
    pieces: list[ToolCallChunk] = []
    finish = False
    if chunk.choices:
        choice = chunk.choices[0]
        content = choice.delta.content or ""
        for delta in choice.delta.tool_calls or ():
            function = delta.function
            pieces.append(
                tool_call_chunk(
                    name=function.name if function else None,
                    args=function.arguments if function else None,
                    id=delta.id,
                    index=delta.index,
                )
            )
        if choice.finish_reason is not None:
            metadata["finish_reason"] = choice.finish_reason
            finish = True
    usage = _usage(chunk.usage)
    if not content and not pieces and usage is None and not finish:
        return None
    return AIMessageChunk(
        content=content,
        id=chunk.id,
        tool_call_chunks=pieces,
        usage=usage,
        response_metadata=metadata,
    )


def parse_completion(raw: LegacyAPIResponse[ChatCompletion]) -> ChatCompletion:
    """The completion in a raw non-streaming reply.

    Raises:
        openai.APIResponseValidationError: The body is not JSON (e.g. an SSE stream sent to a
            request that did not ask for one), or the JSON is not a chat completion with at
            least one choice. The message says which, with the start of the body.
    """
    import openai
    from openai.types.chat import ChatCompletion

    response = raw.http_response
    content_type = response.headers.get("content-type", "(none)")
    try:
        parsed: object = raw.parse()
    except ValueError as exc:  # json.JSONDecodeError: a cut or garbled body
        raise openai.APIResponseValidationError(
            response,
            response.text,
            message=(
                f"Invalid chat completion from the server: the body is not valid JSON ({exc}); "
                f"it starts {_excerpt(response.text)}"
            ),
        ) from exc
    if isinstance(parsed, str):
        # The SDK hands back the text of any body whose content-type is not JSON.
        raise openai.APIResponseValidationError(
            response,
            parsed,
            message=(
                "Invalid chat completion from the server: expected a JSON body, got "
                f"content-type {content_type!r} (a stream sent to a request that did not ask "
                f"for one?); it starts {_excerpt(parsed)}"
            ),
        )
    choices = getattr(parsed, "choices", None)
    if not isinstance(parsed, ChatCompletion) or not isinstance(choices, list) or not choices:
        body = response.text
        raise openai.APIResponseValidationError(
            response,
            body,
            message=(
                'Invalid chat completion from the server: the JSON has no "choices"; '
                f"it starts {_excerpt(body)}"
            ),
        )
    return parsed


def _excerpt(text: str) -> str:
    shown = text if len(text) <= _EXCERPT else text[:_EXCERPT] + "..."
    return repr(shown)
