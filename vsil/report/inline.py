"""What a report page carries inline: a JSON data block, vsil's own script, and the
Content-Security-Policy that lets only that script run.

The data travels in ``<script type="application/json">``, which the browser never executes;
`script_json` escapes ``<``, ``>``, ``&``, U+2028 and U+2029 as JSON ``\\uXXXX`` escapes, so no
dataset string can close the block (``</script>``), open a comment, or break a JavaScript
parser. The page's one executable script is vsil's file ``templates/<name>.js``; the policy
allows it by its SHA-256 hash, computed when the page is built, and forbids every other
script, every remote fetch and every plugin.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import lru_cache
from pathlib import Path

from markupsafe import Markup

from vsil._jsonable import dumps

TEMPLATES = Path(__file__).parent / "templates"
#: the policy of a page without scripts (the notebook fragment has no policy at all)
CSP_NO_SCRIPT = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028",
            "\u2029": "\\u2029"}
_UNSAFE = re.compile("[<>&\u2028\u2029]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def script_json(value: object) -> Markup:
    """Strict JSON of ``value``, safe inside ``<script type="application/json">``.

    The result holds no ``<``, ``>`` or ``&`` at all (and no raw U+2028/U+2029 or lone
    surrogate, which UTF-8 cannot encode), so it cannot end the element it sits in.
    """
    text = dumps(value, ensure_ascii=False, separators=(",", ":"))
    text = _UNSAFE.sub(lambda m: _ESCAPES[m.group(0)], text)
    text = _SURROGATE.sub("\ufffd", text)
    return Markup(text)  # escaped above: nothing in it can end the block


@lru_cache(maxsize=8)
def script(name: str) -> Markup:
    """vsil's own script ``templates/<name>.js``, checked to be safe to inline."""
    text = (TEMPLATES / f"{name}.js").read_text(encoding="utf-8")
    lowered = text.lower()
    if any(bad in lowered for bad in ("<script", "</script", "<!--")):
        raise ValueError(f"{name}.js cannot be inlined: it contains <script, </script or <!--")
    return Markup(text)  # vsil's own code, never dataset text


def script_hash(text: str) -> str:
    """The CSP source (``'sha256-…'``) that allows an inline script with exactly ``text``."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def csp(*scripts: str) -> str:
    """The page's policy: nothing from outside, images only as ``data:`` URLs, and no
    script but ``scripts`` (by hash); no script at all when none is given."""
    if not scripts:
        return CSP_NO_SCRIPT
    hashes = " ".join(script_hash(s) for s in scripts)
    return f"{CSP_NO_SCRIPT}; script-src {hashes}; base-uri 'none'; form-action 'none'"
