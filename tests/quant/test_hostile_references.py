"""Hostile reference files (issue 20 item 9, item 3's decompression bomb): each one is
refused with one sentence that names what is wrong, never a traceback, a hang or a
wrong KLD. Table-driven: one case per failure found."""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tokbench.errors import TokbenchError
from tokbench.quant.reference import Reference, disk_arrays, load_reference, save_reference
from tokbench.quant.text import load_text

from .test_reference import make_reference

Members = dict[str, Any]  # member name -> array, or raw bytes for "meta"


def _members(ref: Reference) -> Members:
    """The file's members as written (ids as differences, in id order per position)."""
    return {"meta": json.loads(ref.meta.model_dump_json()), **disk_arrays(ref.rows)}


def _write(path: Path, members: Members) -> Path:
    out = {}
    for name, value in members.items():
        if name == "meta" and not isinstance(value, bytes | np.ndarray):
            value = json.dumps(value).encode()
        out[name] = np.frombuffer(value, dtype=np.uint8) if isinstance(value, bytes) else value
    np.savez_compressed(path, **out)
    return path


def _meta(**change: Any) -> Callable[[Members], Members]:
    def edit(m: Members) -> Members:
        return {**m, "meta": {**m["meta"], **change}}
    return edit


def _array(name: str, fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[Members], Members]:
    def edit(m: Members) -> Members:
        return {**m, name: fn(np.array(m[name]))}
    return edit


def _set(name: str, index: int, value: float) -> Callable[[Members], Members]:
    def fn(a: np.ndarray) -> np.ndarray:
        a[index] = value
        return a
    return _array(name, fn)


DEEP = ("[" * 200_000 + "]" * 200_000).encode()

