"""Alembic migrations for Chimera's PostgreSQL schema (run with `chimera migrate`)."""
