"""Messages, prompt values and prompt templates."""

__all__: list[str] = []
