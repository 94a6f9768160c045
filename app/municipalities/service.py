"""Looking up the municipality a request is about; setting up a municipality and its
organisations (the operator's commands, app/manage.py)."""
from __future__ import annotations

import datetime as dt
import re

from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import Conflict, InvalidInput, NotFound
from app.municipalities.models import ORGANISATION_KINDS, Municipality, Organisation
from app.reports.models import Category
from app.reports.taxonomy import CATEGORIES


def resolve_public_municipality(session: Session, *, code: str | None) -> Municipality:
    """The municipality for an anonymous request: by kommunkod, or the only one there is."""
    if code is not None:
        muni = session.scalar(select(Municipality).where(Municipality.code == code))
        if muni is None:
            raise InvalidInput(f"No municipality with kommunkod {code} uses this service",
                               errors=[{"field": "municipality", "message": "unknown kommunkod"}])
        return muni
    munis = session.scalars(select(Municipality).limit(2)).all()
    if len(munis) != 1:
        raise InvalidInput("Say which municipality: give 'municipality' (the four-digit kommunkod)",
                           errors=[{"field": "municipality", "message": "required"}])
    return munis[0]


def citizen_organisation(session: Session, *, municipality_id: int) -> Organisation | None:
    """The municipality's 'medborgare' organisation that anonymous reports are filed under."""
    return session.scalar(select(Organisation).where(Organisation.municipality_id == municipality_id,
                                                     Organisation.kind == "medborgare").order_by(Organisation.id))


def get_municipality(session: Session, *, code: str) -> Municipality:
    """The municipality with this kommunkod; NotFound naming the ones there are."""
    muni = session.scalar(select(Municipality).where(Municipality.code == code))
    if muni is None:
        known = ", ".join(f"{c} {n}" for c, n in session.execute(select(Municipality.code, Municipality.name)
                                                                  .order_by(Municipality.code)))
        raise NotFound(f"No municipality with kommunkod {code!r} (there are: {known or 'none yet'})")
    return muni


def kommun_organisation_name(name: str) -> str:
    """The kommun's own organisation as Swedes write it: 'Nyköpings kommun', 'Eskilstuna kommun',
    'Strängnäs kommun' (genitive s, none after a vowel or an s, x, z). Irregular ones (Falun:
    'Falu kommun') are given by the operator."""
    return f"{name} kommun" if name[-1].lower() in "aeiouyåäösxz" else f"{name}s kommun"


def default_cycle_anchor(today: dt.date, *, weekday: int = 2) -> dt.date:
    """The first day of a cycle when none is given: the coming Wednesday (``weekday`` 2; today
    if it is one), the usual EST meeting day. Only the weekday and the phase of the fortnight
    matter: cycles before the anchor exist too."""
    return today + dt.timedelta(days=(weekday - today.weekday()) % 7)


def create_municipality(session: Session, *, code: str, name: str, boundary: MultiPolygon, cycle_anchor: dt.date,
                        cycle_days: int = 14, kommun_name: str | None = None) -> Municipality:
    """A new municipality with the standard EST categories and the two organisations the app
    needs: the kommun itself (kind kommun, ``kommun_name`` or :func:`kommun_organisation_name`)
    and 'Medborgare' (kind medborgare, which anonymous citizen reports are filed under).
    ``boundary`` in WGS84. Conflict when the kommunkod is taken."""
    name = name.strip()
    if not re.fullmatch(r"[0-9]{4}", code):
        raise InvalidInput(f"The kommunkod is four digits (Nyköping: 0480); got {code!r}")
    if not name or len(name) > 100:
        raise InvalidInput("The municipality's name must be 1-100 characters")
    if not 1 <= cycle_days <= 366:
        raise InvalidInput(f"A cycle is 1-366 days long (EST: 14); got {cycle_days}")
    existing = session.scalar(select(Municipality).where(Municipality.code == code))
    if existing is not None:
        raise Conflict(f"Kommunkod {code} is already set up (as {existing.name}); nothing was changed")
    muni = Municipality(code=code, name=name, boundary=from_shape(boundary, srid=4326), cycle_anchor=cycle_anchor,
                        cycle_days=cycle_days)
    session.add(muni)
    session.flush()
    create_organisation(session, municipality_id=muni.id, name=kommun_name or kommun_organisation_name(name),
                        kind="kommun")
    create_organisation(session, municipality_id=muni.id, name="Medborgare", kind="medborgare")
    add_standard_categories(session, municipality_id=muni.id)
    return muni


def add_standard_categories(session: Session, *, municipality_id: int) -> None:
    """The standard EST categories (app/reports/taxonomy.py), which the municipality adjusts."""
    session.add_all(Category(municipality_id=municipality_id, code=code, label_sv=sv, label_en=en, group_code=group,
                             colour=colour, icon=icon, sort_order=i)
                    for i, (code, sv, en, group, colour, icon) in enumerate(CATEGORIES))
    session.flush()


def get_organisation(session: Session, *, municipality_id: int, name: str) -> Organisation:
    """The municipality's organisation with exactly this name; NotFound naming the ones there are."""
    org = session.scalar(select(Organisation).where(Organisation.municipality_id == municipality_id,
                                                    Organisation.name == name))
    if org is None:
        known = ", ".join(o.name for o in list_organisations(session, municipality_id=municipality_id))
        raise NotFound(f"No organisation {name!r} in this municipality (there are: {known or 'none'})")
    return org


def list_organisations(session: Session, *, municipality_id: int) -> list[Organisation]:
    """The municipality's organisations by name."""
    return list(session.scalars(select(Organisation).where(Organisation.municipality_id == municipality_id)
                                .order_by(Organisation.name)))


def create_organisation(session: Session, *, municipality_id: int, name: str, kind: str) -> Organisation:
    """A new organisation whose staff report (police, guards, housing company, rescue service...).
    One 'medborgare' organisation per municipality: citizen reports go to it."""
    name = name.strip()
    if kind not in ORGANISATION_KINDS:
        raise InvalidInput(f"Unknown organisation kind {kind!r}; use one of {', '.join(ORGANISATION_KINDS)}")
    if not name or len(name) > 200:
        raise InvalidInput("An organisation's name must be 1-200 characters")
    if session.scalar(select(Organisation.id).where(Organisation.municipality_id == municipality_id,
                                                    Organisation.name == name)):
        raise Conflict(f"The municipality already has an organisation {name!r}")
    if kind == "medborgare" and citizen_organisation(session, municipality_id=municipality_id) is not None:
        raise Conflict("The municipality already has its 'medborgare' organisation (citizen reports go to it)")
    org = Organisation(municipality_id=municipality_id, name=name, kind=kind)
    session.add(org)
    session.flush()
    return org
