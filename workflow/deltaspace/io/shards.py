"""Parquet shards with a manifest: the storage of every code and feature table.

A collection (codes of a dataset, CLIP features, ...) is a folder of shards `part-00000.parquet`, each
holding a fixed number of rows (the last one fewer), plus `manifest.json` written last. Vectors are
FixedSizeList<float32> columns and come back as (rows, dim) numpy arrays without a copy.

Each shard is written to a hidden temp file and renamed into place, so a killed job leaves no file
that looks like a finished shard; the manifest is written only once every shard is present and
checked, so a collection without a manifest is incomplete by definition.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import DataError
from .atomic import atomic_path, write_text_atomic

MANIFEST = "manifest.json"


def shard_name(part: int) -> str:
    return f"part-{part:05d}.parquet"


def shard_count(rows: int, rows_per_shard: int) -> int:
    return max(1, math.ceil(rows / rows_per_shard))


def shard_range(part: int, rows: int, rows_per_shard: int) -> range:
    """Row indices (global) that shard `part` holds."""
    start = part * rows_per_shard
    if part < 0 or start >= max(rows, 1):
        raise DataError(f"shard {part} is out of range for {rows} rows of {rows_per_shard} per shard")
    return range(start, min(rows, start + rows_per_shard))


def _is_bytes_column(values) -> bool:
    if isinstance(values, np.ndarray):
        return values.dtype == object and len(values) > 0 and isinstance(values[0], bytes)
    return isinstance(values, (list, tuple)) and len(values) > 0 and isinstance(values[0], bytes)


def _to_arrow(name: str, values) -> pa.Array:
    if isinstance(values, pa.Array):
        return values
    if _is_bytes_column(values):  # encoded images (PNG): variable-length binary, never via numpy "S" (strips NULs)
        return pa.array(list(values), type=pa.binary())
    arr = np.asarray(values)
    if arr.ndim == 2:
        flat = np.ascontiguousarray(arr, dtype=np.float32).reshape(-1)
        return pa.FixedSizeListArray.from_arrays(pa.array(flat, type=pa.float32()), arr.shape[1])
    if arr.ndim == 1:
        if arr.dtype.kind in "US" or arr.dtype == object:
            return pa.array([str(v) for v in arr], type=pa.string())
        return pa.array(arr)
    raise DataError(f"column {name!r}: expected a 1-d or 2-d array, got shape {arr.shape}")


def write_shard(path: str | os.PathLike, columns: Mapping[str, object], metadata: Mapping[str, str] | None = None) -> Path:
    """Write one shard atomically. 2-d arrays become FixedSizeList<float32> columns, bytes binary."""
    path = Path(path)
    arrays = {name: _to_arrow(name, values) for name, values in columns.items()}
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise DataError(f"{path}: columns of different lengths {lengths}")
    table = pa.table(arrays)
    if metadata:
        table = table.replace_schema_metadata({k: str(v) for k, v in metadata.items()})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return path


def table_to_numpy(table: pa.Table) -> dict[str, np.ndarray]:
    """Columns as numpy: FixedSizeList -> (rows, dim) view on the Arrow buffer when possible."""
    out = {}
    for name in table.column_names:
        col = table.column(name).combine_chunks()
        if pa.types.is_fixed_size_list(col.type):
            dim = col.type.list_size
            values = col.flatten().to_numpy(zero_copy_only=False)
            out[name] = values.reshape(-1, dim)
        else:
            out[name] = col.to_numpy(zero_copy_only=False)
    return out


def read_shard(path: str | os.PathLike, columns: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"shard {path} does not exist")
    try:
        table = pq.read_table(path, columns=list(columns) if columns else None)
    except Exception as exc:
        raise DataError(f"cannot read shard {path}: {exc}") from exc
    return table_to_numpy(table)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_manifest(folder: str | os.PathLike, shards: Sequence[str | os.PathLike], expected_rows: int | None = None,
                   info: Mapping[str, object] | None = None) -> dict:
    """Check the shards (readable, one schema, row counts) and write manifest.json last, atomically."""
    folder = Path(folder)
    entries, schema, total = [], None, 0
    for shard in shards:
        shard = Path(shard)
        try:
            meta = pq.read_metadata(shard)
            this_schema = pq.read_schema(shard).remove_metadata()
        except Exception as exc:
            raise DataError(f"cannot read shard {shard}: {exc}") from exc
        if schema is None:
            schema = this_schema
        elif not this_schema.equals(schema):
            raise DataError(f"shard {shard} has schema {this_schema} unlike the first shard's {schema}")
        entries.append({"file": shard.name, "rows": meta.num_rows, "sha256": _sha256(shard)})
        total += meta.num_rows
    if expected_rows is not None and total != expected_rows:
        raise DataError(f"{folder}: shards hold {total} rows, expected {expected_rows}")
    manifest = {
        "rows": total,
        "shards": entries,
        "schema": {f.name: str(f.type) for f in schema} if schema is not None else {},
        "info": dict(info or {}),
    }
    write_text_atomic(folder / MANIFEST, json.dumps(manifest, indent=2))
    return manifest


def collection_folder(path: str | os.PathLike) -> Path:
    """A collection's folder, given the folder or its manifest (the workflow passes the manifest, a job input)."""
    path = Path(path)
    return path.parent if path.name == MANIFEST else path


def read_manifest(folder: str | os.PathLike, verify: bool = False) -> dict:
    """Load a collection's manifest (given its folder or manifest path); `verify` re-checks every shard's checksum."""
    folder = collection_folder(folder)
    path = folder / MANIFEST
    if not path.is_file():
        raise DataError(f"{folder} has no {MANIFEST}: the collection is incomplete (rerun the workflow to finish it)")
    manifest = json.loads(path.read_text())
    if verify:
        for entry in manifest["shards"]:
            if _sha256(folder / entry["file"]) != entry["sha256"]:
                raise DataError(f"{folder / entry['file']} does not match its checksum in {path}")
    return manifest


def iter_collection(folder: str | os.PathLike, columns: Sequence[str] | None = None) -> Iterator[dict[str, np.ndarray]]:
    """Stream a collection (its folder or manifest path) shard by shard (memory bounded by one shard)."""
    folder = collection_folder(folder)
    for entry in read_manifest(folder)["shards"]:
        yield read_shard(folder / entry["file"], columns)


def read_collection(folder: str | os.PathLike, columns: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Load a whole (small) collection into memory."""
    parts = list(iter_collection(folder, columns))
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else {}
