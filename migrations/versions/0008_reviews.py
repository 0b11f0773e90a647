"""People in the loop: content waiting for approval, the decisions, alert acknowledgements.

- `content.status` gains `awaiting_approval` (ready, held by the approval gate), `approved`
  and `rejected` (a reviewer's or the expiry's decision); `workflows.state` gains
  `awaiting_approval` and `declined` (a person, or the expiry, said no).
- `reviews`: one row per content held by the gate: what would be published (the ready
  video's title, description, tags, path), where (the gated platforms), until when it may
  wait, and then the one decision (who, when, why, the edits, the command's event id).
- `review_refusals`: decisions the orchestrator refused (a second decision, an unknown
  content, a platform that was not planned), so whoever sent one can see why.
- `alert_acknowledgements`: who acknowledged which OperatorAlert (by its event id) in the
  console, and when.
- `console_sessions`: the console's login sessions (the SHA-256 of the cookie's secret, the
  user, the session's CSRF token, expiry); logging out deletes the row.

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-02
"""

from alembic import op

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None

CONTENT_BEFORE = "('draft', 'generating', 'ready', 'published', 'failed')"
CONTENT_AFTER = (
    "('draft', 'generating', 'ready', 'awaiting_approval', 'approved', 'rejected', "
    "'published', 'failed')"
)
WORKFLOWS_BEFORE = "('rejected', 'generating', 'publishing', 'completed', 'partial', 'abandoned')"
WORKFLOWS_AFTER = (
    "('rejected', 'generating', 'awaiting_approval', 'declined', 'publishing', 'completed', "
    "'partial', 'abandoned')"
)


def _check(table: str, column: str, name: str, values: str) -> None:
    op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
    op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({column} IN {values})")


def upgrade() -> None:
    _check("content", "status", "content_status_check", CONTENT_AFTER)
    _check("workflows", "state", "workflows_state_check", WORKFLOWS_AFTER)
    op.execute(
        """
        CREATE TABLE reviews (
            content_id VARCHAR(255) PRIMARY KEY REFERENCES content(id),
            correlation_id UUID NOT NULL,
            platforms TEXT[] NOT NULL,
            title TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            tags TEXT[] NOT NULL DEFAULT '{}',
            path TEXT NOT NULL,
            requested_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            expires_at TIMESTAMPTZ,
            status VARCHAR(20) NOT NULL DEFAULT 'pending' CONSTRAINT reviews_status_check
                CHECK (status IN ('pending', 'approved', 'rejected')),
            decided_by VARCHAR(64),
            decided_at TIMESTAMPTZ,
            reason TEXT,
            edits JSONB,
            expired BOOLEAN NOT NULL DEFAULT false,
            decision_event_id UUID
        )
        """
    )
    op.execute("CREATE INDEX idx_reviews_pending ON reviews (expires_at) WHERE status = 'pending'")
    op.execute(
        """
        CREATE TABLE review_refusals (
            event_id UUID PRIMARY KEY,
            content_id VARCHAR(255) NOT NULL,
            decision VARCHAR(20) NOT NULL,
            actor VARCHAR(64) NOT NULL,
            reason TEXT NOT NULL,
            refused_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX idx_review_refusals_content ON review_refusals (content_id)")
    op.execute(
        """
        CREATE TABLE alert_acknowledgements (
            alert_event_id UUID PRIMARY KEY,
            acknowledged_by VARCHAR(64) NOT NULL,
            note TEXT NOT NULL DEFAULT '',
            acknowledged_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        """
        CREATE TABLE console_sessions (
            id_sha256 CHAR(64) PRIMARY KEY,
            user_name VARCHAR(64) NOT NULL REFERENCES users (name) ON DELETE CASCADE,
            csrf_token VARCHAR(64) NOT NULL,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            last_seen_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            expires_at TIMESTAMPTZ NOT NULL
        )
        """
    )
    op.execute("CREATE INDEX idx_console_sessions_user ON console_sessions (user_name)")


def downgrade() -> None:
    tables = ("console_sessions", "alert_acknowledgements", "review_refusals", "reviews")
    for table in tables:
        op.execute(f"DROP TABLE {table}")
    op.execute(
        "UPDATE content SET status = 'ready' "
        "WHERE status IN ('awaiting_approval', 'approved', 'rejected')"
    )
    op.execute(
        "UPDATE workflows SET state = 'abandoned' WHERE state IN ('awaiting_approval', 'declined')"
    )
    _check("content", "status", "content_status_check", CONTENT_BEFORE)
    _check("workflows", "state", "workflows_state_check", WORKFLOWS_BEFORE)
