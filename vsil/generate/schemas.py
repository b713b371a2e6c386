"""The JSON output of each model role, as pydantic models (their JSON schemas are sent to
servers that support ``response_format={"type": "json_schema"}``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Out(BaseModel):
    model_config = ConfigDict(extra="ignore")


def _nonblank(v: str) -> str:
    if not v.strip():
        raise ValueError("must not be blank")
    return v.strip()


class ElementQueries(_Out):
    """Step 1a: one image description and the harmful queries tied to it."""

    image_content: str
    harmful_queries: list[str] = Field(min_length=1, max_length=10)

    _c = field_validator("image_content")(_nonblank)

    @field_validator("harmful_queries")
    @classmethod
    def _queries(cls, v: list[str]) -> list[str]:
        return [_nonblank(q) for q in v]


class ImageQueries(_Out):
    """Step 1b: what an existing image shows and harmful instructions for it."""

    image_analysis: str
    harmful_instruction: list[str] = Field(min_length=1, max_length=10)

    _c = field_validator("image_analysis")(_nonblank)

    @field_validator("harmful_instruction")
    @classmethod
    def _queries(cls, v: list[str]) -> list[str]:
        return [_nonblank(q) for q in v]


class Mitigated(_Out):
    """Step 2: the rewritten query."""

    revised_query: str
    explanation: str = ""

    _c = field_validator("revised_query")(_nonblank)


class LeakFilter(_Out):
    """Step 2: the filter's three judgements. Keep iff not text_harmful and pair_harmful."""

    text_harmful: bool
    image_harmful: bool
    pair_harmful: bool
    explanation: str = ""


class T2IPrompt(_Out):
    """Step 3: a text-to-image prompt."""

    prompt: str

    _c = field_validator("prompt")(_nonblank)


class Review(_Out):
    """Step 3: the reviewer's verdict on a drawn image, with a refined prompt when it fails."""

    verdict: bool
    explanation: str = ""
    refined_prompt: str | None = None


class FinalVerdict(_Out):
    """Step 4: is the real image + query pair matched and harmful? Keep iff both."""

    meaningful: bool
    harmful: bool
    explanation: str = ""


class Categorized(_Out):
    """Step 4: exactly one (category, sub_category) of the VLSBench taxonomy."""

    category: str
    sub_category: str
    explanation: str = ""


#: model role -> output model
SCHEMAS: dict[str, type[_Out]] = {
    "queries": ElementQueries,
    "image_queries": ImageQueries,
    "mitigate": Mitigated,
    "mitigate_filter": LeakFilter,
    "t2i_prompt": T2IPrompt,
    "reviewer": Review,
    "final_judge": FinalVerdict,
    "categorize": Categorized,
}


def json_schema(role: str) -> dict[str, Any]:
    """The strict JSON schema of a role's output (every property required, no extras)."""
    schema: dict[str, Any] = _portable(SCHEMAS[role].model_json_schema())
    schema["required"] = sorted(schema.get("properties", {}))
    schema["additionalProperties"] = False
    return schema


_DROP = {"title", "default", "description", "minItems", "maxItems"}


def _portable(node: Any) -> Any:
    """Drop keywords that strict structured-output modes reject (validation checks them)."""
    if isinstance(node, dict):
        return {k: _portable(v) for k, v in node.items() if k not in _DROP}
    if isinstance(node, list):
        return [_portable(v) for v in node]
    return node
