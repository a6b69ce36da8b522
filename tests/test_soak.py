"""The soak, shortened for CI: ten kiosks (each its own ``kiosk-syncd`` process) submit for a minute while
the broker, the central and two daemons are killed and restarted; afterwards nothing is lost, nothing is
stored twice, every alarm raised has cleared and no process's memory has grown beyond a bound.

It runs over the broker configuration the project ships (packaging/broker/: mutual TLS with the fleet CA,
certificate identity as user name, the per-device ACL, the CRL): each kiosk holds a client certificate from
the central's CA, the central serves on mqtts://, and every broker restart reinstalls the same TLS files.
The same soak also runs over a plain TCP broker (the development set-up; ``bench.soak`` without ``--tls``):
each variant costs about 70 s on a quiet 2-core machine.

The fault times are the experiment's seeded schedule (``devtools.soak.schedule``); every other wait in the soak
is on a condition with a deadline. ``bench/soak.py`` runs the long one (docs/BENCHMARKS.md, "Soak").
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from devtools.soak import SoakError, SoakSettings, rss_kb, run_soak, schedule

CI = SoakSettings(kiosks=10, seconds=60.0, rate=10.0, broker_restarts=1, central_restarts=1, daemon_kills=2,
                  daemon_down_s=(3.0, 15.0), heartbeat_s=5, offline_alarm_s=5.0, evaluate_every_s=1.0,
                  sample_every_s=2.0, drain_timeout_s=360.0, seed=20261128, tls=True)
# Growth of one process after its first 10 s (MB); measured growth in CI-sized runs is 0-4 MB.
GROWTH_BOUND_MB = {"broker": 10.0, "central": 40.0, "syncd": 20.0, "soak": 40.0}
SYNCD_MAX_MB = 160.0
ROOT = Path(__file__).resolve().parents[1]


# The module-scoped soak runs inside the first test's timeout: a minute of feed, the drain, the alarms'
# clearing and the start and stop of 13 processes, on a shared 2-core machine.
SOAK_TIMEOUT = 600


@pytest.fixture(scope="module", params=[CI, replace(CI, tls=False)], ids=["tls", "plain"])
def report(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("soak")
    return {**run_soak(request.param, home), "home": str(home)}


@pytest.mark.slow
@pytest.mark.timeout(SOAK_TIMEOUT)
def test_soak_loses_nothing_and_stores_nothing_twice(report: dict[str, Any]) -> None:
    print({k: report[k] for k in ("enqueued", "stored", "lost", "duplicated", "resends", "drain_s", "faults",
                                  "alarms")})
    assert report["drained"], report
    assert report["enqueued"] >= 0.5 * CI.rate * CI.seconds  # the feed ran (at a rate a loaded machine allows)
    assert report["lost"] == 0, report["lost_ids"]
    assert report["duplicated"] == 0
    assert report["unexpected"] == 0
    assert report["stored"] == report["stored_complete"] == report["enqueued"] == report["acked_at_kiosks"]
    assert report["with_attachment"] > 0  # photos (two chunks each) went through the faults too
    assert report["resends"] > 0  # the faults did force messages to be sent again
    assert report["ok"] is True


@pytest.mark.slow
@pytest.mark.timeout(SOAK_TIMEOUT)
def test_soak_ran_over_the_shipped_tls_and_acl_broker_or_plain_tcp(report: dict[str, Any]) -> None:
    tls = report["tls"]
    kiosk = Path(report["home"]) / "kiosks" / "soak-0001"
    if not tls["enabled"]:  # the plain variant: no certificates, anonymous clients on a TCP listener
        assert tls["broker_url"].startswith("mqtt://") and tls["kiosk_identities_seen"] == 0, tls
        assert "allow_anonymous true" in tls["listener"] and not (kiosk / "secrets" / "tls_client.pem").exists()
        return
    assert tls["broker_url"].startswith("mqtts://"), tls
    # The broker logged each kiosk and the central connecting under its certificate's identity (the user
    # name the ACL is keyed on), and nobody else.
    assert tls["kiosk_identities_seen"] == CI.kiosks, tls
    assert tls["central_identity_seen"] is True
    assert tls["other_identities"] == []
    # The kiosks' listener as the broker ran it: the shipped one, with its files in the broker's folder.
    listener = tls["listener"]
    for line in ("require_certificate true", "use_identity_as_username true", "allow_anonymous false",
                 "acl_file BROKER/kiosk/acl", "crlfile BROKER/kiosk/crl.pem", "cafile BROKER/kiosk/ca.pem"):
        assert line in listener, (line, listener)
    assert '"broker_url": "mqtts://' in (kiosk / "device.json").read_text()
    for name in ("tls_client.pem", "fleet_ca.pem"):
        assert (kiosk / "secrets" / name).stat().st_mode & 0o077 == 0  # the kiosk's secrets, 0600


@pytest.mark.slow
@pytest.mark.timeout(SOAK_TIMEOUT)
def test_soak_injected_one_fault_of_each_kind_into_real_processes(report: dict[str, Any]) -> None:
    assert report["faults"] == {"broker_restarts": 1, "central_restarts": 1, "daemon_kills": 2,
                                "unexpected_exits": 0}
    for event in report["events"]:
        assert event["signal"] == "SIGKILL" and event["exit"] == -9, event  # a real process died of SIGKILL
        assert event["revived_at"] > event["t"], event
    killed = [e["kiosk"] for e in report["events"] if e["target"] == "syncd"]
    assert len(set(killed)) == 2


@pytest.mark.slow
@pytest.mark.timeout(SOAK_TIMEOUT)
def test_soak_offline_alarm_was_raised_and_every_alarm_cleared(report: dict[str, Any]) -> None:
    alarms = report["alarms"]
    assert alarms["raised"].get("offline", 0) >= 1  # the first kill stays down past the threshold
    assert alarms["cleared"].get("offline", 0) >= 1
    assert alarms["open_at_end"] == []
    # Nothing the trust checks would raise: every message was signed by an enrolled kiosk.
    assert set(alarms["raised"]) <= {"offline", "queue_growing", "oldest_pending", "seq_gap"}, alarms


@pytest.mark.slow
@pytest.mark.timeout(SOAK_TIMEOUT)
def test_soak_memory_stays_within_bounds(report: dict[str, Any]) -> None:
    memory = report["memory_mb"]
    assert set(memory) == {"broker", "central", "syncd", "soak"}
    assert memory["syncd"]["processes"] == CI.kiosks + 2  # the two killed daemons were started again
    assert memory["central"]["processes"] == 2 and memory["broker"]["processes"] == 2
    for role, bound in GROWTH_BOUND_MB.items():
        growth = memory[role]["max_growth"]
        assert growth is not None and growth <= bound, (role, memory[role])
    assert memory["syncd"]["max"] <= SYNCD_MAX_MB


def test_schedule_is_seeded_and_isolates_the_alarm_probe() -> None:
    faults = schedule(CI)
    assert faults == schedule(CI)
    assert faults != schedule(SoakSettings(**{**CI.__dict__, "seed": 1}))
    probe = faults[0]
    assert probe.target == "syncd" and probe.down_s == CI.daemon_down_s[1]
    others = faults[1:]
    assert all(f.at_s >= probe.at_s + probe.down_s for f in others)
    assert all(f.at_s + f.down_s < CI.seconds for f in faults)  # every part is back before the feed ends
    assert [f.target for f in faults].count("syncd") == CI.daemon_kills


@pytest.mark.parametrize(("args", "message"), [
    (["--home", "/nonexistent/kiosk"], "this kiosk is not provisioned"),
    (["--home", "/tmp", "--poll", "0"], "--poll and --wait must be positive"),
])
def test_paced_daemon_refuses_a_home_it_cannot_use(args: list[str], message: str) -> None:
    out = subprocess.run([sys.executable, "-m", "devtools.soak_daemon", *args], capture_output=True, text=True,
                         timeout=60, cwd=ROOT)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr


def test_rss_is_read_from_proc() -> None:
    own = rss_kb(os.getpid())
    assert own is not None and own > 1024
    assert rss_kb(2**22 + 12345) is None  # above pid_max: no such process


@pytest.mark.parametrize(("changes", "message"), [
    ({"kiosks": 0}, "kiosks must be between 1 and 500"),
    ({"seconds": 0}, "seconds and rate must be positive"),
    ({"rate": -1}, "seconds and rate must be positive"),
    ({"daemon_kills": -1}, "fault counts must not be negative"),
    ({"daemon_down_s": (5.0, 1.0)}, "daemon_down_s must be a range"),
    ({"attachment_share": 1.5}, "attachment_share"),
    ({"heartbeat_s": 1}, "heartbeat_s must be between 5 and 3600"),
    ({"offline_alarm_s": 0}, "alarm threshold and intervals must be positive"),
    ({"drain_timeout_s": 0}, "timeouts must be positive"),
    ({"id_prefix": "_bad"}, "id_prefix"),
    ({"daemon": "threads"}, "daemon must be one of kiosk-syncd, paced"),
])
def test_bad_settings_are_refused_before_anything_starts(changes: dict[str, Any], message: str,
                                                         tmp_path: Path) -> None:
    home = tmp_path / "soak"
    with pytest.raises(SoakError, match=message):
        run_soak(SoakSettings(**{**CI.__dict__, **changes}), home)
    assert not home.exists()  # nothing was provisioned or started


@pytest.mark.parametrize(("args", "message"), [
    (["--kiosks", "0"], "kiosks must be between 1 and 500"),
    (["--daemon-down", "x,y"], "is not LOW,HIGH seconds"),
    (["--minutes", "-1"], "seconds and rate must be positive"),
    (["--daemon", "threads"], "invalid choice"),
])
def test_bench_command_line_gives_a_clear_error(args: list[str], message: str) -> None:
    out = subprocess.run([sys.executable, "-m", "bench.soak", *args], capture_output=True, text=True, timeout=60,
                         cwd=ROOT)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr
