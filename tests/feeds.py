"""Building and sending events batches the way the rescue service's system does."""
from __future__ import annotations

import datetime as dt
from typing import Any

from seeds.demo import DEMO_API_KEY
from tests.helpers import SQUARE

URL = "/api/v1/integrations/events"
KEY = {"X-API-Key": DEMO_API_KEY}


def event(external_id: Any, *, event_type: str = "Brand i container", at: str | dt.datetime = "2026-11-20T22:15:00+01:00",
          lon: float = SQUARE["lon"], lat: float = SQUARE["lat"], **props: Any) -> dict:
    """One GeoJSON feature of the feed; ``props`` override or add properties."""
    when = at.isoformat() if isinstance(at, dt.datetime) else at
    properties = {"external_id": external_id, "event_type": event_type, "occurred_at": when, **props}
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": {k: v for k, v in properties.items() if v is not None}}


def post_events(client, features: list[dict], *, headers: dict | None = None, **collection: Any):
    """POST a FeatureCollection with the demo key; returns the response."""
    body = {"type": "FeatureCollection", "features": features, **collection}
    return client.post(URL, json=body, headers={**KEY, **(headers or {})})


def results_by_id(response) -> dict[str, dict]:
    assert response.status_code == 200, response.text
    return {r["external_id"]: r for r in response.json()["results"]}


def metres_east(lon: float, lat: float, metres: float) -> float:
    """The longitude ``metres`` east of (lon, lat) along the parallel (good to a few cm here)."""
    from pyproj import Geod

    east, _, _ = Geod(ellps="WGS84").fwd(lon, lat, 90, metres)
    return east
