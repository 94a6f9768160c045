"""Synthetic EST reports with believable structure, bulk-loaded with COPY.

What the generator plants (so that the situation picture has something real to find):
- persistent hotspots: the town square (weekend nights), the railway station (evenings),
  a school yard (after school on weekdays), each a Gaussian blob of 80-250 m;
- clusters of container fires with near-repeat offspring (same spot, within days),
  pushed by the rescue service's integration;
- a diffuse background over the town;
- time windows for what is found after the fact (graffiti, vandalism, littering).

Everything is vectorised with NumPy; H3 cells come from the vectorised h3ronpy.
"""
from __future__ import annotations

import binascii
import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import Polygon

from app.geo import H3_RESOLUTIONS, h3_cells_vectorised
from seeds.demo import BOUNDARY

M_PER_DEG_LAT = 111_320.0
CORE_BOX = (16.45, 59.33, 16.58, 59.41)  # lon/lat box of the built-up town, inside BOUNDARY


@dataclass(frozen=True)
class Hotspot:
    """A place where incidents concentrate: centre (lon, lat), spread (m), share, category mix, time pattern."""

    name: str
    lon: float
    lat: float
    sigma_m: float
    share: float
    categories: dict[str, float]
    pattern: str


HOTSPOTS = [
    Hotspot("Fristadstorget", 16.5098, 59.3712, 90, 0.16,
            {"ordningsstorning": .3, "otrygg_samling": .25, "skadegorelse": .15, "klotter": .1, "hot_vald": .1,
             "nedskrapning": .1}, "weekend_night"),
    Hotspot("Resecentrum", 16.5063, 59.3680, 120, 0.12,
            {"stold_inbrott": .35, "otrygg_samling": .2, "narkotika": .15, "skadegorelse": .15, "klotter": .15},
            "evening"),
    Hotspot("Skolgården, Årby", 16.4830, 59.3575, 80, 0.08,
            {"skadegorelse": .35, "klotter": .3, "nedskrapning": .15, "otrygg_samling": .2}, "after_school"),
    Hotspot("Stadsparken", 16.5135, 59.3745, 150, 0.05,
            {"narkotika": .4, "otrygg_plats": .3, "nedskrapning": .3}, "evening"),
]
FIRE_AREAS = [(16.4930, 59.3830), (16.5520, 59.3830), (16.4850, 59.3560), (16.5350, 59.3550)]
BACKGROUND_CATEGORIES = {
    "skadegorelse": .18, "klotter": .14, "nedskrapning": .16, "otrygg_plats": .12, "stold_inbrott": .12,
    "overgivet_fordon": .08, "ordningsstorning": .08, "brand_mark": .02, "hot_vald": .04, "ovrigt": .06,
}
FOUND_AFTERWARDS = {"klotter", "skadegorelse", "nedskrapning", "overgivet_fordon"}
DESCRIPTIONS = {
    "skadegorelse": ["Krossad ruta", "Sönderslagen papperskorg", "Förstörd bänk", "Trasig belysningsstolpe"],
    "klotter": ["Klotter på vägg", "Tags på busskur", "Klotter på elskåp", "Nytt klotter på fasad"],
    "nedskrapning": ["Dumpade sopsäckar", "Mycket skräp", "Dumpad soffa", "Glaskross på gångväg"],
    "ordningsstorning": ["Högljutt sällskap", "Bråk utanför krog", "Störande musik sent"],
    "otrygg_samling": ["Grupp ungdomar som upplevs otrygg", "Samling vid entré", "Grupp vid trappan"],
    "narkotika": ["Misstänkt langning", "Sprutor hittade", "Lukt av cannabis"],
    "stold_inbrott": ["Cykelstöld", "Inbrott i förråd", "Uppbruten bil"],
    "hot_vald": ["Slagsmål", "Hotfull person", "Misshandel, polis tillkallad"],
    "otrygg_plats": ["Trasig belysning", "Igenvuxna buskar", "Mörk gångtunnel"],
    "overgivet_fordon": ["Bil utan skyltar", "Övergiven moped", "Fordon står kvar sedan veckor"],
    "ovrigt": ["Övrigt att notera", "Rapport efter rond"],
    "brand_container": ["Brand i container", "Brand i papperskorg", "Brand i soptunna"],
    "brand_fordon": ["Brand i bil", "Brand i moped"],
    "brand_mark": ["Gräsbrand", "Brand i buskage"],
}
# (organisation kind, share) for everything that is not pushed by the rescue service.
REPORTER_MIX = [("vaktare", .30), ("kommun", .25), ("fastighetsbolag", .20), ("polis", .15), ("medborgare", .10)]
COLUMNS = ("municipality_id", "category_id", "occurred_from", "occurred_to", "reported_at", "geom",
           *(f"h3_r{r}" for r in H3_RESOLUTIONS), "description", "place_name", "reporter_id", "organisation_id",
           "source", "external_id", "status")


