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
