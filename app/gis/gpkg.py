"""GeoPackage exports: GDAL (through pyogrio) pulls the export's batches through an Arrow
stream into one open dataset, so only one batch is in memory at a time, several times faster
than opening the file again to append each batch. The Arrow arrays come from arro3-core, a
small Arrow library (already needed by h3ronpy), not pyarrow (~70 MB in every worker)."""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import shapely
from arro3.core import Array, DataType, Field as ArrowField, RecordBatch, RecordBatchReader, Schema
from pyogrio import raw

from app.gis.exports import Batch, Field

GPKG_VERSION = "1.3"  # 1.4 makes GDAL < 3.7 (QGIS on Debian 12) warn that the file may be partly unreadable
_TIMESTAMP = DataType.timestamp("ms", tz="UTC")
_TYPES = {"str": DataType.string(), "datetime": _TIMESTAMP, "int": DataType.int64(), "float": DataType.float64(),
          "bool": DataType.bool()}


def _schema(fields: Sequence[Field]) -> Schema:
    return Schema([ArrowField(f.name, _TYPES[f.kind], nullable=True) for f in fields]
                  + [ArrowField("geom", DataType.binary(), nullable=True)
                     .with_metadata({"ARROW:extension:name": "geoarrow.wkb"})])


def _column(field: Field, values: Any) -> Array:
    if field.kind == "datetime":  # epoch seconds, NaN for none
        epoch = np.asarray(values, dtype=np.float64)
        ms = np.round(np.nan_to_num(epoch) * 1000).astype(np.int64)
        if np.isnan(epoch).any():
            return Array([None if m else int(v) for v, m in zip(ms.tolist(), np.isnan(epoch).tolist())],
                         DataType.int64()).cast(_TIMESTAMP)
        return Array.from_numpy(ms).cast(_TIMESTAMP)
    if field.kind == "float":
        return Array([None if v is None or v != v else v for v in values], _TYPES["float"])
    return Array(list(values), _TYPES[field.kind])


def write_gpkg(batches: Iterable[Batch], path: str, *, fields: Sequence[Field], crs: str, layer: str,
               geometry_type: str) -> int:
    """Write the batches into a new GeoPackage at ``path``; returns the number of features.
    Times are written as UTC (the GeoPackage rule). No rows: an empty layer with the schema."""
    schema = _schema(fields)
    written = 0

    def record_batches() -> Iterator[RecordBatch]:
        nonlocal written
        for batch in batches:
            written += len(batch)
            yield RecordBatch.from_arrays([_column(f, batch.columns[f.name]) for f in fields]
                                          + [Array(shapely.to_wkb(batch.shapes()).tolist(), DataType.binary())],
                                          schema=schema)

    raw.write_arrow(RecordBatchReader.from_batches(schema, record_batches()), path, layer=layer, driver="GPKG",
                    geometry_name="geom", geometry_type=geometry_type, crs=crs,
                    dataset_options={"VERSION": GPKG_VERSION})
    return written
