"""The H3 side of the hotspot layer: neighbourhoods, hexagon outlines, the area's cells."""
from __future__ import annotations

import re
from functools import lru_cache

import h3
import h3ronpy
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from app.geo import H3_FINEST

DISK = 7  # a cell and its k=1 ring (Sweden has no pentagons)


def neighbour_rows(cells: np.ndarray) -> np.ndarray:
    """For sorted unique ``cells`` (int64 H3), the (n, 7) row indices of each cell's k=1 disk
    within ``cells``; -1 for a neighbour that is not in ``cells``."""
    cells = np.asarray(cells, dtype=np.int64)
    if cells.size == 0:
        return np.empty((0, DISK), dtype=np.int64)
    disks = np.asarray(h3ronpy.grid_disk(cells.astype(np.uint64), 1, flatten=True)).astype(np.int64)
    if disks.size != cells.size * DISK:  # a pentagon somewhere: fall back to one cell at a time
        return _neighbour_rows_slow(cells)
    disks = disks.reshape(-1, DISK)
    pos = np.searchsorted(cells, disks)
    pos_clipped = np.minimum(pos, cells.size - 1)
    return np.where(cells[pos_clipped] == disks, pos_clipped, -1)


def _neighbour_rows_slow(cells: np.ndarray) -> np.ndarray:
    index = {int(c): i for i, c in enumerate(cells)}
    out = np.full((cells.size, DISK), -1, dtype=np.int64)
    for i, c in enumerate(cells):
        for j, n in enumerate(h3.grid_disk(h3.int_to_str(int(c)), 1)):
            out[i, j] = index.get(h3.str_to_int(n), -1)
    return out


def disk_sizes_in(cells: np.ndarray, area: np.ndarray) -> np.ndarray:
    """How many cells of each cell's k=1 disk lie in ``area`` (sorted int64): the number of
    cells a neighbourhood really covers at the edge of the municipality."""
    cells = np.asarray(cells, dtype=np.int64)
    if cells.size == 0:
        return np.empty(0)
    disks = np.asarray(h3ronpy.grid_disk(cells.astype(np.uint64), 1, flatten=True)).astype(np.int64)
    if disks.size != cells.size * DISK:
        return np.full(cells.size, float(DISK))
    inside = np.isin(disks, area).reshape(-1, DISK)
    return np.maximum(inside.sum(axis=1), 1).astype(np.float64)


@lru_cache(maxsize=16)
def area_cells(boundary_wkb: bytes | str, res: int) -> np.ndarray:
    """Sorted int64 H3 cells of resolution ``res`` whose centres lie in the boundary (WKB or
    hex WKB, WGS84). Cached: a municipality's outline changes rarely and polyfill costs
    milliseconds."""
    geom: BaseGeometry = shapely.from_wkb(boundary_wkb)
    shape = h3.geo_to_h3shape(geom.__geo_interface__)
    cells = np.array([h3.str_to_int(c) for c in h3.h3shape_to_cells(shape, res)], dtype=np.int64)
    return np.sort(cells)


@lru_cache(maxsize=200_000)
def hexagon_ring(cell: int) -> tuple[tuple[float, float], ...]:
    """The cell's outline as a closed, counter-clockwise GeoJSON ring of (lon, lat), 7 decimals
    (~1 cm). Cached: outlines never change and a layer reuses the same cells every cycle."""
    latlng = h3.cell_to_boundary(h3.int_to_str(cell))
    ring = [(round(lng, 7), round(lat, 7)) for lat, lng in latlng]
    if _signed_area(ring) < 0:
        ring.reverse()
    ring.append(ring[0])
    return tuple(ring)


_HEX_INDEX = re.compile(r"[0-9a-f]{1,16}")


def cell_string(cell: int) -> str:
    """The H3 index as its usual hexadecimal string."""
    return h3.int_to_str(int(cell))


def parse_cell(value: str) -> int:
    """An H3 index string -> int; ValueError when it is not a valid cell."""
    text = value.strip().lower()
    # Hexadecimal digits only: h3 reads '-1' or a 20-digit string as a number and overflows.
    if not _HEX_INDEX.fullmatch(text) or not h3.is_valid_cell(text):
        raise ValueError(f"{value!r} is not an H3 cell index")
    return h3.str_to_int(text)


# The H3 index bits (h3geo.org/docs/core-library/h3Indexing): the resolution in bits 52-55, then
# 15 digits of 3 bits from bit 44 down, digits past the cell's resolution all 7 (binary 111).
RES_SHIFT = 52
RES_MASK = 0xF << RES_SHIFT


def finest_range(cell: int, res: int) -> tuple[int, int]:
    """The cell's descendants at resolution 10 as an inclusive range of H3 integers.

    A cell's children differ from it only in the digits past its resolution, which come
    after every bit they share, so its descendants at one resolution are contiguous: the
    range has them all and no other cell. One index on h3_r10 thereby finds any resolution."""
    if not 0 <= res <= H3_FINEST:
        raise ValueError(f"resolution {res} is not 0-{H3_FINEST}")
    at_finest = (cell & ~RES_MASK) | (H3_FINEST << RES_SHIFT)
    free = ((1 << 3 * (H3_FINEST - res)) - 1) << 3 * (15 - H3_FINEST)  # digits res+1..10
    return at_finest & ~free, at_finest


def _signed_area(ring: list[tuple[float, float]]) -> float:
    return sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1])) / 2.0
