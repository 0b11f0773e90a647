"""Daily budget usage per platform, kept as counters.

Counting today's workflows on every decision grew with the table (every batch scanned the
day's rows); the orchestrator now increments one row per platform and day in the same
transaction as its decisions.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE budget_usage (
            day DATE NOT NULL,
            platform VARCHAR(50) NOT NULL,
            used INT NOT NULL DEFAULT 0 CONSTRAINT budget_usage_used_check CHECK (used >= 0),
            PRIMARY KEY (day, platform)
        )
        """
    )
    # Carry over what existing workflows already used.
    op.execute(
        """
        INSERT INTO budget_usage (day, platform, used)
        SELECT (created_at AT TIME ZONE 'UTC')::date, p, count(*)
        FROM workflows, unnest(platforms) AS p WHERE state <> 'rejected'
        GROUP BY 1, 2
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE budget_usage")
