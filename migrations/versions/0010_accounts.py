"""Platform accounts (OAuth tokens sealed at rest) and publications that name their account.

`platform_accounts`: one row per connected channel or user; several per platform, each with an
operator-chosen `name` that publications use. The tokens (access, refresh) are one AES-256-GCM
envelope (`core.crypto`): `key_id` of the master key, the wrapped data key, nonce, ciphertext;
no token is ever stored in the clear. `status` `needs_reauth`: the platform refused the refresh
token (invalid_grant, revoked); the account's pending publications are `paused` until it is
reconnected (`chimera accounts connect`).

The per-process roles and their grants come from `core.grants`, applied after every migration.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

UPGRADE = [
    """
    CREATE TABLE platform_accounts (
        id VARCHAR(100) PRIMARY KEY,
        platform VARCHAR(20) NOT NULL
            CONSTRAINT platform_accounts_platform_check
            CHECK (platform IN ('youtube', 'tiktok', 'twitter')),
        name VARCHAR(64) NOT NULL,
        external_id VARCHAR(255) NOT NULL,
        display_name TEXT,
        scopes TEXT[] NOT NULL DEFAULT '{}',
        status VARCHAR(20) NOT NULL DEFAULT 'active'
            CONSTRAINT platform_accounts_status_check CHECK (status IN ('active', 'needs_reauth')),
        key_id VARCHAR(32) NOT NULL,
        wrapped_key BYTEA NOT NULL,
        nonce BYTEA NOT NULL,
        ciphertext BYTEA NOT NULL,
        access_expires_at TIMESTAMPTZ,
        refresh_expires_at TIMESTAMPTZ,
        last_refresh_at TIMESTAMPTZ,
        last_error JSONB,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        CONSTRAINT platform_accounts_name_key UNIQUE (platform, name),
        CONSTRAINT platform_accounts_external_key UNIQUE (platform, external_id)
    )
    """,
    "CREATE INDEX idx_platform_accounts_key ON platform_accounts (key_id)",
    "ALTER TABLE publications ADD COLUMN account VARCHAR(64)",
    "ALTER TABLE publications DROP CONSTRAINT publications_status_check",
    """
    ALTER TABLE publications ADD CONSTRAINT publications_status_check CHECK (status IN
        ('scheduled', 'publishing', 'published', 'failed', 'unknown', 'paused'))
    """,
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    op.execute("UPDATE publications SET status = 'scheduled' WHERE status = 'paused'")
    op.execute("ALTER TABLE publications DROP CONSTRAINT publications_status_check")
    op.execute(
        """ALTER TABLE publications ADD CONSTRAINT publications_status_check CHECK (status IN
           ('scheduled', 'publishing', 'published', 'failed', 'unknown'))"""
    )
    op.execute("ALTER TABLE publications DROP COLUMN account")
    op.execute("DROP TABLE platform_accounts")
