"""Alembic environment for the outbox: always run through ``sync.runtime.sqlite.upgrade`` with a connection."""

from alembic import context

from sync.outbox.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
