"""Import every domain's tables so that ``Base.metadata`` is complete (Alembic, tests)."""
from app.actions.models import (  # noqa: F401
    Action, AnalysisNote, AuditEntry, FollowUp, Meeting, Place, SafetyWalk, SafetyWalkRemark,
)
from app.auth.models import User  # noqa: F401
from app.db import Base  # noqa: F401
from app.gis.models import HotspotTileCell, HotspotTileLayer  # noqa: F401
from app.integrations.models import ApiKey, EventTypeMapping, Integration  # noqa: F401
from app.municipalities.models import Municipality, Organisation  # noqa: F401
from app.reports.models import Attachment, Category, IdempotencyRecord, Report, ReportEvent  # noqa: F401
