"""Synthetic EST reports with believable structure, bulk-loaded with COPY.

What the generator plants (so that the situation picture has something real to find):
- persistent hotspots: the town square (weekend nights), the railway station (evenings),
  a school yard (after school on weekdays), each a Gaussian blob of 80-250 m;
- clusters of container fires with near-repeat offspring (same spot, within days),
  pushed by the rescue service's integration;
- a diffuse background over the town;
- time windows for what is found after the fact (graffiti, vandalism, littering).

Everything is vectorised with NumPy; H3 cells come from the vectorised h3ronpy. Categorical
columns are carried as small integer codes (with the string arrays alongside for readers),
so that the loader can encode rows without a Python-level step per row.
"""
from __future__ import annotations

import datetime as dt
import itertools
import struct
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import Polygon

from app.bulkcopy import (COPY_HEADER, COPY_TRAILER, EWKB_POINT, NULL_FIELD, PG_EPOCH_S, UUID, fixed_rows,
                          row_dtype, uuid7)
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
# The vocabularies behind the integer codes of the categorical columns.
CATEGORY_CODES = tuple(DESCRIPTIONS)
PLACES = (None, *(h.name for h in HOTSPOTS))
KINDS = (*(k for k, _ in REPORTER_MIX), "raddningstjanst")
STATUS_VALUES = ("verified", "new", "rejected")


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
    """``n`` categories drawn from ``mix``, as indices into CATEGORY_CODES."""
    codes = np.array([CATEGORY_CODES.index(c) for c in mix])
    p = np.array(list(mix.values()), dtype=float)
    return codes[rng.choice(len(codes), size=n, p=p / p.sum())]


def _offset(rng, lon, lat, sigma_m, n):
    dy = rng.normal(0, sigma_m, n)
    dx = rng.normal(0, sigma_m, n)
    return lon + dx / (M_PER_DEG_LAT * np.cos(np.radians(lat))), lat + dy / M_PER_DEG_LAT


