"""Alembic environment: the migrations run on the connection shared.migrations hands over."""

from alembic import context

from shared.migrations import run_env

run_env(context)
