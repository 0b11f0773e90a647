"""The specification's five tables: trends, content, publications, engagement, audit_logs.

The specification writes its indexes inline (MySQL syntax, which PostgreSQL rejects); here they
are separate CREATE INDEX statements. Status and type enums are CHECK constraints.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UPGRADE = [
    """
    CREATE TABLE trends (
        id VARCHAR(255) PRIMARY KEY,
        platform VARCHAR(50) NOT NULL,
        topic VARCHAR(255) NOT NULL,
        title TEXT NOT NULL,
        description TEXT,
        engagement_metrics JSONB NOT NULL,
        velocity FLOAT NOT NULL,
        created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
        fetched_at TIMESTAMP WITH TIME ZONE NOT NULL,
        url TEXT NOT NULL,
        tags TEXT[]
    )
    """,
    "CREATE INDEX idx_platform_fetched ON trends (platform, fetched_at)",
    "CREATE INDEX idx_velocity ON trends (velocity DESC)",
    "CREATE INDEX idx_topic ON trends (topic)",
    """
    CREATE TABLE content (
        id VARCHAR(255) PRIMARY KEY,
        type VARCHAR(50) NOT NULL
            CONSTRAINT content_type_check CHECK (type IN ('video', 'image', 'text')),
        script TEXT,
        style VARCHAR(100),
        local_path TEXT,
        metadata JSONB,
        status VARCHAR(50) NOT NULL
            CONSTRAINT content_status_check
            CHECK (status IN ('draft', 'generating', 'ready', 'published', 'failed')),
        created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
        updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
        trend_id VARCHAR(255) REFERENCES trends(id)
    )
    """,
    "CREATE INDEX idx_status ON content (status)",
    "CREATE INDEX idx_trend_id ON content (trend_id)",
    "CREATE INDEX idx_created_at ON content (created_at DESC)",
    """
    CREATE TABLE publications (
        id VARCHAR(255) PRIMARY KEY,
        content_id VARCHAR(255) NOT NULL REFERENCES content(id),
        platform VARCHAR(50) NOT NULL,
        post_id VARCHAR(255),
        url TEXT,
        title TEXT NOT NULL,
        description TEXT,
        tags TEXT[],
        published_at TIMESTAMP WITH TIME ZONE,
        scheduled_at TIMESTAMP WITH TIME ZONE,
        status VARCHAR(50) NOT NULL
            CONSTRAINT publications_status_check
            CHECK (status IN ('scheduled', 'published', 'failed'))
    )
    """,
    "CREATE INDEX idx_platform_status ON publications (platform, status)",
    "CREATE INDEX idx_content_id ON publications (content_id)",
    "CREATE INDEX idx_published_at ON publications (published_at DESC)",
    """
    CREATE TABLE engagement (
        id VARCHAR(255) PRIMARY KEY,
        publication_id VARCHAR(255) REFERENCES publications(id),
        content_id VARCHAR(255) REFERENCES content(id),
        views INT DEFAULT 0,
        likes INT DEFAULT 0,
        comments INT DEFAULT 0,
        shares INT DEFAULT 0,
        engagement_rate FLOAT,
        recorded_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
    )
    """,
    "CREATE INDEX idx_publication_id ON engagement (publication_id)",
    "CREATE INDEX idx_recorded_at ON engagement (recorded_at DESC)",
    """
    CREATE TABLE audit_logs (
        id VARCHAR(255) PRIMARY KEY,
        agent_id VARCHAR(255) NOT NULL,
        action VARCHAR(100) NOT NULL,
        skill_name VARCHAR(100),
        input_data JSONB,
        output_data JSONB,
        status VARCHAR(50) NOT NULL
            CONSTRAINT audit_logs_status_check
            CHECK (status IN ('success', 'failure', 'pending')),
        timestamp TIMESTAMP WITH TIME ZONE DEFAULT NOW()
    )
    """,
    "CREATE INDEX idx_agent_id ON audit_logs (agent_id)",
    "CREATE INDEX idx_timestamp ON audit_logs (timestamp DESC)",
    "CREATE INDEX idx_skill_name ON audit_logs (skill_name)",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    # Dependents first; dropping a table drops its indexes and constraints.
    for table in ("audit_logs", "engagement", "publications", "content", "trends"):
        op.execute(f"DROP TABLE {table}")
