"""A config key and a section of keys: the building blocks of every section."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict


def key(
    alias: str,
    default: Any = ...,
    description: str = "",
    secret: bool = False,
    example: str = "",
    **constraints: Any,
) -> Any:
    """A config field: `alias` is the Pulumi key, the description is the docs.

    `example` is a valid value, shown when a value breaks the field's pattern
    (a regex alone does not tell a user what to write).
    """
    extra: JsonDict = {}
    if secret:
        extra["secret"] = True
    if example:
        extra["example"] = example
    return Field(
        default,
        alias=alias,
        description=description,
        json_schema_extra=extra or None,
        **constraints,
    )


class Section(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=False, use_enum_values=False
    )
