"""Checking an events batch, all items at once: each item is accepted whole or rejected with
every reason found; one bad item never affects the others.

Per item: ``external_id`` (a non-empty string or an integer, unique within the batch),
``event_type`` mapped to a category for this integration, the time as ``occurred_at`` or
``occurred_from`` [``occurred_to``] (ISO 8601; without an offset it is Swedish local time;
not in the future), a point in WGS84 or SWEREF 99 TM inside the municipality, and an optional
``description``. Positions are transformed and tested against the boundary as arrays.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from app import geo
from app.integrations.parsing import RawBatch, quoted
from app.integrations.service import normalise_event_type
from app.reports import personal_data
from app.reports.schemas import DESCRIPTION_MAX_CHARS, is_unicode
from app.timeutil import stockholm_wall_to_utc_us

EXTERNAL_ID_MAX_CHARS = 200
EVENT_TYPE_MAX_CHARS = 100
UNIX_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
NAIVE_EPOCH = dt.datetime(1970, 1, 1)
ONE_US = dt.timedelta(microseconds=1)


@dataclass(frozen=True)
class Rules:
    """What an integration's events are checked against."""

    mapping: dict[str, int]  # normalised event type -> category id
    boundary: BaseGeometry  # the municipality, WGS84, prepared
    municipality_name: str
    default_crs: str  # normalised (app.geo); for items without their own crs and a batch without one
    now: dt.datetime
    skew_s: int
    mapping_route: str  # where the coordinator sets the mapping (for the rejection reason)


@dataclass(frozen=True)
class Events:
    """The accepted items, as columns in batch order. Times are microseconds since 1970 UTC."""

    index: np.ndarray
    external_id: list[str]
    event_type: list[str]
    category_id: np.ndarray
    occurred_from: np.ndarray
    occurred_to: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    description: list[str]

    def __len__(self) -> int:
        return len(self.index)


class _Problems(defaultdict):
    """Item index -> the reasons it is rejected."""

    def __init__(self) -> None:
        super().__init__(list)

    def add(self, i: int, reason: str) -> None:
        self[i].append(reason)


def validate(batch: RawBatch, *, rules: Rules) -> tuple[Events, dict[int, str]]:
    """(the accepted events, {index: reason} for the rejected ones)."""
    problems = _Problems()
    for i, problem in enumerate(batch.problems):
        if problem:
            problems.add(i, problem)
    cols = batch.columns
    external_ids = _external_ids(cols["external_id"], problems)
    event_types, category_ids = _event_types(cols["event_type"], rules, problems)
    starts, ends = _times(cols["occurred_at"], cols["occurred_from"], cols["occurred_to"], rules, problems)
    default_crs = geo.parse_crs(batch.crs, default=None) or rules.default_crs
    shaped = np.array([p is None for p in batch.problems], dtype=bool)
    lon, lat = _positions(cols["x"], cols["y"], cols["crs"], default_crs, shaped, rules, problems)
    descriptions = _descriptions(cols["description"], cols["confirm_personal_data"], problems)
    keep = np.ones(batch.n, dtype=bool)
    keep[list(problems)] = False
    index = np.flatnonzero(keep)
    events = Events(index=index, external_id=[external_ids[i] for i in index],
                    event_type=[event_types[i] for i in index], category_id=category_ids[index],
                    occurred_from=starts[index], occurred_to=ends[index], lon=lon[index], lat=lat[index],
                    description=[descriptions[i] for i in index])
    return events, {i: "; ".join(reasons) for i, reasons in sorted(problems.items())}


def _external_ids(values: tuple[Any, ...], problems: _Problems) -> list[str | None]:
    ids = [str(v) if type(v) is int else v for v in values]
    for i, v in enumerate(ids):
        if v is None or (type(v) is str and not v.strip()):
            problems.add(i, "external_id is missing: each event needs its own id in your system (a string)")
            ids[i] = None
        elif type(v) is not str:
            problems.add(i, f"external_id must be a string or an integer, not {_json_kind(v)}")
            ids[i] = None
        elif len(v) > EXTERNAL_ID_MAX_CHARS or not v.isprintable():
            problems.add(i, f"external_id must be at most {EXTERNAL_ID_MAX_CHARS} printable characters")
            ids[i] = None
    counts = Counter(ids)
    repeated = {v: n for v, n in counts.items() if n > 1 and v is not None}
    if repeated:
        for i, v in enumerate(ids):
            if v in repeated:
                problems.add(i, f"external_id {v!r} appears {repeated[v]} times in this batch; send each event "
                                "once per batch (none of them was applied)")
    return ids


