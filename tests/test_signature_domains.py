"""One place builds every signed statement (sync.protocol.signatures): the domains are distinct, none is a
prefix of another or of a JSON object, and every module that signs uses them (issue 15)."""

from __future__ import annotations

import itertools

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sync.protocol import acksign, batch, enrolment, release, signatures, signing
from sync.protocol.canonical import canonical_json
from sync.protocol.commands import new_command, sign_command, target_device, verify_command
from sync.runtime import mqtt


def test_the_domains_are_distinct_and_none_is_a_prefix_of_another_or_of_a_json_object() -> None:
    assert len(set(signatures.DOMAINS)) == len(signatures.DOMAINS)
    for a, b in itertools.permutations(signatures.DOMAINS, 2):
        assert not b.startswith(a), (a, b)
    for d in signatures.DOMAINS:
        assert d.endswith(b"\n") and d.isascii() and not d.startswith(b"{")
    assert signatures.object_statement({"a": 1}).startswith(b"{")


def test_every_signing_module_takes_its_domain_from_the_registry() -> None:
    assert signing.DOMAIN is signatures.ENVELOPE
    assert acksign.DOMAIN is signatures.ACK
    assert batch.DOMAIN is signatures.BATCH
    assert release.DOMAIN is signatures.RELEASE and release.ROTATION_DOMAIN is signatures.RELEASE_KEY_ROTATION
    assert enrolment.RETIRE_DOMAIN is signatures.RETIREMENT
    assert mqtt.KIOSK_CLIENT_ID_DOMAIN is signatures.CLIENT_ID
    assert release.release_statement("1.2.3", "a" * 64, 10).startswith(signatures.RELEASE)
    assert enrolment.retirement_bytes("k-old", "k-new", "t1").startswith(signatures.RETIREMENT)


def test_an_unknown_domain_or_a_non_object_is_refused() -> None:
    with pytest.raises(ValueError):
        signatures.statement(b"kiosk-something-else/v1\n", b"body")
    with pytest.raises(TypeError):
        signatures.object_statement([1, 2])  # type: ignore[arg-type]
    with pytest.raises(ValueError):  # NaN has no canonical form: nothing is signed
        signatures.object_statement({"x": float("nan")})


def test_a_command_signs_its_canonical_json_and_verifies() -> None:
    key = Ed25519PrivateKey.generate()
    raw = key.private_bytes_raw()
    command = new_command("diagnostics", None, target_device("kiosk-01"))
    payload = sign_command(raw, command)
    assert command.canonical() == canonical_json(command.to_dict())
    checked = verify_command(key.public_key().public_bytes_raw(), payload, device_id="kiosk-01", site="")
    assert checked.id == command.id
