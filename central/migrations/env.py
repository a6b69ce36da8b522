"""Alembic environment for the central: always run through ``sync.runtime.sqlite.upgrade`` with a connection."""

from alembic import context

from central import (
    alerting_models,  # noqa: F401  (the alerting tables, c0014)
    fleet_models,  # noqa: F401  (registers the fleet tables on Base.metadata)
    rollout_models,  # noqa: F401  (staged OTA rollouts, c0015)
)
from central.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