def _json_kind(value: Any) -> str:
    """What a JSON value is, in the words of JSON ('a number with a fraction', 'true or false')."""
    if type(value) is bool:
        return "true or false"
    if type(value) is float:
        return "a number with a fraction (or an integer too large for 64 bits)"
    return {list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


_NOT_A_STRING = object()


def _judge_event_type(value: Any, rules: Rules) -> tuple[str | None, int, str | None]:
    """(the type as stored, its category id, why not) for one distinct value."""
    if value is None or (type(value) is str and not value.strip()):
        return None, 0, "event_type is missing: your system's type of event, e.g. 'Brand i container'"
    if type(value) is not str or len(value) > EVENT_TYPE_MAX_CHARS:
        return None, 0, f"event_type must be a string of at most {EVENT_TYPE_MAX_CHARS} characters"
    category = rules.mapping.get(normalise_event_type(value))
    if category is None:
        return None, 0, (f"event_type {value!r} is not mapped to a category for this integration; the "
                         f"coordinator maps event types at {rules.mapping_route}")
    return value.strip(), category, None


def _event_types(values: tuple[Any, ...], rules: Rules, problems: _Problems) -> tuple[list[str | None], np.ndarray]:
    """A batch has a handful of distinct types: each is judged once."""
    keys = [v if type(v) is str or v is None else _NOT_A_STRING for v in values]  # lists, dicts: unhashable
    judged: dict[Any, tuple] = {}
    for k in keys:
        if k not in judged:
            judged[k] = _judge_event_type(k, rules)
    verdicts = [judged[k] for k in keys]
    for i, (_, _, reason) in enumerate(verdicts):
        if reason:
            problems.add(i, reason)
    return [v[0] for v in verdicts], np.fromiter((v[1] for v in verdicts), dtype=np.int32, count=len(verdicts))


def _instant_us(value: Any) -> tuple[int, bool]:
    """An ISO 8601 time as (microseconds since 1970, whether it is Swedish wall-clock time,
    without an offset, still to be converted to UTC)."""
    try:
        when = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError("is not an ISO 8601 time such as 2026-11-21T22:15:00+01:00") from None
    if not 1970 <= when.year <= 2100:
        raise ValueError("is not between the years 1970 and 2100")
    if when.tzinfo is None:
        return (when - NAIVE_EPOCH) // ONE_US, True
    return (when - UNIX_EPOCH) // ONE_US, False


def _times(at: tuple, start: tuple, end: tuple, rules: Rules, problems: _Problems) -> tuple[np.ndarray, np.ndarray]:
    """Each item's window in UTC microseconds; times without an offset are converted from
    Swedish time all at once (:func:`app.timeutil.stockholm_wall_to_utc_us`)."""
    n = len(at)
    at_once = _instants_at_once(at) if start.count(None) == n and end.count(None) == n else None
    if at_once is not None:  # the usual batch: occurred_at only, in one of the usual shapes
        starts, local = at_once
        ends, local_ends = starts.copy(), local
        last_field = ["occurred_at"] * n
        ok = np.ones(n, dtype=bool)
    else:
        starts, local, ends, local_ends, last_field, ok = _times_one_by_one(at, start, end, problems)
    for values, is_local in ((starts, local), (ends, local_ends)):
        if is_local.any():
            values[is_local] = stockholm_wall_to_utc_us(values[is_local])
    latest = (rules.now + dt.timedelta(seconds=rules.skew_s) - UNIX_EPOCH) // ONE_US
    for i in np.flatnonzero(ok & (ends < starts)):
        problems.add(int(i), "occurred_to is before occurred_from")
    for i in np.flatnonzero(ok & (ends >= starts) & (ends > latest)):
        problems.add(int(i), f"{last_field[i]} is in the future")
    return starts, ends


def _times_one_by_one(at: tuple, start: tuple, end: tuple, problems: _Problems) -> tuple:
    """(starts, starts are local, ends, ends are local, the field each item's time came from
    last, which items have a time): any mix of fields and shapes, each item parsed alone."""
    n = len(at)
    parsed = [(0, False, 0, False)] * n  # (start, start is local, end, end is local)
    last_field = ["occurred_at"] * n
    ok = np.zeros(n, dtype=bool)
    for i, (a, s, e) in enumerate(zip(at, start, end)):
        if a is not None and (s is not None or e is not None):
            problems.add(i, "give occurred_at, or occurred_from/occurred_to, not both")
            continue
        if a is None and s is None:
            problems.add(i, "the time is missing: occurred_at, or occurred_from (and occurred_to for a window)")
            continue
        fields = (("occurred_at", a),) if a is not None else (("occurred_from", s), ("occurred_to", e or s))
        try:
            values = []
            for name, value in fields:
                last_field[i] = name
                values.extend(_instant_us(value))
        except ValueError as exc:
            problems.add(i, f"{last_field[i]} {value!r} {exc}")
            continue
        if a is not None:
            parsed[i] = (*values, *values)
        else:
            parsed[i] = tuple(values)
            last_field[i] = "occurred_to" if e is not None else "occurred_from"
        ok[i] = True
    cols = [np.array(c) for c in zip(*parsed)] if n else [np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)] * 2
    return (cols[0].astype(np.int64), cols[1].astype(bool), cols[2].astype(np.int64), cols[3].astype(bool),
            last_field, ok)


