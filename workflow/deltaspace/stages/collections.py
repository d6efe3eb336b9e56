"""Collections (codes or CLIP features of a dataset or of the fakes): the manifest, written last once every
shard is checked (io/shards.py)."""

from __future__ import annotations

from pathlib import Path

from ..cli import stage
from ..io.shards import write_manifest


@stage("collection-manifest")
def collection_manifest(*, folder: Path, shards: list, rows: int, info: dict | None = None) -> dict:
    """Check a collection's shards and write its manifest.json (last, atomically)."""
    manifest = write_manifest(folder, [Path(s) for s in shards], expected_rows=rows, info=info)
    return {"folder": str(folder), "rows": manifest["rows"], "shards": len(manifest["shards"])}
