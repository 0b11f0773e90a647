"""The `alert_acknowledgements` table: a person saying "I have seen this OperatorAlert".

Alerts live on the alerts topic; acknowledging one stores its event id here, once.
"""

from __future__ import annotations

import uuid

from core.db import Executor


async def acknowledge(db: Executor, alert_event_id: uuid.UUID, user: str, note: str = "") -> bool:
    """Record the acknowledgement; False when the alert was acknowledged already."""
    status = await db.execute(
        """INSERT INTO alert_acknowledgements (alert_event_id, acknowledged_by, note)
           VALUES ($1, $2, $3) ON CONFLICT DO NOTHING""",
        alert_event_id,
        user,
        note,
    )
    return status.split()[-1] == "1"
