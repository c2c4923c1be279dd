"""A password in --url is sent as HTTP Basic auth and reaches no artefact: not the
database, the run folder, the HTML report, an export, `tokbench path`, nor any output."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from tests.conftest import tokbench
from tests.testing.fakeserver import FakeConfig, FakeServer

PASSWORD = "S3cret-p4ss"


def test_url_password_is_basic_auth_and_never_kept(tb_home: Path, tmp_path: Path) -> None:
    basic = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    cfg = FakeConfig(mode="unauthorized", auth_header=f"Basic {basic}", n_tokens=5)
    db = tmp_path / "r.db"
    outputs: list[str] = []
    with FakeServer(cfg) as srv:
        url = srv.url.replace("http://", f"http://alice:{PASSWORD}@")
        for args in (
            ("run", "--url", url, "--suite", "seed5-en", "--json"),
            ("bench", "--url", url, "-p", "8", "-n", "4", "-r", "1", "--warmup", "0", "--json"),
            ("servers", "--json", "--host", url.removeprefix("http://").removesuffix("/v1")),
        ):
            r = tokbench(*args, "--db", str(db)) if args[0] != "servers" else tokbench(*args)
            assert r.returncode == 0, r.stderr  # the server accepted the Basic credentials
            outputs += [r.stdout, r.stderr]
        bad = tokbench("run", "--url", url.replace(PASSWORD, "wrong"), "--db", str(db))
        assert bad.returncode != 0 and "authentication" in bad.stderr
        outputs += [bad.stdout, bad.stderr]
    run_id = json.loads(outputs[0])["run"]["id"]
    assert json.loads(outputs[0])["run"]["url"] == srv.url
    report = tmp_path / "r.html"
    for args in (
        ("report", "-o", str(report)),
        ("export",),
        ("export", "--bench"),
        ("history", "--json"),
        ("show", run_id, "--json"),
        ("compare", "--last", "2", "--format", "md"),
    ):
        r = tokbench(*args, "--db", str(db))
        assert r.returncode == 0, r.stderr
        outputs += [r.stdout, r.stderr]
    r = tokbench("path", "--db", f"postgresql://bob:{PASSWORD}@127.0.0.1:1/x")
    outputs += [r.stdout, r.stderr]
    artefacts = [p for p in [*tmp_path.rglob("*"), *tb_home.rglob("*")] if p.is_file()]
    assert any(p.name == "results.json" for p in artefacts) and report in artefacts
    leaks = [str(p) for p in artefacts if PASSWORD.encode() in p.read_bytes()]
    leaks += [o for o in outputs if PASSWORD in o]
    assert not leaks
