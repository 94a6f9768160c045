"""Settings fail closed: an installation started without LAGESBILD_ENV is production and needs
its own secret; dev/demo/test sign with a random key kept per checkout, never a published one."""
from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from app import config
from app.config import Settings, checkout_secret
from tests.live import ROOT, free_port

OLD_DEV_SECRET = "dev-only-secret-change-me-0123456789abcdef"  # published with the source until 2026-11


def without_lagesbild_env() -> dict[str, str]:
    """The environment of an operator who set nothing but the database."""
    return {k: v for k, v in os.environ.items() if not k.startswith("LAGESBILD_")}


def test_without_lagesbild_env_the_settings_are_production_and_want_a_secret(monkeypatch):
    for name in ("LAGESBILD_ENV", "LAGESBILD_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="LAGESBILD_SECRET_KEY must be set") as refused:
        Settings()
    assert "LAGESBILD_ENV is 'production' (also when it is not set" in str(refused.value)
    configured = Settings(secret_key="k" * 40)
    assert configured.env == "production" and not configured.demo_mode


def test_uvicorn_without_lagesbild_env_refuses_to_start():
    """`uvicorn app.main:app` on a server where nobody set LAGESBILD_ENV: no published secret to forge tokens with."""
    proc = subprocess.run([sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(free_port())],
                          cwd=ROOT, env=without_lagesbild_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "LAGESBILD_SECRET_KEY must be set" in proc.stderr


def test_the_published_dev_secret_is_refused_everywhere():
    for env in ("production", "dev", "test"):
        with pytest.raises(ValueError, match="published with the source code"):
            Settings(env=env, secret_key=OLD_DEV_SECRET)


def test_dev_demo_and_test_sign_with_a_random_key_kept_in_the_checkout(monkeypatch, tmp_path):
    monkeypatch.delenv("LAGESBILD_SECRET_KEY", raising=False)
    kept = tmp_path / ".local" / "secret_key"
    monkeypatch.setattr(config, "SECRET_FILE", kept)
    dev = Settings(env="dev").secret_key
    assert len(dev) >= 32 and dev != OLD_DEV_SECRET
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600 and kept.read_text().strip() == dev
    # a restart of `make run`, and the tests' own servers, sign with the same key
    assert Settings(env="demo").secret_key == Settings(env="test").secret_key == dev
    assert Settings(env="dev", secret_key="s" * 40).secret_key == "s" * 40  # LAGESBILD_SECRET_KEY wins
    other_checkout = tmp_path / "other" / "secret_key"
    assert checkout_secret(other_checkout) != dev


def test_workers_starting_at_once_agree_on_the_key(tmp_path):
    """uvicorn --workers 4 on a fresh checkout: each process makes the key or reads the one made first."""
    kept = tmp_path / "secret_key"
    code = ("import sys; from pathlib import Path; from app.config import checkout_secret; "
            "print(checkout_secret(Path(sys.argv[1])))")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(kept)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
             for _ in range(4)]
    keys = {proc.communicate(timeout=60)[0].strip() for proc in procs}
    assert keys == {kept.read_text().strip()} and len(kept.read_text().strip()) == 64
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]  # no half-made files left behind


def test_a_damaged_key_file_is_a_message_not_a_short_key(tmp_path):
    kept = tmp_path / "secret_key"
    kept.write_text("short\n")
    with pytest.raises(ValueError, match="does not hold a signing key"):
        checkout_secret(kept)
