"""The Alembic history matches the models (autogenerate with GeoAlchemy2's helpers finds nothing)."""
from alembic import command
from alembic.config import Config

from app.manage import ROOT


def test_models_and_migrations_agree(engine):
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["configure_logging"] = False
    command.check(cfg)  # raises if autogenerate would emit any operation
