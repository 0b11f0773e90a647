"""Skill state: rate-limit buckets shared by every process, and trend snapshots for velocity.

`rate_limit_buckets` holds one row per bucket (platform, operation and credential, e.g.
"x:trends:1a2b3c4d") for the PostgreSQL-backed limiter (`skills.ratelimit.PgRateLimiter`):
`tat` is the GCRA theoretical arrival time (the next free slot, reserved under the row lock),
`held_until` blocks the bucket after a 429 with Retry-After. `emission_interval_s` and
`period_s` remember the last limit used, so a hold can pace the calls that follow it.

`trend_snapshots` records the counts of an item each time it is fetched; velocity (views gained
per hour) is computed from successive snapshots of the same trend id. It has no foreign key to
`trends`: items are snapshotted whether or not they are ever stored as trends.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UPGRADE = [
    """
    CREATE TABLE rate_limit_buckets (
        bucket VARCHAR(255) PRIMARY KEY,
        tat TIMESTAMP WITH TIME ZONE NOT NULL,
        held_until TIMESTAMP WITH TIME ZONE,
        emission_interval_s DOUBLE PRECISION NOT NULL DEFAULT 0
            CONSTRAINT rate_limit_buckets_interval_check CHECK (emission_interval_s >= 0),
        period_s DOUBLE PRECISION NOT NULL DEFAULT 0
            CONSTRAINT rate_limit_buckets_period_check CHECK (period_s >= 0),
        updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
    )
    """,
    """
    CREATE TABLE trend_snapshots (
        id BIGSERIAL PRIMARY KEY,
        trend_id VARCHAR(255) NOT NULL,
        observed_at TIMESTAMP WITH TIME ZONE NOT NULL,
        views BIGINT NOT NULL DEFAULT 0 CONSTRAINT trend_snapshots_views_check CHECK (views >= 0),
        likes BIGINT NOT NULL DEFAULT 0 CONSTRAINT trend_snapshots_likes_check CHECK (likes >= 0),
        comments BIGINT NOT NULL DEFAULT 0
            CONSTRAINT trend_snapshots_comments_check CHECK (comments >= 0),
        shares BIGINT NOT NULL DEFAULT 0
            CONSTRAINT trend_snapshots_shares_check CHECK (shares >= 0),
        CONSTRAINT trend_snapshots_trend_observed_key UNIQUE (trend_id, observed_at)
    )
    """,
    "CREATE INDEX idx_trend_snapshots_observed_at ON trend_snapshots (observed_at)",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for table in ("trend_snapshots", "rate_limit_buckets"):
        op.execute(f"DROP TABLE {table}")
