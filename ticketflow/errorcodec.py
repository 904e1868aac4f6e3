"""How an error's own attributes cross a process boundary: as JSON values that ``decode``
turns back into the tuples, dicts, field conflicts and carried exceptions they were.

Kept apart from ``errors`` (the family itself); ``TicketflowError.to_dict(transport=True)``
and ``TicketflowError.from_dict`` are its only users.
"""

from __future__ import annotations

from typing import Any


class CarriedException(Exception):
    """An exception outside the family that an error kept (``JobFailedError.original``),
    rebuilt from its type's name and its text: its class may not exist on this side."""

    def __init__(self, type_name: str, text: str) -> None:
        super().__init__(text)
        self.type_name = type_name


def encode(value: object) -> object:
    """An attribute of an error as a JSON value that ``decode`` turns back into it."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, tuple):
        return {"tuple": [encode(v) for v in value]}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"dict": {k: encode(v) for k, v in value.items()}}
    from ticketflow.merge import FieldConflict

    if isinstance(value, FieldConflict):
        shown = value.to_json()  # its values as JSON; to_json of them gives them back
        return {"field_conflict": [value.ticket_id, value.field, shown["ours"], shown["theirs"]]}
    if isinstance(value, CarriedException):
        return {"exception": [value.type_name, str(value)]}
    if isinstance(value, BaseException):  # JobFailedError's original: its words survive
        return {"exception": [type(value).__name__, str(value)]}
    raise TypeError(f"an error attribute of type {type(value).__name__} cannot be carried")


def decode(value: Any) -> object:
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "tuple" in value:
        return tuple(decode(v) for v in value["tuple"])
    if "dict" in value:
        return {k: decode(v) for k, v in value["dict"].items()}
    if "field_conflict" in value:
        from ticketflow.merge import FieldConflict

        return FieldConflict(*value["field_conflict"])
    if "exception" in value:
        type_name, text = value["exception"]
        return CarriedException(str(type_name), str(text))
    raise TypeError(f"not an encoded error attribute: {sorted(value)}")
