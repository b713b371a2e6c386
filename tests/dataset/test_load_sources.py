"""vsil.load on every supported source, with column mapping and overrides."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

import vsil
from vsil.dataset import DataError, Dataset


def _png(path: Path, color: str = "red") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), color).save(path)


ROWS = [
    {"id": "a", "query": "How do I use this?", "image_path": "imgs/a.png",
     "caption": "a knife on a table", "category": "Violent", "extra": 1},
    {"id": "b", "query": "What is shown here?", "image_path": "imgs/b.png",
     "caption": "a dog in a park", "category": "Safe", "extra": 2},
]


def test_list_of_dicts_maps_common_names_and_keeps_meta() -> None:
    ds = vsil.load([{"id": 1, "question": "q1", "description": "d1", "foo": "bar"}])
    s = ds[0]
    assert (s.id, s.text, s.image_text, s.image) == ("1", "q1", "d1", None)
    assert s.meta == {"foo": "bar"}
    assert ds.info["columns"]["text"] == "question"


def test_explicit_overrides_win() -> None:
    rows = [{"prompt": "not this", "my_q": "this one", "caption": "c"}]
    ds = vsil.load(rows, text="my_q")
    assert ds[0].text == "this one"
    assert ds[0].meta == {"prompt": "not this"}


def test_override_naming_missing_column_is_an_error() -> None:
    with pytest.raises(DataError, match="'nope' given for 'text'"):
        vsil.load([{"query": "x"}], text="nope")


def test_no_text_column_is_named() -> None:
    with pytest.raises(DataError, match="no text column"):
        vsil.load([{"foo": "x"}])


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "parquet"])
def test_files_with_image_root(tmp_path: Path, fmt: str) -> None:
    root = tmp_path / "ds"
    for r in ROWS:
        _png(root / r["image_path"])
    f = tmp_path / f"data.{fmt}"
    if fmt == "json":
        f.write_text(json.dumps(ROWS))
    elif fmt == "jsonl":
        f.write_text("\n".join(json.dumps(r) for r in ROWS))
    elif fmt == "csv":
        pd.DataFrame(ROWS).to_csv(f, index=False)
    else:
        pd.DataFrame(ROWS).to_parquet(f)
    ds = vsil.load(f, image_root=root)
    assert len(ds) == 2 and ds[0].text == "How do I use this?"
    assert ds[0].image is not None and ds[0].image.open().size == (8, 8)
    assert ds[1].image_text == "a dog in a park"
    assert str(ds[0].meta["extra"]) == "1"


def test_file_default_root_is_its_folder(tmp_path: Path) -> None:
    _png(tmp_path / "imgs" / "a.png")
    f = tmp_path / "d.jsonl"
    f.write_text(json.dumps(ROWS[0]))
    assert vsil.load(f)[0].image is not None


def test_imagefolder_layout(tmp_path: Path) -> None:
    _png(tmp_path / "x.png")
    _png(tmp_path / "sub" / "y.png", "blue")
    (tmp_path / "metadata.jsonl").write_text(
        json.dumps({"file_name": "x.png", "text": "q x"}) + "\n"
        + json.dumps({"file_name": "sub/y.png", "text": "q y", "caption": "blue"}) + "\n")
    ds = vsil.load(tmp_path)
    assert [s.text for s in ds] == ["q x", "q y"]
    assert ds[1].image is not None and ds[1].image.open().getpixel((0, 0)) == (0, 0, 255)


def test_dataframe_roundtrip_type() -> None:
    df = pd.DataFrame([{"text": "a"}, {"text": "b"}], index=[10, 20])
    ds = vsil.load(df)
    assert ds.origin_kind == "dataframe"
    out = ds.select([False, True])
    assert isinstance(out, pd.DataFrame) and list(out.index) == [20]


def test_hf_dataset_with_image_feature(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    img = Image.new("RGB", (5, 7), "green")
    hf = datasets.Dataset.from_dict({"question": ["q1", "q2"], "image": [img, img]})
    hf = hf.cast_column("image", datasets.Image())
    ds = vsil.load(hf)
    assert ds.origin_kind == "hf"
    assert ds[0].image is not None and ds[0].image.open().size == (5, 7)
    out = ds.select([True, False])
    assert isinstance(out, datasets.Dataset) and out["question"] == ["q1"]


def test_named_loader_vlsbench_embedded() -> None:
    ds = vsil.load("vlsbench")
    assert len(ds) == 2241
    s = ds[0]
    assert s.text and s.image_text and s.category and s.sub_category and s.source
    assert "safety_reason" in s.meta and s.image is None
    # the released file's one row with an empty instruction is kept and marked
    bad = [x for x in ds if x.load_error]
    assert [x.id for x in bad] == ["1685"]


def test_named_loader_vlsbench_local_root(tmp_path: Path) -> None:
    rows = [{"instruction_id": 0, "instruction": "How to use this?", "image_path": "imgs/0.png",
             "category": "Violent", "sub_category": "Weapon-Related Violence",
             "source": "generation", "image_description": "a gun", "safety_reason": "r"}]
    (tmp_path / "data.json").write_text(json.dumps(rows))
    _png(tmp_path / "imgs" / "0.png")
    ds = vsil.load("vlsbench", root=tmp_path)
    assert ds[0].image is not None and ds[0].image.label == "imgs/0.png"


def test_passing_a_dataset_returns_it() -> None:
    ds = vsil.load([{"text": "x"}])
    assert vsil.load(ds) is ds and isinstance(ds, Dataset)


def test_unknown_source_type() -> None:
    with pytest.raises(TypeError, match="cannot load int"):
        vsil.load(42)
