"""The server image has what the app needs at run time, as `make run` has it from scripts/os-deps.sh."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _apt_packages(dockerfile: str) -> set[str]:
    """Every package named in the Dockerfile's `apt-get install` commands."""
    joined = dockerfile.replace("\\\n", " ")
    packages: set[str] = set()
    for command in re.findall(r"apt-get install ([^&\n]+)", joined):
        packages.update(word for word in command.split() if not word.startswith("-"))
    return packages


def test_the_server_image_installs_what_weasyprint_needs_for_the_pdfs():
    """Without Pango the meeting report and the lägesbild PDF fail in the image while `make run` works."""
    os_deps = (ROOT / "scripts/os-deps.sh").read_text()
    weasyprint_line = next(line for line in os_deps.splitlines() if "install libpango" in line)
    needed = set(weasyprint_line.split("install", 1)[1].split())
    assert {"libpango-1.0-0", "fonts-dejavu-core"} <= needed
    missing = needed - _apt_packages((ROOT / "Dockerfile").read_text())
    assert not missing, f"Dockerfile does not install {sorted(missing)} (scripts/os-deps.sh does, for WeasyPrint)"


def test_behind_the_hosts_https_proxy_the_links_say_https_and_the_client_address_is_not_the_clients_pick():
    """docker-compose publishes the port on the host's loopback only and lets uvicorn take the
    scheme from the proxy's X-Forwarded-Proto (otherwise GDAL and QGIS follow http:// links and
    send the reading key in clear text), trusting the project's own network only: the client's
    address is then the entry the proxy appended, not one the client wrote (rate limits)."""
    from uvicorn.middleware.proxy_headers import _TrustedHosts

    compose = (ROOT / "docker-compose.yml").read_text()
    assert re.search(r'^\s+- "127\.0\.0\.1:8000:8000"$', compose, re.M)
    trusted = re.search(r'^\s+FORWARDED_ALLOW_IPS: "([^"]+)"$', compose, re.M).group(1)
    subnet = re.search(r"^\s+- subnet: (\S+)", compose, re.M).group(1)
    assert trusted == subnet
    assert "--proxy-headers" in (ROOT / "Dockerfile").read_text()
    proxy = _TrustedHosts(trusted)
    gateway = subnet.split("/")[0].rsplit(".", 1)[0] + ".1"
    assert gateway in proxy and "203.0.113.9" not in proxy
    assert proxy.get_trusted_client_address("6.6.6.6, 203.0.113.9")[0] == "203.0.113.9"  # not the spoofed one


def test_the_links_follow_the_scheme_the_request_came_in_with(client, auth):
    """What --proxy-headers sets (the scheme and host of the request) is what the links are made of."""
    base = "https://lagesbild.example.se"
    page = client.get(f"{base}/ogc/collections/reports/items", params={"limit": 1}, headers=auth("gis")).json()
    landing = client.get(f"{base}/ogc", headers=auth("gis")).json()
    discovery = client.get(f"{base}/open311/v2/discovery.json").json()
    hrefs = [link["href"] for link in page["links"] + landing["links"]] + [e["url"] for e in discovery["endpoints"]]
    assert len(hrefs) > 5 and all(h.startswith(f"{base}/") for h in hrefs), hrefs


def test_with_allowed_hosts_set_another_host_gets_400_and_links_are_never_made_of_it(monkeypatch):
    from fastapi.testclient import TestClient

    from app.config import get_settings
    from app.main import create_app

    monkeypatch.setenv("LAGESBILD_ALLOWED_HOSTS", "Lagesbild.example.se.:8443, *.eskilstuna.se, ::1")
    get_settings.cache_clear()
    try:
        app = create_app()
    finally:
        monkeypatch.delenv("LAGESBILD_ALLOWED_HOSTS")
        get_settings.cache_clear()
    with TestClient(app) as client:
        for host in ("lagesbild.example.se", "LAGESBILD.example.se:8443", "karta.eskilstuna.se"):
            r = client.get(f"http://{host}/open311/v2/discovery.json")
            assert r.status_code == 200 and r.json()["endpoints"][0]["url"].startswith(f"http://{host.lower()}/"), host
        evil = client.get("http://evil.example/open311/v2/discovery.json")
        assert evil.status_code == 400 and "evil.example" in evil.text and "http://evil.example/" not in evil.text
        assert client.get("http://evil.example/ogc").headers["content-type"] == "application/problem+json"
        assert client.get("http://eskilstuna.se.evil.example/ogc").status_code == 400
        assert client.get("http://10.0.0.5:8000/healthz").status_code == 200  # a monitor asks by address
        assert client.get("http://[::1]:8000/ogc").status_code != 400  # 401: allowed, but no key
        assert client.get("http://lagesbild.example.se./ogc").status_code != 400


def test_the_build_context_leaves_out_the_local_database_photos_and_secrets():
    """`docker build .` sends the context to the builder: `make run`'s PostGIS (.local) and the
    stored photos (var/) must not travel with it."""
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".local", "var", ".venv", ".git", "**/node_modules"} <= ignored
