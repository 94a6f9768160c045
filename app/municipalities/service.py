"""Looking up the municipality a request is about."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import InvalidInput
from app.municipalities.models import Municipality, Organisation


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