def _hour_weights(pattern: str) -> np.ndarray:
    """7 x 24 weights (Monday first) of when incidents of a pattern happen, local time."""
    w = np.ones((7, 24))
    w[:, 0:6] = 0.3
    w[:, 6:9] = 0.6
    if pattern == "weekend_night":
        w[4:6, 20:24] = 8.0
        w[5:7, 0:4] = 8.0   # Saturday and Sunday small hours
    elif pattern == "after_school":
        w[0:5, 14:18] = 6.0
        w[5:7, :] = 0.4
    elif pattern == "evening":
        w[:, 17:23] = 4.0
        w[4:6, 22:24] = 6.0
    else:
        w[:, 9:18] = 2.0
    return w


@dataclass
class Lookups:
    """Database ids the generator needs: category codes, organisation kinds, users per kind."""

    municipality_id: int
    category_ids: dict[str, int]
    organisation_ids: dict[str, int]
    user_ids: dict[str, int | None] = field(default_factory=dict)


def _sample_categories(rng: np.random.Generator, mix: dict[str, float], n: int) -> np.ndarray:
    codes = list(mix)
    p = np.array([mix[c] for c in codes], dtype=float)
    return np.array(codes, dtype=object)[rng.choice(len(codes), size=n, p=p / p.sum())]


def _offset(rng, lon, lat, sigma_m, n):
    dy = rng.normal(0, sigma_m, n)
    dx = rng.normal(0, sigma_m, n)
    return lon + dx / (M_PER_DEG_LAT * np.cos(np.radians(lat))), lat + dy / M_PER_DEG_LAT


def _local_times(rng, n, *, end_local_day: dt.date, days: int, pattern: str, tz_offsets: np.ndarray) -> np.ndarray:
    """Occurrence instants (UTC, int64 seconds) for ``pattern`` over the last ``days`` days."""
    day = rng.integers(0, days, n)  # 0 = oldest day
    start_day = np.datetime64(end_local_day - dt.timedelta(days=days - 1))
    dates = start_day + day.astype("timedelta64[D]")
    weekday = (dates.astype("datetime64[D]").view("int64") - 4) % 7  # 1970-01-01 was a Thursday -> Monday=0
    cdf = np.cumsum(_hour_weights(pattern), axis=1)
    cdf /= cdf[:, -1:]
    hour = (cdf[weekday] < rng.random(n)[:, None]).sum(axis=1)
    seconds = rng.integers(0, 3600, n)
    local = dates.astype("datetime64[s]").view("int64") + hour * 3600 + seconds
    return local - tz_offsets[day]


