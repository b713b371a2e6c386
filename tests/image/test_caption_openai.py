"""The OpenAI-compatible captioner against a real local HTTP server on 127.0.0.1."""

from __future__ import annotations

import base64
import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from vsil.dataset import ImageRef

pytest.importorskip("httpx")
pytest.importorskip("tenacity")

KEY = "sk-test-secret-123"


class _Handler(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, Any]]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        from PIL import Image

        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Handler.seen.append({"auth": self.headers.get("Authorization"), "body": body})
        parts = body["messages"][0]["content"]
        url = next(p["image_url"]["url"] for p in parts if p["type"] == "image_url")
        head, b64 = url.split(",", 1)
        im = Image.open(io.BytesIO(base64.b64decode(b64))).convert("L")
        w, h = im.size
        if w < 16:
            return self._reply(400, {"error": {"message": "image too small"}})
        mean = sum(im.getdata()) / (w * h)
        caption = f"a {head.split(';')[0][5:]} of {w}x{h} pixels, mostly " + (
            "white with dark text" if mean > 200 else "dark")
        self._reply(200, {"choices": [{"message": {"role": "assistant", "content": caption},
                                       "finish_reason": "stop"}],
                          "usage": {"prompt_tokens": 100, "completion_tokens": 12}})

    def _reply(self, status: int, obj: dict[str, Any]) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()


def test_captions_through_the_endpoint(server: str, typo_dir: Path) -> None:
    from PIL import Image

    from vsil.detectors.describers.caption_openai import OpenAICaptioner

    cap = OpenAICaptioner("tiny-vlm", base_url=server, api_key=KEY, image_max_side=256,
                          concurrency=2, max_retries=0)
    tiny = io.BytesIO()
    Image.new("RGB", (8, 8), "white").save(tiny, format="PNG")
    out = cap.describe([ImageRef.from_path(typo_dir, "harmful.png"),
                        ImageRef(data=tiny.getvalue(), label="tiny.png"),
                        ImageRef(data=b"junk", label="junk.png")])
    assert out[0].source == "caption-openai" and out[0].error is None
    # the server saw the size cap and the prompt; the caption comes back verbatim
    assert out[0].text == "a image/jpeg of 256x256 pixels, mostly white with dark text"
    assert out[1].text is None and "image too small" in (out[1].error or "")
    assert out[2].text is None and "junk.png" in (out[2].error or "")
    req = _Handler.seen[-1]
    assert req["auth"] == f"Bearer {KEY}" and req["body"]["model"] == "tiny-vlm"
    assert "quote it" in req["body"]["messages"][0]["content"][0]["text"]
    for shown in (cap.fingerprint, repr(cap), json.dumps(cap.info())):
        assert KEY not in shown
    assert cap.info()["usage"]["completion_tokens"] == 12


def test_audit_with_endpoint_captions(server: str, typo_dir: Path, tmp_path: Path) -> None:
    import vsil
    from vsil.detectors.describers.caption_openai import OpenAICaptioner

    cap = OpenAICaptioner("tiny-vlm", base_url=server, api_key=KEY, max_retries=0)
    rows = [{"id": "a", "text": "What does it say?", "image": "benign.png"}]
    n = len(_Handler.seen)
    for _ in range(2):
        res = vsil.audit(rows, image_root=typo_dir, judge="embedded", overlap=(),
                         describe=[cap], cache=tmp_path / "c.sqlite", quiet=True)
        assert res.samples.loc[0, "image_text_source"] == "caption-openai"
        assert "760x760" in res.samples.loc[0, "image_text"]
    assert len(_Handler.seen) == n + 1  # the second audit reads the caption from the cache
