"""The VLSBench construction pipeline (`generate`) and leaky-query rewriting (`rewrite`).

    vsil.generate(config)   # also vsil.vlsbench.generate; `vsil generate --config FILE --out DIR`
    vsil.rewrite(data, ...) # `vsil rewrite DATA --out FILE`

Every model is pluggable: LLM and multimodal steps through any OpenAI-compatible endpoint,
text-to-image through diffusers or an OpenAI-compatible images endpoint. See docs/generate.md.
"""

from vsil.generate.config import (
    STEPS,
    AuditConfig,
    Element,
    Endpoint,
    GenerateConfig,
    SourceImage,
    T2IConfig,
    load_config,
)
from vsil.generate.pipeline import GenerateResult, generate
from vsil.generate.rewrite import RewriteResult, rewrite

__all__ = [
    "STEPS",
    "AuditConfig",
    "Element",
    "Endpoint",
    "GenerateConfig",
    "GenerateResult",
    "RewriteResult",
    "SourceImage",
    "T2IConfig",
    "generate",
    "load_config",
    "rewrite",
]