def _hours(cdf: np.ndarray, weekday: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF draw of the hour of day: how many of the weekday's cumulative weights lie below ``u``.

    A search per weekday instead of comparing every draw with all 24 weights (an n x 24 matrix)."""
    hour = np.empty(len(u), dtype=np.int64)
    for day, day_cdf in enumerate(cdf):
        on_day = weekday == day
        hour[on_day] = np.searchsorted(day_cdf, u[on_day], side="left")
    return hour


def _local_times(rng, n, *, end_local_day: dt.date, days: int, pattern: str, tz_offsets: np.ndarray) -> np.ndarray:
    """Occurrence instants (UTC, int64 seconds) for ``pattern`` over the last ``days`` days."""
    day = rng.integers(0, days, n)  # 0 = oldest day
    start_day = np.datetime64(end_local_day - dt.timedelta(days=days - 1))
    dates = start_day + day.astype("timedelta64[D]")
    weekday = (dates.astype("datetime64[D]").view("int64") - 4) % 7  # 1970-01-01 was a Thursday -> Monday=0
    cdf = np.cumsum(_hour_weights(pattern), axis=1)
    cdf /= cdf[:, -1:]
    hour = _hours(cdf, weekday, rng.random(n))
    seconds = rng.integers(0, 3600, n)
    local = dates.astype("datetime64[s]").view("int64") + hour * 3600 + seconds
    return local - tz_offsets[day]


def generate(n: int, *, lookups: Lookups, now: dt.datetime, days: int = 364, seed: int = 7) -> dict[str, np.ndarray]:
    """``n`` synthetic reports as column arrays (times as int64 UTC seconds, positions in degrees).

    The categorical columns come twice: as strings (``category``, ``place``, ``kind``, ``status``)
    and as ``<name>_code`` indices into CATEGORY_CODES, PLACES, KINDS and STATUS_VALUES."""
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
    others = -1  # kind code of reports whose reporting organisation is drawn below
    for h in HOTSPOTS:
        k = counts[h.name]
        lon, lat = _offset(rng, h.lon, h.lat, h.sigma_m, k)
        t = _local_times(rng, k, end_local_day=end_day, days=days, pattern=h.pattern, tz_offsets=tz_offsets)
        add(lon, lat, t, _sample_categories(rng, h.categories, k), np.full(k, PLACES.index(h.name)),
            np.full(k, others))
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
        np.zeros(n_fire, dtype=np.int64), np.full(n_fire, KINDS.index("raddningstjanst")))
    # Diffuse background over the town.
    lon = rng.uniform(CORE_BOX[0], CORE_BOX[2], n_background)
    lat = rng.uniform(CORE_BOX[1], CORE_BOX[3], n_background)
    t = _local_times(rng, n_background, end_local_day=end_day, days=days, pattern="day", tz_offsets=tz_offsets)
    add(lon, lat, t, _sample_categories(rng, BACKGROUND_CATEGORIES, n_background),
        np.zeros(n_background, dtype=np.int64), np.full(n_background, others))

    cols = {k: np.concatenate(v) for k, v in parts.items()}
    # Anything that fell outside the municipality moves to a random point in the town.
    outside = ~shapely.contains_xy(Polygon(BOUNDARY), cols["lon"], cols["lat"])
    cols["lon"][outside] = rng.uniform(CORE_BOX[0], CORE_BOX[2], outside.sum())
    cols["lat"][outside] = rng.uniform(CORE_BOX[1], CORE_BOX[3], outside.sum())

    now_s = int(now.timestamp()) - 60
    start = np.minimum(cols["t"], now_s - 3600)
    window = np.zeros(n, dtype=np.int64)
    found_later = np.isin(cols["cat"], [CATEGORY_CODES.index(c) for c in FOUND_AFTERWARDS]) & (rng.random(n) < 0.4)
    window[found_later] = rng.integers(6 * 3600, 14 * 3600, found_later.sum())
    short = ~found_later & (rng.random(n) < 0.08)
    window[short] = rng.integers(15 * 60, 3 * 3600, short.sum())
    end = np.minimum(start + window, now_s)
    reported = np.minimum(end + rng.exponential(2 * 3600, n).astype(np.int64), now_s)

    kind = cols["kind"]
    drawn = kind == others
    kind[drawn] = rng.choice(len(REPORTER_MIX), size=drawn.sum(), p=[share for _, share in REPORTER_MIX])
    verified, new, rejected = map(STATUS_VALUES.index, ("verified", "new", "rejected"))
    status = np.where(rng.random(n) < 0.88, verified, np.where(rng.random(n) < 0.7, new, rejected))
    status = np.where((kind == KINDS.index("medborgare")) & (rng.random(n) < 0.5), new, status)
    codes = {"category": cols["cat"], "place": cols["place"], "kind": kind, "status": status}
    vocabularies = {"category": CATEGORY_CODES, "place": PLACES, "kind": KINDS, "status": STATUS_VALUES}
    return {"lon": cols["lon"], "lat": cols["lat"], "from": start, "to": end, "reported": reported,
            **{name: np.array(vocabularies[name], dtype=object)[code] for name, code in codes.items()},
            **{f"{name}_code": code for name, code in codes.items()},
            "description_pick": rng.integers(0, 1 << 30, n)}


# Columns whose binary form has the same size in every row, in COPY order...
FIXED_COLUMNS = {
    "id": UUID, "municipality_id": np.dtype(">i4"), "category_id": np.dtype(">i4"),
    "occurred_from": np.dtype(">i8"), "occurred_to": np.dtype(">i8"), "reported_at": np.dtype(">i8"),
    "geom": EWKB_POINT, **{f"h3_r{r}": np.dtype(">i8") for r in H3_RESOLUTIONS},
}
# ...then the categorical ones, whose encodings come from a table, and the external id.
TAIL_COLUMNS = ("description", "place_name", "reporter_id", "organisation_id", "source", "status")
COLUMNS = (*FIXED_COLUMNS, *TAIL_COLUMNS, "external_id")
# The fixed part of a row: field count, then each fixed column with its size in front.
ROW_DTYPE = row_dtype(FIXED_COLUMNS)
SOURCES = {"raddningstjanst": "integration:raddningstjanst", "medborgare": "public"}  # all others: "web"
FIRE = KINDS.index("raddningstjanst")


def _field(value: str | int | None) -> bytes:
    """One binary COPY field with its size in front: NULL, an int4, or UTF-8 text."""
    if value is None:
        return NULL_FIELD
    if isinstance(value, int):
        return struct.pack(">ii", 4, value)
    data = value.encode()
    return struct.pack(">i", len(data)) + data


def _tail_table(lookups: Lookups) -> tuple[np.ndarray, np.ndarray]:
    """Every possible encoded tail (TAIL_COLUMNS) of a row, zero-padded to one width, and its size.

    Indexed by the combined code of description, place, reporting kind and status: the tails
    come from a few thousand combinations, so encoding them once beats encoding 1M rows."""
    descriptions = [_field(d) for c in CATEGORY_CODES for d in DESCRIPTIONS[c]]
    kinds = [_field(lookups.user_ids.get(k)) + _field(lookups.organisation_ids.get(k))
             + _field(SOURCES.get(k, "web")) for k in KINDS]
    encoded = [b"".join(parts) for parts in itertools.product(
        descriptions, map(_field, PLACES), kinds, map(_field, STATUS_VALUES))]
    sizes = np.array([len(e) for e in encoded])
    width = int(sizes.max())
    table = np.frombuffer(b"".join(e.ljust(width, b"\0") for e in encoded), np.uint8).reshape(-1, width)
    return table, sizes


def _external_ids(positions: np.ndarray, fire: np.ndarray, run: str) -> tuple[np.ndarray, np.ndarray]:
    """external_id fields: 'RT-<run>-<position>' for the rescue service's rows, NULL for the rest.

    Returns a byte matrix (one row per report, digits right-aligned) and the mask of the
    bytes that belong to the field, so that no per-row string is built."""
    prefix = np.frombuffer(f"RT-{run}-".encode(), np.uint8)
    width = len(str(int(positions.max())))
    powers = 10 ** np.arange(width - 1, -1, -1)
    digits = (positions[:, None] // powers % 10 + ord("0")).astype(np.uint8)
    n_digits = np.maximum((positions[:, None] >= powers[::-1]).sum(axis=1), 1)
    size = np.where(fire, len(prefix) + n_digits, -1).astype(">i4").view(np.uint8).reshape(-1, 4)
    matrix = np.hstack([size, np.broadcast_to(prefix, (len(positions), len(prefix))), digits])
    keep = np.hstack([np.ones_like(size, dtype=bool), np.repeat(fire[:, None], len(prefix), axis=1),
                      fire[:, None] & (np.arange(width) >= width - n_digits[:, None])])
    return matrix, keep


class BinaryRows:
    """Generated reports as binary COPY data, in the order of their UUIDv7 ids, a chunk at a time.

    Binary input spares the server parsing text (timestamps, hex EWKB, numbers), and building
    each chunk as one NumPy byte matrix spares the client a Python step per row and field."""

    ROW_TEMPLATE = fixed_rows(FIXED_COLUMNS, 1, field_count=len(COLUMNS))

    def __init__(self, data: dict[str, np.ndarray], lookups: Lookups, rng: np.random.Generator | None = None):
        rng = rng or np.random.default_rng()
        self.data = data
        self.n = len(data["lon"])
        # Ids are stamped with the report time, so id order is arrival order, as in a live table.
        self.ids = uuid7(data["reported"] * 1000 + rng.integers(0, 1000, self.n), rng)
        self.order = np.argsort(self.ids[:, 0], kind="stable")  # the high half: time and 12 random bits
        self.municipality_id = lookups.municipality_id
        self.category_ids = np.array([lookups.category_ids[c] for c in CATEGORY_CODES])
        counts = np.array([len(DESCRIPTIONS[c]) for c in CATEGORY_CODES])
        self.description_counts, self.description_offsets = counts, np.cumsum(counts) - counts
        self.tails, self.tail_sizes = _tail_table(lookups)
        self.run = uuid.uuid4().hex[:8]

    def chunk(self, lo: int, hi: int) -> np.ndarray:
        """Rows ``lo``-``hi`` (in id order) as one flat uint8 buffer of binary COPY tuples."""
        rows = self.order[lo:hi]
        fixed = self._fixed(rows)
        tails, tail_keep = self._tails(rows)
        ext, ext_keep = _external_ids(np.arange(lo, hi), self.data["kind_code"][rows] == FIRE, self.run)
        matrix = np.hstack([fixed.view(np.uint8).reshape(len(rows), -1), tails, ext])
        keep = np.hstack([np.ones((len(rows), ROW_DTYPE.itemsize), dtype=bool), tail_keep, ext_keep])
        return matrix[keep]

    def _fixed(self, rows: np.ndarray) -> np.ndarray:
        """The fixed-width part of the rows, including their H3 cells."""
        d = self.data
        rec = np.repeat(self.ROW_TEMPLATE, len(rows))
        rec["id"] = self.ids[rows]
        rec["municipality_id"] = self.municipality_id
        rec["category_id"] = self.category_ids[d["category_code"][rows]]
        for column, key in (("occurred_from", "from"), ("occurred_to", "to"), ("reported_at", "reported")):
            rec[column] = (d[key][rows] - PG_EPOCH_S) * 1_000_000
        lon, lat = d["lon"][rows], d["lat"][rows]
        rec["geom"]["x"], rec["geom"]["y"] = lon, lat
        for res, cells in h3_cells_vectorised(lat, lon).items():
            rec[f"h3_r{res}"] = cells
        return rec

    def _tails(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The categorical part of the rows, looked up in the tail table, and its byte mask."""
        d = self.data
        category = d["category_code"][rows]
        pick = d["description_pick"][rows] % self.description_counts[category]
        combo = np.ravel_multi_index(
            (self.description_offsets[category] + pick, d["place_code"][rows], d["kind_code"][rows],
             d["status_code"][rows]),
            (self.description_counts.sum(), len(PLACES), len(KINDS), len(STATUS_VALUES)))
        return self.tails[combo], np.arange(self.tails.shape[1]) < self.tail_sizes[combo][:, None]


def _encoded(rows: BinaryRows, chunk: int) -> Iterator[tuple[int, np.ndarray]]:
    """(row count, COPY data) chunk by chunk, each encoded in a worker thread while the one
    before is being sent, so that client and server work side by side.

    At most two chunks are ahead of the sender, which keeps memory flat and the progress
    bar honest (it counts rows handed to the server, not rows encoded)."""
    bounds = [(lo, min(rows.n, lo + chunk)) for lo in range(0, rows.n, chunk)]
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="copy-encode") as pool:
        ahead = deque(pool.submit(rows.chunk, lo, hi) for lo, hi in bounds[:2])
        for i, (lo, hi) in enumerate(bounds):
            encoded = ahead.popleft().result()
            if i + 2 < len(bounds):
                ahead.append(pool.submit(rows.chunk, *bounds[i + 2]))
            yield hi - lo, encoded


def copy_rows(conn, data: dict[str, np.ndarray], *, lookups: Lookups, chunk: int = 50_000,
              progress: Callable[[int], None] | None = None) -> int:
    """Write generated reports with binary COPY in chunks; returns the number of rows.

    Runs in the caller's transaction; the caller commits."""
    rows = BinaryRows(data, lookups)
    sql = f"COPY report ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)"
    with conn.cursor() as cur, cur.copy(sql) as copy:
        copy.write(COPY_HEADER)
        for count, encoded in _encoded(rows, chunk):
            copy.write(memoryview(encoded))
            if progress:
                progress(count)
        copy.write(COPY_TRAILER)
    return rows.n
