"""Staged OTA rollouts: a stable cohort by percentage (widened without reshuffling) or by sites, waves sent
as signed ``update`` commands through a real Mosquitto, results read from the kiosks' ``command_result``
events, an automatic halt when the failure rate of updated kiosks passes the threshold, and the progress."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from central import rollouts
from central.keys import CentralKeys
from central.store import CentralStore
from central.web.commands_bridge import default_sender
from devtools.broker import MosquittoBroker
from tests.test_fleet import Kiosk

ARGS = {"version": "1.4.0", "url": "http://central.invalid/ota/artifacts/" + "a" * 64, "sha256": "a" * 64,
        "size": 1024, "signature": base64.b64encode(bytes(64)).decode()}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CentralStore]:
    s = CentralStore(f"sqlite:///{tmp_path / 'central.db'}")
    yield s
    s.close()


def _fleet(store: CentralStore, keys: CentralKeys, n: int, site: str = "东湖街道",
           prefix: str = "k") -> dict[str, Kiosk]:
    out = {}
    for i in range(n):
        k = Kiosk(store, keys, f"{prefix}-{i:03d}", site=site)
        k.status("online", 1)
        out[k.device_id] = k
    return out


def _sent(store: CentralStore, rollout_id: int) -> dict[str, str]:
    with store.session() as s:
        return {t["device_id"]: t["command_id"] for t in rollouts.targets_of(s, rollout_id) if t["state"] == "sent"}


def _progress(store: CentralStore, rollout_id: int) -> dict[str, Any]:
    with store.session() as s:
        (p,) = rollouts.progress(s, rollout_id)
    return p


def test_percentage_cohort_is_stable_and_sites_pick_their_kiosks(store: CentralStore,
                                                                 central_keys: CentralKeys) -> None:
    _fleet(store, central_keys, 20)
    _fleet(store, central_keys, 5, site="西城街道", prefix="x")
    ten = rollouts.cohort(store, "1.4.0", percent=10)
    half = rollouts.cohort(store, "1.4.0", percent=50)
    assert len(ten) == 3 and len(half) == 13 and half[:3] == ten  # widening keeps the first kiosks
    assert rollouts.cohort(store, "1.5.0", percent=10) != ten  # another release, another first tenth
    assert rollouts.cohort(store, "1.4.0", sites=["西城街道"]) == [f"x-{i:03d}" for i in range(5)]
    for bad in ({"percent": 0}, {"percent": 101}, {"percent": 10, "sites": ["西城街道"]}):
        with pytest.raises(ValueError):
            rollouts.create(store, "1.4.0", ARGS, actor="admin", **bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="update"):
        rollouts.create(store, "1.4.0", {**ARGS, "signature": "c2ln"}, percent=10, actor="admin")
    with pytest.raises(ValueError, match="no kiosk"):
        rollouts.create(store, "1.4.0", ARGS, sites=["无此街道"], actor="admin")


def test_waves_results_and_automatic_halt(store: CentralStore, central_keys: CentralKeys, tmp_path: Path,
                                          broker: MosquittoBroker) -> None:
    kiosks = _fleet(store, central_keys, 10)
    central_keys.save(tmp_path / "home")
    send = default_sender(tmp_path / "home", broker.url, store)  # signed and published for real
    rid = rollouts.create(store, "1.4.0", ARGS, percent=100, max_failure_rate=0.25, min_finished=4, wave=4,
                          actor="admin", now=1.0)
    assert rollouts.step(store, send, 2.0)["sent"] == 4  # the first wave only
    first = _sent(store, rid)
    assert len(first) == 4
    ok_ids = list(first.items())
    kiosks[ok_ids[0][0]].event("command_result", command_id=ok_ids[0][1], action="update", ok=True, reason="ok")
    kiosks[ok_ids[1][0]].event("command_result", command_id=ok_ids[1][1], action="update", ok=True, reason="ok")
    kiosks[ok_ids[2][0]].event("command_result", command_id=ok_ids[2][1], action="update", ok=False,
                               reason="health_gate_failed")
    step = rollouts.step(store, send, 3.0)
    assert step["finished"] == 3 and step["sent"] == 3  # three finished: three more in flight, four at most
    p = _progress(store, rid)
    assert (p["succeeded"], p["failed"], p["sent"], p["pending"], p["state"]) == (2, 1, 4, 3, "running")
    # A second failure: 2 of 4 finished failed (50 % > 25 %): halted, nothing more is sent.
    cid = ok_ids[3][1]
    kiosks[ok_ids[3][0]].event("command_result", command_id=cid, action="update", ok=False, reason="failed")
    assert rollouts.step(store, send, 4.0)["halted"] == 1
    p = _progress(store, rid)
    assert p["state"] == "halted" and "2 of 4" in p["reason"] and p["failure_rate"] == 0.5
    assert rollouts.step(store, send, 5.0) == {"sent": 0, "finished": 0, "halted": 0, "completed": 0}
    # An admin resumes after fixing the release's cause; with a wider threshold it runs to the end.
    rollouts.set_state(store, rid, "running", "release re-signed", now=6.0)
    with pytest.raises(ValueError):
        rollouts.set_state(store, rid, "running", "again")
    with store.session() as s, s.begin():
        from central.rollout_models import Rollout

        r = s.get(Rollout, rid)
        assert r is not None
        r.max_failure_rate = 0.6
    for t in range(7, 12):
        for device_id, command_id in _sent(store, rid).items():
            kiosks[device_id].event("command_result", command_id=command_id, action="update", ok=True, reason="ok")
        rollouts.step(store, send, float(t))
    p = _progress(store, rid)
    assert (p["state"], p["succeeded"], p["failed"], p["done_pct"]) == ("completed", 8, 2, 100.0)


def test_widen_adds_kiosks_to_a_percentage_rollout(store: CentralStore, central_keys: CentralKeys) -> None:
    _fleet(store, central_keys, 10)
    rid = rollouts.create(store, "1.4.0", ARGS, percent=10, actor="admin")
    assert _progress(store, rid)["total"] == 1
    assert rollouts.widen(store, rid, 50) == 4
    assert _progress(store, rid)["total"] == 5
    with pytest.raises(ValueError):
        rollouts.widen(store, rid, 40)
    rollouts.set_state(store, rid, "cancelled", "wrong release")
    with pytest.raises(ValueError):
        rollouts.widen(store, rid, 100)


def test_rollouts_page_by_role(tmp_path: Path, central_keys: CentralKeys) -> None:
    from fastapi.testclient import TestClient

    from central.web import auth
    from central.web.app import create_app
    from tests.test_dashboard import _add_operators, _csrf, _login

    store = CentralStore(f"sqlite:///{tmp_path / 'central.db'}")
    _add_operators(store)
    _fleet(store, central_keys, 10)
    rid = rollouts.create(store, "1.4.0", ARGS, percent=20, actor="cli")
    app = create_app(store, tmp_path, "mqtt://127.0.0.1:1", session_secret="s" * 32)
    with TestClient(app) as c:
        token = _login(c, "li")
        page = c.get("/rollouts").text
        assert "1.4.0" in page and "设备的 20%" in page and "进行中" in page and "rollout-halt" not in page
        assert c.post(f"/rollouts/{rid}/halt", data={"csrf": token}).status_code == 403
        token = _login(c, "wang")
        assert c.post(f"/rollouts/{rid}/halt", data={"csrf": token}).status_code == 403
        token = _login(c, "admin")
        page = c.post(f"/rollouts/{rid}/halt", data={"csrf": token, "reason": "先观察一天"}).text
        assert "已暂停" in page and "先观察一天" in page
        page = c.post(f"/rollouts/{rid}/widen", data={"csrf": _csrf(page), "percent": "50"}).text
        assert "设备的 50%" in page and c.get("/api/rollouts").json()[0]["total"] == 5
        page = c.post(f"/rollouts/{rid}/widen", data={"csrf": _csrf(page), "percent": "30"}).text
        assert "未能更新" in page
        page = c.post(f"/rollouts/{rid}/resume", data={"csrf": _csrf(page)}).text
        assert "进行中" in page
        assert [e["action"] for e in auth.audit_entries(store)][:3] == ["rollout_resume", "rollout_widen",
                                                                       "rollout_halt"]
        c.get("/lang?to=en&next=/rollouts")
        english = c.get("/rollouts").text
        assert "Staged rollouts" in english and "50% of the fleet" in english and "running" in english
    store.close()


def publish_release(home: Path, version: str, payload: bytes = b"street-kiosk bundle\n" * 64) -> str:
    """A release as ``packaging/release`` leaves it (artefact + signed manifest), put in the central's releases
    folder; its artefact's file name."""
    import hashlib
    import json

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from central.releases import folder
    from sync.protocol.release import release_manifest

    key = Ed25519PrivateKey.generate().private_bytes_raw()
    name = f"street-kiosk-{version}.tar.gz"
    folder(home).mkdir(parents=True, exist_ok=True)
    (folder(home) / name).write_bytes(payload)
    manifest = release_manifest(key, version, hashlib.sha256(payload).hexdigest(), len(payload), kind="full")
    (folder(home) / f"{name}.release.json").write_text(json.dumps(manifest), encoding="utf-8")
    return name


