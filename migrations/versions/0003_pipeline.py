"""Pipeline state: inbox (processed event ids), outbox (events to relay), workflows.

Also widens publication statuses with `publishing` (a publish call in flight) and `unknown`
(the call's outcome is unknown: reconcile by asking the platform, never post again).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UPGRADE = [
    """
    CREATE TABLE inbox (
        consumer VARCHAR(100) NOT NULL,
        event_id UUID NOT NULL,
        event_type VARCHAR(100) NOT NULL,
        processed_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
        PRIMARY KEY (consumer, event_id)
    )
    """,
    """
    CREATE TABLE outbox (
        id BIGSERIAL PRIMARY KEY,
        agent VARCHAR(100) NOT NULL,
        event_id UUID NOT NULL UNIQUE,
        event_type VARCHAR(100) NOT NULL,
        topic TEXT NOT NULL,
        key TEXT,
        value BYTEA NOT NULL,
        headers JSONB NOT NULL DEFAULT '{}'::jsonb,
        created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
        sent_at TIMESTAMP WITH TIME ZONE
    )
    """,
    "CREATE INDEX idx_outbox_unsent ON outbox (agent, id) WHERE sent_at IS NULL",
    """
    CREATE TABLE workflows (
        correlation_id UUID PRIMARY KEY,
        trend_id VARCHAR(255) NOT NULL REFERENCES trends(id),
        topic VARCHAR(255) NOT NULL,
        content_id VARCHAR(255) REFERENCES content(id),
        state VARCHAR(30) NOT NULL CONSTRAINT workflows_state_check CHECK (state IN
            ('rejected', 'generating', 'publishing', 'completed', 'partial', 'abandoned')),
        reason TEXT,
        platforms TEXT[] NOT NULL DEFAULT '{}',
        generate_attempts INT NOT NULL DEFAULT 0,
        created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
        updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
    )
    """,
    "CREATE INDEX idx_workflows_state ON workflows (state)",
    "CREATE INDEX idx_workflows_topic ON workflows (topic, created_at DESC)",
    "ALTER TABLE publications DROP CONSTRAINT publications_status_check",
    """
    ALTER TABLE publications ADD CONSTRAINT publications_status_check CHECK (status IN
        ('scheduled', 'publishing', 'published', 'failed', 'unknown'))
    """,
    "ALTER TABLE publications ADD COLUMN correlation_id UUID",
    "ALTER TABLE publications ADD COLUMN attempt INT NOT NULL DEFAULT 1",
    "ALTER TABLE publications ADD COLUMN last_error JSONB",
    "CREATE INDEX idx_publications_due ON publications (scheduled_at) WHERE status = 'scheduled'",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP INDEX idx_publications_due")
    for column in ("last_error", "attempt", "correlation_id"):
        op.execute(f"ALTER TABLE publications DROP COLUMN {column}")
    op.execute(
        "UPDATE publications SET status = 'failed' WHERE status IN ('publishing', 'unknown')"
    )
    op.execute("ALTER TABLE publications DROP CONSTRAINT publications_status_check")
    op.execute(
        "ALTER TABLE publications ADD CONSTRAINT publications_status_check "
        "CHECK (status IN ('scheduled', 'published', 'failed'))"
    )
    for table in ("workflows", "outbox", "inbox"):
        op.execute(f"DROP TABLE {table}")
