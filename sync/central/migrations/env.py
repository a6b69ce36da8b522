"""Alembic environment for the central: always run through ``sync.sqlite.upgrade`` with a connection."""

from alembic import context

from sync.central import fleet_models  # noqa: F401  (registers the fleet tables on Base.metadata)
from sync.central.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
