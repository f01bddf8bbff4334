"""Chat models and output parsers."""

__all__: list[str] = []
