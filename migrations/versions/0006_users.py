"""People who use the console, the review commands and the MCP server: users and API tokens.

Roles form a ladder (viewer < reviewer < operator < admin; see chimera/auth/roles.py).
Passwords are stored as argon2id hashes; API tokens as SHA-256 digests (they are random and
long, so a fast hash is enough), shown once when created.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE users (
            name VARCHAR(64) PRIMARY KEY
                CONSTRAINT users_name_check CHECK (name ~ '^[A-Za-z0-9._@-]{1,64}$'),
            role VARCHAR(20) NOT NULL CONSTRAINT users_role_check
                CHECK (role IN ('viewer', 'reviewer', 'operator', 'admin')),
            password_hash TEXT NOT NULL,
            disabled BOOLEAN NOT NULL DEFAULT false,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        """
        CREATE TABLE api_tokens (
            id VARCHAR(16) PRIMARY KEY,
            user_name VARCHAR(64) NOT NULL REFERENCES users (name) ON DELETE CASCADE,
            label VARCHAR(100) NOT NULL DEFAULT '',
            token_sha256 CHAR(64) NOT NULL UNIQUE,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            last_used_at TIMESTAMPTZ,
            revoked_at TIMESTAMPTZ
        )
        """
    )
    op.execute("CREATE INDEX idx_api_tokens_user ON api_tokens (user_name)")


def downgrade() -> None:
    op.execute("DROP TABLE api_tokens")
    op.execute("DROP TABLE users")