CASES: dict[str, tuple[Callable[[Members], Members], str]] = {
    "n_windows as a string": (_meta(n_windows="2"), "field n_windows"),
    "n_windows as a list": (_meta(n_windows=[2]), "field n_windows"),
    "n_windows as a dict": (_meta(n_windows={"n": 2}), "field n_windows"),
    "n_windows as a float": (_meta(n_windows=2.0), "field n_windows"),
    "n_ctx as a string": (_meta(n_ctx="16"), "field n_ctx"),
    "max_k of 0": (_meta(max_k=0), "field max_k"),
    "mass of NaN": (_meta(mass=float("nan")), "field mass"),
    "an unknown field": (_meta(extra=1), "field extra"),
    "a missing field": (lambda m: {**m, "meta": {k: v for k, v in m["meta"].items()
                                                  if k != "n_vocab"}}, "field n_vocab"),
    "a 200k-deep key": (lambda m: {**m, "meta": DEEP}, "its key is not JSON|more than"),
    "a key that is a list": (lambda m: {**m, "meta": b"[1, 2]"}, "not a JSON object"),
    "a key that is not UTF-8": (lambda m: {**m, "meta": b"\xff\xfe"}, "not JSON"),
    "top id 2**31-1": (_set("ids", 0, 2**31 - 1), "outside the vocabulary"),
    "top id -5": (_set("ids", 0, -5), "outside the vocabulary"),
    "NaN log-probs": (_set("lps", 0, np.nan), "NaN"),
    "a token twice": (_set("ids", 1, 0), "twice"),
    "infinite actual log-prob": (_set("actual_lp", 0, -np.inf), "NaN or infinite"),
    "NaN rest": (_set("rest_lp", 0, np.nan), "NaN"),
    "positive log-probs": (_set("lps", 0, 3.0), "above 0"),
    "probabilities not adding to 1": (_set("rest_lp", 0, -0.01), "add up to 1"),
    "a count of 0": (_set("counts", 0, 0), "counts outside"),
    "counts beyond max_k": (_set("counts", 0, 10_000), "counts outside|add up"),
    "ids as float": (_array("ids", lambda a: a.astype(np.float32)), "ids is float32"),
    "ids of 2-D shape": (_array("ids", lambda a: a.reshape(1, -1)), "not a list"),
    "an object array": (_array("lps", lambda a: a.astype(object)), "not a readable|not a list"),
    "a missing array": (lambda m: {k: v for k, v in m.items() if k != "rest_lp"}, "no rest_lp"),
    "too few positions": (_array("actual_lp", lambda a: a[:-1]), "holds 13 values"),
    "a tail entropy beyond its bounds": (_set("tail_plogp", 0, -1e6), "tail_plogp"),
    "an empty archive": (lambda m: {}, "no meta"),
    "an old format": (_meta(format="tokbench-quant-reference/1"), "older tokbench"),
    "another format": (_meta(format="something/9"), "not a tokbench quant reference"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_reference_is_refused_in_one_sentence(case: str, tmp_path: Path) -> None:
    edit, message = CASES[case]
    path = _write(tmp_path / "hostile.npz", edit(_members(make_reference())))
    with pytest.raises(TokbenchError, match=message) as err:
        load_reference(path)
    assert "\n" not in str(err.value) and len(str(err.value)) < 400


def test_the_untouched_table_base_loads(tmp_path: Path) -> None:
    """The cases above fail for their edit, not for the writer's."""
    path = _write(tmp_path / "fine.npz", _members(make_reference()))
    assert load_reference(path).meta.n_windows == 2


def test_a_decompression_bomb_is_refused_before_it_is_unpacked(tmp_path: Path) -> None:
    """A member that unpacks far beyond what the key allows (the issue's 3.1 MB file grew to
    3.17 GB): refused from the zip directory, in well under a second."""
    good = tmp_path / "good.npz"
    save_reference(good, make_reference())
    bomb = tmp_path / "bomb.npz"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "ids.npy":
                buf = io.BytesIO()
                np.lib.format.write_array(buf, np.zeros(200_000_000, dtype="<i4"))
                data = buf.getvalue()  # 800 MB of zeros: a few hundred kB packed
            dst.writestr(info.filename, data)
    assert bomb.stat().st_size < 5_000_000
    t0 = time.perf_counter()
    with pytest.raises(TokbenchError, match="ids unpacks to 800000128 bytes"):
        load_reference(bomb)
    assert time.perf_counter() - t0 < 1.0


def test_a_lying_zip_directory_stops_at_the_declared_size(tmp_path: Path) -> None:
    """A member whose directory entry claims a small size while its stream holds more:
    reading stops at the claimed size and the file is refused."""
    good = tmp_path / "good.npz"
    save_reference(good, make_reference())
    raw = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as z:
        info = z.getinfo("lps.npy")
    # the central directory's uncompressed size of lps.npy, made 100 bytes smaller
    cd = raw.rfind(b"PK\x01\x02", 0, len(raw))
    while cd >= 0 and raw[cd + 46 : cd + 46 + 7] != b"lps.npy":
        cd = raw.rfind(b"PK\x01\x02", 0, cd)
    size_at = cd + 24
    raw[size_at : size_at + 4] = (info.file_size - 100).to_bytes(4, "little")
    liar = tmp_path / "liar.npz"
    liar.write_bytes(bytes(raw))
    with pytest.raises(TokbenchError, match=r"not a tokbench quant reference|damaged"):
        load_reference(liar)


@pytest.mark.parametrize("where", ["/dev/zero", "fifo", "folder"])
def test_a_reference_that_is_not_a_regular_file(where: str, tmp_path: Path) -> None:
    import os

    path = Path(where)
    if where == "fifo":
        path = tmp_path / "fifo.npz"
        os.mkfifo(path)
    elif where == "folder":
        path = tmp_path
    with pytest.raises(TokbenchError, match=r"not a regular file|cannot read"):
        load_reference(path)


def test_a_key_claiming_more_windows_than_the_text_holds(tmp_path: Path) -> None:
    path = _write(tmp_path / "big.npz", _members(make_reference()))
    with pytest.raises(TokbenchError, match="more than the text can hold"):
        load_reference(path, max_tokens=20)


@pytest.mark.parametrize("where", ["/dev/zero", "fifo"])
def test_text_that_is_not_a_regular_file(where: str, tmp_path: Path) -> None:
    import os

    path = Path(where)
    if where == "fifo":
        path = tmp_path / "fifo.txt"
        os.mkfifo(path)
    t0 = time.perf_counter()
    with pytest.raises(TokbenchError, match="not a regular file"):
        load_text(path)
    assert time.perf_counter() - t0 < 1.0


def test_text_beyond_the_limit_is_refused_after_reading_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tokbench.quant import text

    monkeypatch.setattr(text, "MAX_TEXT_BYTES", 1000)
    big = tmp_path / "big.txt"
    big.write_text("x" * 1001)
    with pytest.raises(TokbenchError, match="larger than"):
        load_text(big)
    big.write_text("x" * 1000)
    assert len(load_text(big).text) == 1000
