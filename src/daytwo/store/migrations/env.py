"""Alembic environment for daytwo: runs on the connection or engine handed in by daytwo."""

from __future__ import annotations

from alembic import context

from daytwo.store._schema import metadata

config = context.config
connection = config.attributes.get("connection")

if connection is not None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    import sqlalchemy as sa

    from daytwo.store._database import resolve_url

    engine = config.attributes.get("engine") or sa.create_engine(
        config.get_main_option("sqlalchemy.url") or resolve_url(None)
    )
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
