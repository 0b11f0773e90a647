"""Dead letters: which records each consumer group refused, so each is dead-lettered once.

One row per refused record and group, keyed by its coordinates (topic, partition, offset,
consumer group). The row is written (with the operator alert, through the outbox) in one
transaction before the dead letter is produced, and holds the dead letter's exact bytes (key,
value, headers as base64): a producer that fails or a process that dies before the broker's
ack sends the same bytes again on the redelivery (`sent_at` is still empty), and a record
whose row is sent is never dead-lettered again, not on a crash, not on a replay.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE dead_letters (
            topic VARCHAR(255) NOT NULL,
            "partition" INT NOT NULL,
            "offset" BIGINT NOT NULL,
            consumer_group VARCHAR(255) NOT NULL,
            consumer VARCHAR(100) NOT NULL,
            dead_letter_topic VARCHAR(255) NOT NULL,
            error_code VARCHAR(100) NOT NULL,
            error_category VARCHAR(30) NOT NULL,
            key BYTEA,
            value BYTEA,
            headers JSONB NOT NULL DEFAULT '[]',
            created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            sent_at TIMESTAMPTZ,
            PRIMARY KEY (topic, "partition", "offset", consumer_group)
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE dead_letters")
