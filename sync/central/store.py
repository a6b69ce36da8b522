"""The central's submission store: idempotent by message id, one transaction per batch."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from sync.central.models import Submission
from sync.protocol.envelope import Envelope
from sync.protocol.masking import mask_field
from sync.sqlite import make_engine, upgrade

MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass(frozen=True)
class Incoming:
    envelope: Envelope
    fields: list[dict[str, Any]]


class CentralStore:
    def __init__(self, db_url: str) -> None:
        self.engine = make_engine(db_url)
        upgrade(self.engine, MIGRATIONS)
        self._session = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    def store_batch(self, items: Sequence[Incoming]) -> list[str]:
        """Store what is new; return every id now durably stored (new and already known) for the ack."""
        if not items:
            return []
        try:
            return self._store(items)
        except IntegrityError:
            # Another worker stored one of these between our check and our commit: go one by one.
            done: list[str] = []
            for item in items:
                try:
                    done += self._store([item])
                except IntegrityError:
                    done.append(item.envelope.id)
            return done

    def _store(self, items: Sequence[Incoming]) -> list[str]:
        ids = [i.envelope.id for i in items]
        now = time.time()
        with self._session.begin() as s:
            known = set(s.scalars(select(Submission.id).where(Submission.id.in_(ids))))
            for item in items:
                env = item.envelope
                if env.id in known:
                    continue
                known.add(env.id)
                s.add(Submission(id=env.id, device_id=env.device_id, seq=env.seq,
                                 service_code=env.service_code, receipt_no=env.receipt_no,
                                 created_at=env.created_at, received_at=now,
                                 fields_json=json.dumps(item.fields, ensure_ascii=False)))
        return ids

    def count(self) -> int:
        with self._session() as s:
            return len(s.scalars(select(Submission.id)).all())

    def list_masked(self, limit: int = 1000) -> list[dict[str, Any]]:
        """Submissions for listings and logs: personal data masked by field kind."""
        with self._session() as s:
            rows = s.scalars(select(Submission).order_by(Submission.received_at.desc()).limit(limit)).all()
        out = []
        for r in rows:
            fields = json.loads(r.fields_json)
            out.append({
                "id": r.id, "device_id": r.device_id, "seq": r.seq, "service_code": r.service_code,
                "receipt_no": r.receipt_no, "created_at": r.created_at, "received_at": r.received_at,
                "fields": [{"id": f.get("id"), "label": f.get("label"),
                            "value": mask_field(str(f.get("kind", "")), f.get("value"))} for f in fields],
            })
        return out