# The shapes nearly every system sends, read at once: 2026-11-20T22:15:00 (Swedish time),
# 2026-11-20T21:15:00Z, 2026-11-20T22:15:00+01:00. Anything else goes one by one (same results).
_DIGITS_19 = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
_SEPARATORS_19 = {4: "-", 7: "-", 10: "T", 13: ":", 16: ":"}
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def _instants_at_once(values: tuple) -> tuple[np.ndarray, np.ndarray] | None:
    """(microseconds since 1970, which are Swedish wall-clock times) when every value is a
    string in one of the usual shapes with a valid date and time between 1970 and 2100, as
    :func:`_instant_us` would read it; None otherwise (the batch is then read one by one, which
    also words the reasons)."""
    if not values or any(type(v) is not str for v in values):
        return None
    text = np.array(values)
    width = text.dtype.itemsize // 4
    if not 19 <= width <= 25:
        return None
    codes = text.view(np.uint32).reshape(len(values), width).astype(np.int64)
    lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    if not np.array_equal(lengths, np.count_nonzero(codes, axis=1)):  # a NUL inside (NumPy drops trailing ones)
        return None
    shape_ok = np.all((codes[:, _DIGITS_19] >= 48) & (codes[:, _DIGITS_19] <= 57), axis=1)
    for col, sep in _SEPARATORS_19.items():
        shape_ok &= codes[:, col] == ord(sep)
    local = lengths == 19
    zulu = (lengths == 20) & (codes[:, 19] == ord("Z")) if width >= 20 else np.zeros(len(values), dtype=bool)
    offset = np.zeros(len(values), dtype=np.int64)
    if width == 25:
        signed = (lengths == 25) & ((codes[:, 19] == ord("+")) | (codes[:, 19] == ord("-"))) & (codes[:, 22] == ord(":"))
        signed &= np.all((codes[:, [20, 21, 23, 24]] >= 48) & (codes[:, [20, 21, 23, 24]] <= 57), axis=1)
        d = codes[:, [20, 21, 23, 24]] - 48
        hours, minutes = d[:, 0] * 10 + d[:, 1], d[:, 2] * 10 + d[:, 3]
        signed &= (hours <= 23) & (minutes <= 59)
        offset = np.where(signed, np.where(codes[:, 19] == ord("-"), -1, 1) * (hours * 60 + minutes) * 60_000_000, 0)
    else:
        signed = np.zeros(len(values), dtype=bool)
    if not np.all(shape_ok & (local | zulu | signed)):
        return None
    d = codes[:, _DIGITS_19] - 48
    year = d[:, 0] * 1000 + d[:, 1] * 100 + d[:, 2] * 10 + d[:, 3]
    month, day = d[:, 4] * 10 + d[:, 5], d[:, 6] * 10 + d[:, 7]
    hour, minute, second = d[:, 8] * 10 + d[:, 9], d[:, 10] * 10 + d[:, 11], d[:, 12] * 10 + d[:, 13]
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_ok = (month >= 1) & (month <= 12)
    days_in_month = _DAYS_IN_MONTH[np.where(month_ok, month, 0)] + (leap & (month == 2))
    if not np.all((year >= 1970) & (year <= 2100) & month_ok & (day >= 1) & (day <= days_in_month)
                  & (hour <= 23) & (minute <= 59) & (second <= 59)):
        return None
    dates = ((year - 1970).astype("datetime64[Y]").astype("datetime64[M]") + (month - 1).astype("timedelta64[M]")
             ).astype("datetime64[D]") + (day - 1).astype("timedelta64[D]")
    us = dates.astype(np.int64) * 86_400_000_000 + ((hour * 60 + minute) * 60 + second) * 1_000_000 - offset
    return us, local


