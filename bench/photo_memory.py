"""Peak memory of decoding one uploaded photo: the pipeline before the fix (full-size load,
orientation, RGB, then shrink) against app.reports.images.clean_image (JPEG draft, full-size
limits, shrink before copies).

    .venv/bin/python bench/photo_memory.py [--runs 3]
    .venv/bin/python bench/photo_memory.py --server http://127.0.0.1:8000 --pid PID [--parallel 10]

No database needed. Each decode runs in a fresh process; its peak RSS growth (VmHWM of
/proc/self/status after the decode minus before it, the photo's bytes already read) is what one
upload adds to a server process. Prints the medians, the size libjpeg/Pillow decoded to, and the machine.

With --server (a `make run` server in demo mode, on this machine, its uvicorn's PID): the same
photos sent ``--parallel`` at once as the demo reporter, each to a new report, while the server's
RSS is sampled every 20 ms; prints the answers, the RSS before and the peak.
"""
from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import describe  # noqa: E402


def _photo(width: int, height: int) -> Image.Image:
    """A gradient with noise: compresses like a photo (a 48 MP one to ~9 MB at quality 85)."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // width, y * 255 // height, (x + y) * 255 // (width + height)], -1).astype(np.int16)
    rgb += np.random.default_rng(1).integers(-6, 7, size=rgb.shape, dtype=np.int16)
    return Image.fromarray(rgb.clip(0, 255).astype(np.uint8), "RGB")


def make_cases(folder: Path) -> dict[str, Path]:
    """The photos measured: the review's PNG bomb, phone-sized JPEGs, and the largest full-size decodes allowed."""
    cases = {
        "png-bomb-6300x6300-rgba": lambda p: Image.new("RGBA", (6300, 6300)).save(p, format="PNG"),
        "jpeg-48mp-8000x6000": lambda p: _photo(8000, 6000).save(p, format="JPEG", quality=85),
        "jpeg-12mp-4032x3024": lambda p: _photo(4032, 3024).save(p, format="JPEG", quality=85),
        "png-16mp-4000x4000-rgba": lambda p: Image.new("RGBA", (4000, 4000)).save(p, format="PNG"),
        "progressive-jpeg-16mp-444": lambda p: Image.new("RGB", (4000, 4000)).save(
            p, format="JPEG", progressive=True, subsampling=0),
        "webp-8mp-3264x2448": lambda p: Image.new("RGB", (3264, 2448)).save(p, format="WEBP", lossless=True),
    }
    paths = {}
    for name, write in cases.items():
        paths[name] = folder / name
        write(paths[name])
    return paths


def before(raw: bytes) -> None:
    """The pipeline as it was at 4e9e2ae: everything at full size."""
    with Image.open(io.BytesIO(raw)) as img:
        img.load()
        img = ImageOps.exif_transpose(img)
        img = img.convert("RGB")
        img.thumbnail((2560, 2560))
        img.save(io.BytesIO(), format="JPEG", quality=85, optimize=True)


def after(raw: bytes) -> None:
    """The service's pipeline with the default settings."""
    from app.config import Settings
    from app.reports.images import Decoders, clean_image

    s = Settings()
    clean_image(raw, max_bytes=s.attachment_max_bytes, max_pixels=s.attachment_max_pixels,
                max_full_pixels=s.attachment_max_full_pixels, max_side=s.attachment_max_side,
                decoders=Decoders(size=s.attachment_decoders, wait_seconds=s.attachment_decode_wait_seconds))


def _peak_rss_kb() -> int:
    """This process's peak resident set (kB). Not getrusage: its maxrss survives exec, so a child
    would start at its parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def measure_one(path: Path, pipeline: str) -> dict:
    """In this (fresh) process: peak RSS growth (MB) of one decode, and the size decoded to."""
    decoded: list[str] = []
    load = ImageFile.ImageFile.load

    def spy(self):
        decoded.append(f"{self.size[0]}x{self.size[1]} {self.mode}")
        return load(self)
    ImageFile.ImageFile.load = spy
    if pipeline == "after":
        import app.reports.images  # noqa: F401  (imported before the baseline: it sets JPEGMEM)
    raw = path.read_bytes()
    start = _peak_rss_kb()
    outcome = "stored"
    try:
        {"before": before, "after": after}[pipeline](raw)
    except Exception as exc:  # a refusal (413) is the outcome being measured
        outcome = f"refused: {type(exc).__name__} {getattr(exc, 'status', '')}".strip()
    peak = _peak_rss_kb()
    return {"mb": (peak - start) / 1024, "decoded": decoded[0] if decoded else "-", "outcome": outcome}


def against_server(url: str, pid: int, parallel: int) -> None:
    """Send each case ``parallel`` times at once; the server's RSS before, at its peak and after."""
    import threading
    import time

    import httpx

    def rss_mb() -> int:
        status = Path(f"/proc/{pid}/status").read_text()
        return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]) // 1024

    token = httpx.post(f"{url}/api/v1/auth/token", data={"username": "reporter", "password": "demo"}).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    with tempfile.TemporaryDirectory() as folder:
        for name, path in make_cases(Path(folder)).items():
            data, answers, samples, done = path.read_bytes(), [], [rss_mb()], threading.Event()

            def upload() -> None:
                report = httpx.post(f"{url}/api/v1/reports", headers=headers,
                                    json={"category": "klotter", "lat": 59.3712, "lon": 16.5098}).json()
                answers.append(httpx.post(f"{url}/api/v1/reports/{report['id']}/attachments", headers=headers,
                                          files={"file": (name, data, "image/jpeg")}, timeout=120).status_code)

            def sample() -> None:
                while not done.wait(0.02):
                    samples.append(rss_mb())
            sampler = threading.Thread(target=sample)
            sampler.start()
            senders = [threading.Thread(target=upload) for _ in range(parallel)]
            for sender in senders:
                sender.start()
            for sender in senders:
                sender.join()
            done.set()
            sampler.join()
            time.sleep(1)
            print(f"{name}: {parallel} at once, answers {sorted(answers)}; server RSS {samples[0]} MB before, "
                  f"peak {max(samples)} MB (+{max(samples) - samples[0]}), {rss_mb()} MB after")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--server", help="a running server's URL (see above)")
    parser.add_argument("--pid", type=int, help="its uvicorn process")
    parser.add_argument("--parallel", type=int, default=10)
    parser.add_argument("--one", nargs=2, metavar=("FILE", "PIPELINE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_one(Path(args.one[0]), args.one[1])))
        return
    print(f"machine: {describe()}")
    if args.server:
        against_server(args.server.rstrip("/"), args.pid, args.parallel)
        return
    with tempfile.TemporaryDirectory() as folder:
        for name, path in make_cases(Path(folder)).items():
            print(f"\n{name} ({path.stat().st_size / 1e6:.2f} MB file)")
            for pipeline in ("before", "after"):
                runs = [json.loads(subprocess.run([sys.executable, __file__, "--one", str(path), pipeline],
                                                  check=True, capture_output=True, text=True).stdout)
                        for _ in range(args.runs)]
                mb = statistics.median(r["mb"] for r in runs)
                each = ", ".join(f"{r['mb']:.0f}" for r in runs)
                print(f"  {pipeline:6}  peak RSS +{mb:6.0f} MB  decoded {runs[0]['decoded']:>18}  {runs[0]['outcome']}"
                      f"  (runs: {each})")


if __name__ == "__main__":
    main()
