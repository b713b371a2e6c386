"""The pipeline's configuration: pydantic models, loaded from a TOML or YAML file.

Every model is pluggable. LLM and multimodal steps talk to any OpenAI-compatible endpoint
(``base_url`` + ``model`` per step, falling back to ``[llm]`` / ``[mllm]``); text-to-image runs
through diffusers (any model id or local path) or an OpenAI-compatible images endpoint.

API keys are never stored in the config: an endpoint names the *environment variable* that
holds its key (``api_key_env``), so configs, checkpoints and reports can be shared.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from vsil.runtime import endpoint as runtime_endpoint

#: the pipeline's steps, in order
STEPS: tuple[str, ...] = ("queries", "mitigate", "images", "filter")
_STEP_ALIASES = {"1": "queries", "2": "mitigate", "3": "images", "4": "filter",
                 "step1": "queries", "step2": "mitigate", "step3": "images", "step4": "filter"}

#: the model roles, and which default endpoint ([llm] or [mllm]) each falls back to
ROLES: dict[str, str] = {
    "queries": "llm",        # step 1a: element -> image description + harmful queries
    "image_queries": "mllm",  # step 1b: existing image -> analysis + harmful instructions
    "mitigate": "llm",       # step 2: rewrite the query so it is harmless alone
    "mitigate_filter": "llm",  # step 2: judge text / description / pair
    "t2i_prompt": "llm",     # step 3: description -> text-to-image prompt
    "reviewer": "mllm",      # step 3: does the image show the description?
    "final_judge": "mllm",   # step 4: image + query matched and harmful?
    "categorize": "mllm",    # step 4: taxonomy label
}


def step_name(step: str | int) -> str:
    """Normalise a step given as a name, a number (1-4) or ``stepN``."""
    s = str(step).strip().lower()
    s = _STEP_ALIASES.get(s, s)
    if s not in STEPS:
        raise ValueError(f"unknown step {step!r}; steps are {list(STEPS)} (or 1-4)")
    return s


def public_url(url: str | None) -> str | None:
    """A URL without user:password, query or fragment (for provenance)."""
    if not url:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Endpoint(_Strict):
    """An OpenAI-compatible chat endpoint (OpenAI, vLLM, SGLang, llama.cpp server, ...), as a
    config file describes it: the key by the name of its environment variable. `connection`
    gives the runtime `vsil.runtime.endpoint.Endpoint` every OpenAI-compatible client uses.

    ``json_mode``: ``"schema"`` sends ``response_format={"type": "json_schema", ...}`` (the
    server constrains decoding to the step's schema), ``"object"`` sends ``{"type":
    "json_object"}``, ``"none"`` sends nothing and relies on the prompt plus robust parsing.
    Whatever the mode, every answer is validated against the step's schema; a violation drops
    the item with its reason.
    """

    base_url: str | None = None
    model: str | None = None
    api_key_env: str | None = "OPENAI_API_KEY"
    temperature: float = 0.7
    max_tokens: int = 1024
    json_mode: Literal["schema", "object", "none"] = "schema"
    concurrency: int = 16
    max_retries: int = 5
    timeout: float = 120.0
    max_identical_failures: int = 20
    extra_body: dict[str, Any] = Field(default_factory=dict)

    @field_validator("extra_body")
    @classmethod
    def _no_secrets(cls, v: dict[str, Any]) -> dict[str, Any]:
        if any("key" in k.lower() or k.lower() == "token" for k in v):
            raise ValueError("extra_body must not carry credentials; use api_key_env")
        return v

    def merged(self, default: Endpoint) -> Endpoint:
        """This endpoint with unset fields taken from ``default``."""
        data = default.model_dump()
        data.update(self.model_dump(exclude_unset=True))
        return Endpoint(**data)

    def api_key(self) -> str | None:
        """The key from the environment (never stored, never logged)."""
        return os.environ.get(self.api_key_env) if self.api_key_env else None

    def connection(self) -> runtime_endpoint.Endpoint:
        """The runtime `vsil.runtime.endpoint.Endpoint` of this configured endpoint (the key
        read from ``api_key_env`` now)."""
        if not self.base_url:
            raise ValueError("endpoint needs base_url")
        return runtime_endpoint.Endpoint(
            self.base_url, self.api_key(), concurrency=self.concurrency,
            max_retries=self.max_retries, timeout=self.timeout,
            max_identical_failures=self.max_identical_failures)

    def public(self) -> dict[str, Any]:
        """What goes into provenance: no credentials (a URL's user:password is dropped)."""
        d = self.model_dump(exclude={"extra_body"})
        d["base_url"] = public_url(self.base_url)
        d["extra_body_keys"] = sorted(self.extra_body)
        return d


class T2IConfig(_Strict):
    """Text-to-image backend.

    ``backend="diffusers"``: ``model`` is a hub id or a local directory loaded with
    ``diffusers.AutoPipelineForText2Image`` (the paper used
    ``stabilityai/stable-diffusion-3.5-large``). ``backend="openai"``: ``base_url`` + ``model``
    of an OpenAI-compatible ``/images/generations`` endpoint (``b64_json`` answers).
    """

    backend: Literal["diffusers", "openai"] = "diffusers"
    model: str = "stabilityai/stable-diffusion-3.5-large"
    base_url: str | None = None
    api_key_env: str | None = "OPENAI_API_KEY"
    width: int = 1024
    height: int = 1024
    steps: int = 28
    guidance_scale: float = 3.5
    negative_prompt: str | None = None
    seed: int = 0
    device: str | None = None
    dtype: Literal["float32", "float16", "bfloat16"] | None = None
    timeout: float = 300.0
    max_retries: int = 3
    concurrency: int = 4

    def public(self) -> dict[str, Any]:
        return self.model_dump() | {"base_url": public_url(self.base_url)}


class Element(_Strict):
    """A harmful element: the seed of step 1's text path."""

    category: str
    sub_category: str
    element: str = Field(description="the risky object or scenario")
    id: str | None = None


class SourceImage(_Strict):
    """An existing image: the seed of step 1's image path."""

    path: str
    source: str = "existing"
    id: str | None = None


class AuditConfig(_Strict):
    """The audit of the generated set (its leak ratio goes into the report)."""

    enabled: bool = True
    judge: str = "embedded"
    text_judge: str | None = None
    overlap: list[str] = Field(default_factory=lambda: ["embedding", "lexical"])
    judge_options: dict[str, Any] = Field(default_factory=dict)
    describe: bool | str = False
    cache: bool | str = True


class GenerateConfig(_Strict):
    """Everything `vsil.generate` needs; see ``examples/generate.toml``."""

    out: str | None = None
    elements: list[Element] = Field(default_factory=list)
    elements_file: str | None = None
    images: list[SourceImage] = Field(default_factory=list)
    queries_per_element: int = Field(3, ge=1, le=10)
    max_rounds: int = Field(3, ge=1, le=10)
    batch_size: int = Field(16, ge=1, description="items per checkpoint flush")
    llm: Endpoint = Field(default_factory=lambda: Endpoint(model="gpt-4o"))
    mllm: Endpoint = Field(default_factory=lambda: Endpoint(model="gpt-4o"))
    models: dict[str, Endpoint] = Field(default_factory=dict)
    t2i: T2IConfig = Field(default_factory=T2IConfig)
    audit: AuditConfig = Field(default_factory=AuditConfig)
    seed_items_file: str | None = Field(
        None, description="JSONL of items to start step 2 or later from, when no earlier "
        "checkpoint exists (fields as in the step checkpoints)")
    base_dir: str | None = Field(None, description="relative paths resolve against this "
                                 "(set to the config file's folder by load_config)")

    @model_validator(mode="after")
    def _check_roles(self) -> GenerateConfig:
        unknown = set(self.models) - set(ROLES)
        if unknown:
            raise ValueError(f"unknown model roles {sorted(unknown)}; roles are {list(ROLES)}")
        return self

    def endpoint(self, role: str) -> Endpoint:
        """The endpoint of one role: ``[models.ROLE]`` over ``[llm]`` or ``[mllm]``."""
        default = self.llm if ROLES[role] == "llm" else self.mllm
        ep = self.models.get(role)
        merged = ep.merged(default) if ep is not None else default
        if not merged.base_url or not merged.model:
            raise ValueError(f"model role {role!r} has no base_url/model; set [{ROLES[role]}] "
                             f"or [models.{role}]")
        return merged

    def resolve(self, path: str) -> Path:
        p = Path(path).expanduser()
        if not p.is_absolute() and self.base_dir:
            p = Path(self.base_dir) / p
        return p

    def all_elements(self) -> list[Element]:
        """Inline elements plus those of ``elements_file`` (JSON list, JSONL, CSV)."""
        out = list(self.elements)
        if self.elements_file:
            out += read_elements(self.resolve(self.elements_file))
        return out


def read_elements(path: Path) -> list[Element]:
    """Harmful elements from a JSON list, JSONL or CSV file (columns: category,
    sub_category, element; optional id)."""
    import json

    import pandas as pd

    if path.suffix == ".csv":
        rows: list[dict[str, Any]] = pd.read_csv(path).to_dict(orient="records")  # type: ignore[assignment]
    elif path.suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip()]
    else:
        rows = json.loads(path.read_text(encoding="utf-8"))
    return [Element(**{k: v for k, v in r.items() if k in Element.model_fields})
            for r in rows]


def load_config(path: str | os.PathLike[str] | dict[str, Any] | GenerateConfig
                ) -> GenerateConfig:
    """A `GenerateConfig` from a TOML (``.toml``) or YAML (``.yaml``/``.yml``) file, a dict,
    or a config (returned as is)."""
    if isinstance(path, GenerateConfig):
        return path
    if isinstance(path, dict):
        return GenerateConfig(**path)
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"config file {p} not found")
    text = p.read_text(encoding="utf-8")
    if p.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError as e:  # pragma: no cover - pyyaml is in [generate]
            raise ImportError("YAML configs need pyyaml (pip install 'vsil[generate]')") from e
        data = yaml.safe_load(text) or {}
    elif p.suffix.lower() == ".toml":
        try:
            import tomllib
        except ModuleNotFoundError:  # pragma: no cover - python 3.10
            import tomli as tomllib
        data = tomllib.loads(text)
    else:
        raise ValueError(f"config {p.name}: expected a .toml, .yaml or .yml file")
    if not isinstance(data, dict):
        raise ValueError(f"config {p.name}: the top level must be a table/mapping")
    data.setdefault("base_dir", str(p.parent.resolve()))
    return GenerateConfig(**data)