def _positions(xs: tuple, ys: tuple, crss: tuple, default_crs: str, shaped: np.ndarray, rules: Rules,
               problems: _Problems) -> tuple[np.ndarray, np.ndarray]:
    """(lon, lat) in WGS84 for every item (NaN where rejected). ``shaped``: items whose point
    could be read at all (the others already have their reason)."""
    n = len(xs)
    # Numbers only (JSON true/false are not coordinates); anything else becomes NaN.
    x = np.array([v if type(v) is float or type(v) is int else np.nan for v in xs], dtype=np.float64)
    y = np.array([v if type(v) is float or type(v) is int else np.nan for v in ys], dtype=np.float64)
    names = {c: _crs_or_none(c) for c in {c for c in crss if type(c) is str}}  # lists, dicts: unhashable
    sweref = np.zeros(n, dtype=bool)
    for i, c in enumerate(crss):
        crs = default_crs if c is None else names.get(c) if type(c) is str else None
        if crs is None:
            problems.add(i, f"crs {quoted(c)} is not supported; use EPSG:4326 (WGS84) or EPSG:3006 (SWEREF 99 TM)")
            shaped[i] = False
        sweref[i] = crs == geo.SWEREF99TM
    numbers = np.isfinite(x) & np.isfinite(y) & shaped
    for i in np.flatnonzero(~numbers & shaped):
        problems.add(int(i), "the position must be two numbers: [x, y]")
    in_sweref = (geo.SWEREF_E[0] <= x) & (x <= geo.SWEREF_E[1]) & (geo.SWEREF_N[0] <= y) & (y <= geo.SWEREF_N[1])
    in_wgs84 = (-180 <= x) & (x <= 180) & (-90 <= y) & (y <= 90)
    for i in np.flatnonzero(numbers & sweref & ~in_sweref):
        problems.add(int(i), f"x={x[i]}, y={y[i]} is outside SWEREF 99 TM's area (Sweden): x is the easting "
                             "(about 200000-950000), y the northing (about 6100000-7700000)")
    for i in np.flatnonzero(numbers & ~sweref & ~in_wgs84):
        problems.add(int(i), f"[{x[i]}, {y[i]}] is out of range for WGS84 [lon, lat] (lon -180..180, lat -90..90); "
                             "for SWEREF 99 TM give crs EPSG:3006")
    lon, lat = x.copy(), y.copy()
    convert = numbers & sweref & in_sweref
    if convert.any():
        lon[convert], lat[convert] = geo.sweref_to_wgs84_arrays(x[convert], y[convert])
    placed = numbers & np.where(sweref, in_sweref, in_wgs84)
    inside = np.zeros(n, dtype=bool)
    inside[placed] = shapely.intersects_xy(rules.boundary, lon[placed], lat[placed])
    for i in np.flatnonzero(placed & ~inside):
        hint = ""
        if not sweref[i] and shapely.intersects_xy(rules.boundary, y[i], x[i]):
            hint = "; it looks like [lat, lon]: GeoJSON and x/y are [lon, lat]"
        problems.add(int(i), f"the point (lat {lat[i]:.6f}, lon {lon[i]:.6f}) is outside "
                             f"{rules.municipality_name}'s boundary{hint}")
    return lon, lat


def _crs_or_none(value: Any) -> str | None:
    if type(value) is not str:
        return None
    try:
        return geo.normalise_crs(value)
    except ValueError:
        return None


def _descriptions(values: tuple[Any, ...], confirmed: tuple[Any, ...], problems: _Problems) -> list[str]:
    out = ["" if v is None else v.strip() if type(v) is str else None for v in values]
    for i, text in enumerate(out):
        if text is None:
            problems.add(i, "description must be a string")
            out[i] = ""
        elif len(text) > DESCRIPTION_MAX_CHARS or "\x00" in text or not is_unicode(text):
            problems.add(i, f"description must be at most {DESCRIPTION_MAX_CHARS} characters of text, without NUL "
                            "or a lone surrogate (\\ud800-\\udfff)")
            out[i] = ""
    for i in sorted(personal_data.may_contain(out)):
        if (kinds := personal_data.personal_data_kinds(out[i])) and confirmed[i] is not True:
            problems.add(i, f"the description seems to contain {personal_data.describe(kinds)}; reports are read by "
                            "several organisations: remove it, or send the event with confirm_personal_data: true "
                            "if it must stay")
    return out
