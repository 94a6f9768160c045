"""The demo data: what `make run` shows must look like a real town's EST picture."""
import datetime as dt

import h3
import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon
from sqlalchemy import func, select, text

from app.config import Settings
from app.reports.models import Report
from app.reports.taxonomy import CATEGORIES
from seeds import demo
from seeds.loader import lookups
from seeds.synthetic import HOTSPOTS, Lookups, copy_rows, generate

NOW = dt.datetime(2026, 11, 21, 12, tzinfo=dt.UTC)
FAKE = Lookups(municipality_id=1, category_ids={c[0]: i for i, c in enumerate(CATEGORIES)},
               organisation_ids={k: i for i, (_, k) in enumerate(demo.ORGANISATIONS)})


def test_generated_reports_have_believable_structure():
    data = generate(20_000, lookups=FAKE, now=NOW, days=364)
    n = len(data["lon"])
    assert n == 20_000
    assert shapely.contains_xy(Polygon(demo.BOUNDARY), data["lon"], data["lat"]).all()
    assert (data["from"] <= data["to"]).all() and (data["to"] <= data["reported"]).all()
    assert data["reported"].max() <= NOW.timestamp()
    windows = data["to"] - data["from"]
    assert 0.05 < (windows > 3600).mean() < 0.4  # some things are found after the fact
    # The town square is a real hotspot: its res-9 cell holds far more than an average cell.
    square = h3.latlng_to_cell(HOTSPOTS[0].lat, HOTSPOTS[0].lon, 9)
    cells = [h3.latlng_to_cell(la, lo, 9) for la, lo in zip(data["lat"], data["lon"])]
    counts = {c: cells.count(c) for c in set(cells)}
    assert counts[square] > 10 * np.median(list(counts.values()))
    # Weekend nights at the square (Fri/Sat 20-24, Sat/Sun 0-4: 16 of 168 hours a week)
    # happen at least twice as often as an even spread would give.
    at_square = np.array([c == square for c in cells])
    local = (data["from"][at_square] + 3600).astype("datetime64[s]")
    hours = local.astype("datetime64[h]").astype(int) % 24
    weekday = (local.astype("datetime64[D]").astype(int) - 4) % 7
    weekend_night = ((weekday >= 4) & (hours >= 20)) | ((weekday >= 5) & (hours < 4))
    assert weekend_night.mean() > 2 * 16 / 168
    assert set(np.unique(data["category"])) <= set(FAKE.category_ids)


def test_copy_loads_rows_with_h3_cells(engine):
    with engine.connect() as conn:
        session_ids = None
        from sqlalchemy.orm import Session
        with Session(bind=conn) as session:
            muni_id = session.execute(text("SELECT id FROM municipality WHERE code = '0484'")).scalar_one()
            session_ids = lookups(session, muni_id)
        data = generate(2_000, lookups=session_ids, now=NOW, days=28, seed=3)
        raw = conn.connection.driver_connection
        before = conn.scalar(select(func.count()).select_from(Report))
        copy_rows(raw, data, lookups=session_ids)
        assert conn.scalar(select(func.count()).select_from(Report)) == before + 2_000
        row = conn.execute(select(func.ST_Y(Report.geom), func.ST_X(Report.geom), Report.h3_r9, Report.h3_r7)
                           .order_by(Report.created_at.desc()).limit(1)).one()
        assert row.h3_r9 == h3.str_to_int(h3.latlng_to_cell(row[0], row[1], 9))
        assert row.h3_r7 == h3.str_to_int(h3.latlng_to_cell(row[0], row[1], 7))
        raw.rollback()


def test_demo_logins_are_refused_in_production(monkeypatch, db):
    monkeypatch.setattr("seeds.demo.get_settings", lambda: Settings(env="production", secret_key="s" * 40))
    with pytest.raises(RuntimeError, match="refused outside demo mode"):
        demo.load_demo_base(db)


def test_production_refuses_the_default_secret():
    with pytest.raises(ValueError, match="LAGESBILD_SECRET_KEY"):
        Settings(env="production")
