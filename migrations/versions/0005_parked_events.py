"""Parked events: work a consumer will retry later instead of holding its partition.

A handler that fails transiently and must wait longer than a consumer may hold a batch (a
platform's Retry-After of minutes, say) is parked here with the original record, and the
batch commits; the agent's unpark loop runs it again when it is due, under the same inbox and
retry rules. Keyed by (consumer, event_id): parking the same event again moves its due time.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE parked_events (
            consumer VARCHAR(100) NOT NULL,
            event_id UUID NOT NULL,
            event_type VARCHAR(100) NOT NULL,
            topic VARCHAR(255) NOT NULL,
            "partition" INT NOT NULL,
            "offset" BIGINT NOT NULL,
            "timestamp" BIGINT NOT NULL,
            key BYTEA,
            value BYTEA,
            headers JSONB NOT NULL DEFAULT '[]',
            attempt INT NOT NULL CONSTRAINT parked_events_attempt_check CHECK (attempt >= 1),
            due_at TIMESTAMPTZ NOT NULL,
            error JSONB NOT NULL,
            parked_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            PRIMARY KEY (consumer, event_id)
        )
        """
    )
    op.execute("CREATE INDEX idx_parked_events_due ON parked_events (due_at)")


def downgrade() -> None:
    op.execute("DROP TABLE parked_events")
