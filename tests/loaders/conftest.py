"""Fixture benchmarks in their published layouts: made-up rows (committed under fixtures/)
plus tiny images generated here with PIL, copied into a temporary root per test."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

FIXTURES = Path(__file__).parent / "fixtures"

# where each fixture benchmark keeps its images, relative to its root
IMAGES: dict[str, list[str]] = {
    "figstep": [
        f"data/images/SafeBench/query_SafeBench_{c}_{t}_6.png" for c in (1, 2) for t in (1, 2)
    ],
    "mm_safetybench": [
        f"data/imgs/{s}/{kind}/{i}.jpg"
        for s, ids in (("01-Illegal_Activitiy", (0, 1)), ("02-HateSpeech", (0,)))
        for kind in ("SD", "SD_TYPO", "TYPO")
        for i in ids
    ],
    "harmbench_mm": [f"data/multimodal_behavior_images/{n}"
                     for n in ("bike_lock.png", "ticket.jpg", "hat.png")],
    "vlsafe": ["VLSafe/train2017/000000000101.jpg", "VLSafe/train2017/000000000102.jpg"],
    "vlguard": ["test/bad_ads/ad_001.png", "test/coco/park_002.jpg", "train/hod/scene_003.png"],
    "siuo": ["data/images/S-01.png", "data/images/S-02.png"],
    "mossbench": ["data/images/1.png", "data/images/2.png"],
    "jailbreakv": [f"JailBreakV_28K/{p}" for p in (
        "llm_transfer_attack/SD_1.png", "llm_transfer_attack/nature_2.jpeg",
        "figstep/query_3.png", "query_related/SD_typo_4.png")],
}


def write_image(path: Path, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new("RGB", (8, 8), ((37 * seed) % 256, (91 * seed) % 256, 128))
    fmt = "JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG"
    img.save(path, format=fmt)


BenchFactory = Callable[..., Path]


@pytest.fixture
def bench(tmp_path: Path) -> BenchFactory:
    """``bench("figstep", images=True)`` -> a fresh root holding that fixture benchmark."""

    def make(name: str, images: bool = True) -> Path:
        root = tmp_path / name
        shutil.copytree(FIXTURES / name, root)
        if images:
            for i, rel in enumerate(IMAGES[name]):
                write_image(root / rel, seed=i + 1)
        return root

    return make