def generate(n: int, *, lookups: Lookups, now: dt.datetime, days: int = 364, seed: int = 7) -> dict[str, np.ndarray]:
    """``n`` synthetic reports as column arrays (times as int64 UTC seconds, positions in degrees)."""
    from zoneinfo import ZoneInfo

    rng = np.random.default_rng(seed)
    stockholm = ZoneInfo("Europe/Stockholm")
    end_day = now.astimezone(stockholm).date()
    tz_offsets = np.array([
        int(dt.datetime.combine(end_day - dt.timedelta(days=days - 1 - i), dt.time(12), stockholm)
            .utcoffset().total_seconds()) for i in range(days)])

    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("lon", "lat", "t", "cat", "place", "kind")}

    def add(lon, lat, t, cat, place, kind):
        for key, value in zip(parts, (lon, lat, t, cat, place, kind)):
            parts[key].append(value)

    counts = {h.name: int(n * h.share) for h in HOTSPOTS}
    n_fire = int(n * 0.12)
    n_background = n - sum(counts.values()) - n_fire
    for h in HOTSPOTS:
        k = counts[h.name]
        lon, lat = _offset(rng, h.lon, h.lat, h.sigma_m, k)
        t = _local_times(rng, k, end_local_day=end_day, days=days, pattern=h.pattern, tz_offsets=tz_offsets)
        add(lon, lat, t, _sample_categories(rng, h.categories, k), np.full(k, h.name, dtype=object),
            np.full(k, "", dtype=object))
    # Container fires: parents in a few neighbourhoods, offspring at the same spot within days.
    n_parents = max(1, n_fire // 4)
    area = rng.integers(0, len(FIRE_AREAS), n_parents)
    centres = np.array(FIRE_AREAS)[area]
    plon, plat = _offset(rng, centres[:, 0], centres[:, 1], 350, n_parents)
    pt = _local_times(rng, n_parents, end_local_day=end_day, days=days, pattern="weekend_night",
                      tz_offsets=tz_offsets)
    parent = rng.integers(0, n_parents, n_fire - n_parents)
    olon, olat = _offset(rng, plon[parent], plat[parent], 60, len(parent))
    ot = pt[parent] + (rng.exponential(2.0, len(parent)) * 86400).astype(np.int64)
    fire_cats = _sample_categories(rng, {"brand_container": .8, "brand_fordon": .2}, n_fire)
    add(np.concatenate([plon, olon]), np.concatenate([plat, olat]), np.concatenate([pt, ot]), fire_cats,
        np.full(n_fire, None, dtype=object), np.full(n_fire, "raddningstjanst", dtype=object))
    # Diffuse background over the town.
    lon = rng.uniform(CORE_BOX[0], CORE_BOX[2], n_background)
    lat = rng.uniform(CORE_BOX[1], CORE_BOX[3], n_background)
    t = _local_times(rng, n_background, end_local_day=end_day, days=days, pattern="day", tz_offsets=tz_offsets)
    add(lon, lat, t, _sample_categories(rng, BACKGROUND_CATEGORIES, n_background),
        np.full(n_background, None, dtype=object), np.full(n_background, "", dtype=object))

    cols = {k: np.concatenate(v) for k, v in parts.items()}
    # Anything that fell outside the municipality moves to a random point in the town.
    outside = ~shapely.contains_xy(Polygon(BOUNDARY), cols["lon"], cols["lat"])
    cols["lon"][outside] = rng.uniform(CORE_BOX[0], CORE_BOX[2], outside.sum())
    cols["lat"][outside] = rng.uniform(CORE_BOX[1], CORE_BOX[3], outside.sum())

    now_s = int(now.timestamp()) - 60
    start = np.minimum(cols["t"], now_s - 3600)
    window = np.zeros(n, dtype=np.int64)
    found_later = np.isin(cols["cat"], list(FOUND_AFTERWARDS)) & (rng.random(n) < 0.4)
    window[found_later] = rng.integers(6 * 3600, 14 * 3600, found_later.sum())
    short = ~found_later & (rng.random(n) < 0.08)
    window[short] = rng.integers(15 * 60, 3 * 3600, short.sum())
    end = np.minimum(start + window, now_s)
    reported = np.minimum(end + rng.exponential(2 * 3600, n).astype(np.int64), now_s)

    kind = cols["kind"]
    others = kind == ""
    kinds, shares = zip(*REPORTER_MIX)
    kind[others] = np.array(kinds, dtype=object)[rng.choice(len(kinds), size=others.sum(), p=shares)]
    status = np.where(rng.random(n) < 0.88, "verified", np.where(rng.random(n) < 0.7, "new", "rejected"))
    status = np.where((kind == "medborgare") & (rng.random(n) < 0.5), "new", status).astype(object)
    return {"lon": cols["lon"], "lat": cols["lat"], "from": start, "to": end, "reported": reported,
            "category": cols["cat"], "place": cols["place"], "kind": kind, "status": status,
            "description_pick": rng.integers(0, 1 << 30, n)}


def _ewkb_hex(lon: np.ndarray, lat: np.ndarray) -> list[str]:
    """Points as hex EWKB with SRID 4326 (what COPY into a geometry column accepts), vectorised."""
    rec = np.empty(len(lon), dtype=[("bo", "u1"), ("type", "<u4"), ("srid", "<u4"), ("x", "<f8"), ("y", "<f8")])
    rec["bo"], rec["type"], rec["srid"], rec["x"], rec["y"] = 1, 0x20000001, 4326, lon, lat
    text = binascii.hexlify(rec.tobytes()).decode()
    return [text[i:i + 50] for i in range(0, len(text), 50)]


def _timestamps(seconds: np.ndarray) -> list[str]:
    return [s + "+00" for s in np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s").tolist()]


def copy_rows(conn, data: dict[str, np.ndarray], *, lookups: Lookups, chunk: int = 50_000,
              progress: Callable[[int], None] | None = None) -> int:
    """Write generated reports with COPY (text format) in chunks; returns the number of rows.

    Runs in the caller's transaction; the caller commits."""
    n = len(data["lon"])
    run = uuid.uuid4().hex[:8]
    cat_ids = np.vectorize(lookups.category_ids.__getitem__, otypes=[object])(data["category"])
    org_ids = np.vectorize(lambda k: lookups.organisation_ids.get(k), otypes=[object])(data["kind"])
    user_ids = np.vectorize(lambda k: lookups.user_ids.get(k), otypes=[object])(data["kind"])
    descriptions = np.array([DESCRIPTIONS[c][p % len(DESCRIPTIONS[c])]
                             for c, p in zip(data["category"], data["description_pick"])], dtype=object)
    is_fire = data["kind"] == "raddningstjanst"
    source = np.where(is_fire, "integration:raddningstjanst",
                      np.where(data["kind"] == "medborgare", "public", "web")).astype(object)
    sql = f"COPY report ({', '.join(COLUMNS)}) FROM STDIN"
    muni = str(lookups.municipality_id)
    with conn.cursor() as cur, cur.copy(sql) as copy:
        for lo in range(0, n, chunk):
            hi = min(n, lo + chunk)
            sl = slice(lo, hi)
            cells = h3_cells_vectorised(data["lat"][sl], data["lon"][sl])
            ext = [f"RT-{run}-{i}" if f else "\\N" for i, f in zip(range(lo, hi), is_fire[sl])]
            columns = [
                [muni] * (hi - lo), [str(v) for v in cat_ids[sl]], _timestamps(data["from"][sl]),
                _timestamps(data["to"][sl]), _timestamps(data["reported"][sl]),
                _ewkb_hex(data["lon"][sl], data["lat"][sl]),
                *(cells[r].astype(str).tolist() for r in H3_RESOLUTIONS),
                descriptions[sl].tolist(), ["\\N" if p is None else p for p in data["place"][sl]],
                ["\\N" if u is None else str(u) for u in user_ids[sl]],
                ["\\N" if o is None else str(o) for o in org_ids[sl]],
                source[sl].tolist(), ext, data["status"][sl].tolist(),
            ]
            copy.write("\n".join(map("\t".join, zip(*columns))) + "\n")
            if progress:
                progress(hi - lo)
    return n