def test_published_releases_are_listed_only_with_their_artefact(tmp_path: Path) -> None:
    from central import releases

    assert releases.published(tmp_path) == []
    name = publish_release(tmp_path, "1.4.0")
    (releases.folder(tmp_path) / "junk.tar.gz.release.json").write_text("{}", encoding="utf-8")  # no artefact
    (releases.folder(tmp_path) / "lost.tar.gz.release.json").write_text(  # a manifest without its artefact
        (releases.folder(tmp_path) / f"{name}.release.json").read_text(encoding="utf-8"), encoding="utf-8")
    (listed,) = releases.published(tmp_path)
    assert (listed.name, listed.version, listed.kind) == (name, "1.4.0", "full")
    with pytest.raises(ValueError):
        releases.find(tmp_path, "../" + name)
    with pytest.raises(ValueError):
        releases.update_args_for(tmp_path, name, "")  # no address for kiosks
    version, args = releases.update_args_for(tmp_path, name, "https://central.example:8443")
    assert version == "1.4.0" and args["url"] == f"https://central.example:8443/ota/artifacts/{args['sha256']}"
    assert (tmp_path / "ota" / "artifacts" / args["sha256"]).is_file()  # staged as the CLI stages it


def test_an_admin_starts_a_rollout_from_the_dashboard(tmp_path: Path, central_keys: CentralKeys) -> None:
    from fastapi.testclient import TestClient

    from central.web import auth
    from central.web.app import create_app
    from tests.test_dashboard import _add_operators, _csrf, _login

    store = CentralStore(f"sqlite:///{tmp_path / 'central.db'}")
    _add_operators(store)
    _fleet(store, central_keys, 10)
    _fleet(store, central_keys, 3, site="西城街道", prefix="x")
    name = publish_release(tmp_path, "1.5.0")
    form = {"release": name, "cohort": "sites", "site": ["西城街道"], "max_failure_pct": "25", "min_finished": "2",
            "wave": "2", "base_url": "https://central.example:8443"}
    app = create_app(store, tmp_path, "mqtt://127.0.0.1:1", session_secret="s" * 32)
    with TestClient(app) as c:
        for user in ("li", "wang"):  # a viewer and an operator see progress, not the form, and may not post it
            token = _login(c, user)
            page = c.get("/rollouts").text
            assert "rollout-start-form" not in page and "仅管理员可发起" in page
            assert c.post("/rollouts", data={**form, "csrf": token}).status_code == 403
        token = _login(c, "admin")
        page = c.get("/rollouts").text
        assert "rollout-start-form" in page and "1.5.0 · 完整包" in page and "西城街道（3 台）" in page
        assert c.post("/rollouts", data=form).status_code == 403  # no CSRF token
        for bad, why in (({"site": []}, "请至少选择一个站点"), ({"site": ["无此街道"]}, "所选范围内没有终端"),
                         ({"cohort": "percent", "percent": "0"}, "比例须大于 0"),
                         ({"cohort": "percent", "percent": "1e999"}, "比例须大于 0"),
                         ({"max_failure_pct": "100"}, "失败率阈值须在 0 到 100 之间"),
                         ({"wave": "1e309"}, "每批台数须为 1 到 1000 的整数"),
                         ({"base_url": "ftp://x"}, "终端下载地址须以 http://"),
                         ({"release": "../../etc/passwd"}, "no such published release")):
            page = c.post("/rollouts", data={**form, **bad, "csrf": token}).text
            assert f"未能开始：{why}" in page and not rollouts_of(store), bad
            token = _csrf(page)
        assert not (tmp_path / "ota").exists(), "nothing staged for a refused start"
        page = c.post("/rollouts", data={**form, "csrf": token}).text
        assert "已开始分批升级 1.5.0：共 3 台终端" in page
        (started,) = rollouts_of(store)
        assert (started["cohort"], started["sites"], started["total"], started["max_failure_rate"],
                started["min_finished"], started["wave"], started["created_by"]) == (
                    "sites", ["西城街道"], 3, 0.25, 2, 2, "admin")
        page = c.post("/rollouts", data={**form, "cohort": "percent", "percent": "20", "csrf": _csrf(page)}).text
        assert "共 3 台终端" in page  # 20 % of 13 kiosks, rounded up
        (entry, *_) = auth.audit_entries(store, action="rollout_start")
        assert entry["actor"] == "admin" and entry["detail"]["version"] == "1.5.0"
        c.get("/lang?to=en&next=/rollouts")
        english = c.post("/rollouts", data={**form, "site": [], "csrf": token}).text
        assert "Not started: choose at least one site" in english
        english = c.get("/rollouts").text
        assert "Start a rollout" in english and "Chosen sites" in english and "西城街道 (3 kiosks)" in english
    store.close()


def rollouts_of(store: CentralStore) -> list[dict[str, Any]]:
    with store.session() as s:
        return rollouts.progress(s)
