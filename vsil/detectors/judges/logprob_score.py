"""``p_unsafe`` from the token logprobs an OpenAI-compatible server returns.

The score is P(unsafe word) / (P(unsafe word) + P(safe word)) over the alternatives listed at
the token where the label starts: ``unsafe``/``safe`` for most judges, ``yes``/``no`` for a
policy judge such as Shieldstral (yes = the content violates the policy).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

#: label words -> unsafe, for judges that answer safe/unsafe
SAFE_UNSAFE: Mapping[str, bool] = {"unsafe": True, "safe": False}


def label_of(token: str, words: Mapping[str, bool] = SAFE_UNSAFE) -> bool | None:
    """True/False when a token begins a label word ("un", "Unsafe", " safe"...), else None.

    Longer words are tried first, so "unsafe" wins over "safe".
    """
    t = token.strip().lower().lstrip("*_\"'`")
    if not t:
        return None
    for word in sorted(words, key=len, reverse=True):
        if word.startswith(t) or t.startswith(word):
            return bool(words[word])
    return None


def _label_position(toks: list[Mapping[str, Any]], content: str, offset: int,
                    words: Mapping[str, bool], strict: bool) -> int | None:
    if "".join(t["token"] for t in toks) == content:
        at = 0
        for k, t in enumerate(toks):
            end = at + len(t["token"])
            if end > offset:
                if strict:  # only the token that holds the label's first character
                    return k if label_of(t["token"], words) is not None else None
                if label_of(t["token"], words) is not None:
                    return k
            at = end
    if strict:
        return None
    return next((k for k, t in enumerate(toks) if label_of(t["token"], words) is not None),
                None)


def p_unsafe_from_logprobs(logprobs: Any, content: str, offset: int,
                           words: Mapping[str, bool] = SAFE_UNSAFE, *,
                           strict: bool = False) -> float | None:
    """P(unsafe) / (P(unsafe) + P(safe)) at the token where the parsed label starts.

    The token is found by the character ``offset`` of the label when the tokens spell the
    reply; otherwise (unless ``strict``) the first token that begins a label is used. With
    ``strict`` only the token that holds ``offset`` counts, for replies whose other words could
    look like labels ("Safety: Unsafe"). None without logprobs, or when they are malformed
    (entries that are not token objects, logprobs that are not finite numbers <= 0 are
    ignored).
    """
    if not isinstance(logprobs, Mapping):
        return None
    raw = logprobs.get("content")
    if not isinstance(raw, list):
        return None
    toks = [t for t in raw if isinstance(t, Mapping) and isinstance(t.get("token"), str)]
    if not toks:
        return None
    pos = _label_position(toks, content, offset, words, strict)
    if pos is None:
        return None
    entry = toks[pos]
    alts = entry.get("top_logprobs")
    if not isinstance(alts, list) or not alts:
        alts = [{"token": entry.get("token"), "logprob": entry.get("logprob")}]
    p_u = p_s = 0.0
    for a in alts:
        if not isinstance(a, Mapping):
            continue
        try:
            lp = float(a.get("logprob"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        if not math.isfinite(lp) or lp > 0.0:
            continue
        label = label_of(str(a.get("token", "")), words)
        if label is True:
            p_u += math.exp(lp)
        elif label is False:
            p_s += math.exp(lp)
    if p_u + p_s <= 0.0:
        return None
    return min(1.0, max(0.0, p_u / (p_u + p_s)))
