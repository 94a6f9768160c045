"""The demo municipality: Eskilstuna (kommunkod 0484), with a simplified outline of the town
area as its boundary (not the legal boundary), its EST organisations, the standard EST
categories (app/reports/taxonomy.py), one user per role (password ``demo``), the rescue
service's integration key and the typical mapping of its event types to the categories.

Demo mode only: :func:`load_demo_base` refuses to run when LAGESBILD_ENV=production.
"""
from __future__ import annotations

import datetime as dt

from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, Polygon
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.auth.models import User
from app.auth.service import hash_password
from app.config import DEMO_API_KEY, DEMO_PASSWORD, get_settings
from app.integrations.models import ApiKey, EventTypeMapping, Integration
from app.integrations.service import KEY_PREFIX_CHARS, key_digest, replace_mapping
from app.municipalities.models import Municipality, Organisation
from app.municipalities.service import add_standard_categories
from app.reports.taxonomy import RESCUE_EVENT_TYPES

MUNICIPALITY_CODE = "0484"
# DEMO_PASSWORD and DEMO_API_KEY (imported above) are defined in app.config: the app refuses them outside demo mode.

# (lon, lat): a simplified outline around Eskilstuna town, Torshälla to Hällby.
BOUNDARY = [
    (16.385, 59.335), (16.420, 59.312), (16.470, 59.300), (16.530, 59.298), (16.590, 59.310),
    (16.640, 59.335), (16.655, 59.370), (16.640, 59.405), (16.600, 59.430), (16.530, 59.442),
    (16.470, 59.440), (16.420, 59.425), (16.390, 59.400), (16.375, 59.370), (16.385, 59.335),
]

ORGANISATIONS = [
    ("Eskilstuna kommun", "kommun"),
    ("Polisen, lokalpolisområde Eskilstuna", "polis"),
    ("Väktarbolaget (demo)", "vaktare"),
    ("Kommunala bostadsbolaget (demo)", "fastighetsbolag"),
    ("Räddningstjänsten (demo)", "raddningstjanst"),
    ("Medborgare", "medborgare"),
]

# username, organisation kind, role, display name
USERS = [
    ("coordinator", "kommun", "coordinator", "EST-samordnare (demo)"),
    ("est", "polis", "est_member", "Kommunpolis (demo)"),
    ("reporter", "vaktare", "reporter", "Väktare (demo)"),
    ("gis", "kommun", "gis_reader", "GIS-enheten (demo)"),
]


def load_demo_base(session: Session) -> Municipality:
    """Create the demo municipality and everything around it, once. Returns the municipality."""
    if not get_settings().demo_mode:
        raise RuntimeError("Demo data (with its known passwords and API key) is refused outside demo mode; "
                           "set LAGESBILD_ENV=demo for a demo installation")
    existing = session.scalar(select(Municipality).where(Municipality.code == MUNICIPALITY_CODE))
    if existing is not None:
        ensure_rescue_feed(session, existing)
        return existing
    muni = Municipality(name="Eskilstuna", code=MUNICIPALITY_CODE, cycle_days=14,
                        cycle_anchor=dt.date(2026, 1, 7),  # a Wednesday: EST meetings every other Wednesday
                        boundary=from_shape(MultiPolygon([Polygon(BOUNDARY)]), srid=4326))
    session.add(muni)
    session.flush()
    orgs = {kind: Organisation(municipality_id=muni.id, name=name, kind=kind) for name, kind in ORGANISATIONS}
    session.add_all(orgs.values())
    add_standard_categories(session, municipality_id=muni.id)
    password_hash = hash_password(DEMO_PASSWORD)
    session.add_all(User(organisation_id=orgs[kind].id, username=username, display_name=name,
                         password_hash=password_hash, role=role) for username, kind, role, name in USERS)
    # The rescue service's call-outs are confirmed fires: they arrive verified (see ensure_rescue_feed).
    rescue = Integration(municipality_id=muni.id, organisation_id=orgs["raddningstjanst"].id, name="raddningstjanst")
    session.add(rescue)
    session.flush()
    session.add(ApiKey(integration_id=rescue.id, key_sha256=key_digest(DEMO_API_KEY),
                       prefix=DEMO_API_KEY[:KEY_PREFIX_CHARS], label="demo"))
    session.flush()
    ensure_rescue_feed(session, muni)
    return muni


def ensure_rescue_feed(session: Session, muni: Municipality) -> None:
    """The demo set-up of the rescue service's feed: its event types mapped, its events arriving
    verified, the demo key's prefix shown. Once: not when it has a mapping already (also for
    demo databases made before the events feed existed)."""
    rescue = session.scalar(select(Integration).where(Integration.municipality_id == muni.id,
                                                      Integration.name == "raddningstjanst"))
    session.execute(update(ApiKey).where(ApiKey.key_sha256 == key_digest(DEMO_API_KEY), ApiKey.prefix == "")
                    .values(prefix=DEMO_API_KEY[:KEY_PREFIX_CHARS]))
    if rescue is None or session.scalar(select(EventTypeMapping.type_key)
                                        .where(EventTypeMapping.integration_id == rescue.id).limit(1)):
        return
    rescue.initial_status = "verified"
    replace_mapping(session, integration=rescue, entries=RESCUE_EVENT_TYPES, updated_by=None)
