"""Column layouts: the staged steps of a session, and the release's Parquet (one row per step).

The release Parquet carries Hugging Face ``datasets`` feature metadata, so ``load_dataset("parquet", ...)`` decodes
``image`` as an ``Image`` feature ({bytes, path}) with no loading script.
"""

from __future__ import annotations

import json

import pyarrow as pa

_STEP_FIELDS = [
    pa.field("task_id", pa.string()),
    pa.field("participant", pa.string()),
    pa.field("session", pa.string()),
    pa.field("episode", pa.int32()),
    pa.field("step", pa.int32()),
    pa.field("action", pa.string()),
    pa.field("code", pa.string()),
    pa.field("x", pa.float64()),
    pa.field("y", pa.float64()),
    pa.field("text", pa.string()),
    pa.field("app", pa.string()),
    pa.field("title", pa.string()),
    pa.field("t_ns", pa.int64()),
    pa.field("t_end_ns", pa.int64()),
    pa.field("screen_w", pa.int32()),
    pa.field("screen_h", pa.int32()),
]
STAGED_SCHEMA = pa.schema(
    [*_STEP_FIELDS, pa.field("image_bytes", pa.binary()), pa.field("image_ext", pa.string()),
     pa.field("digest", pa.string())]
)  # fmt: skip
IMAGE_TYPE = pa.struct([pa.field("bytes", pa.binary()), pa.field("path", pa.string())])

_HF_DTYPES = {"string": "string", "int32": "int32", "int64": "int64", "double": "float64"}


def _hf_features() -> dict[str, object]:
    feats: dict[str, object] = {f.name: {"dtype": _HF_DTYPES[str(f.type)], "_type": "Value"} for f in _STEP_FIELDS}
    feats["image"] = {"_type": "Image"}
    return feats


RELEASE_SCHEMA = pa.schema(
    [*_STEP_FIELDS, pa.field("image", IMAGE_TYPE)],
    metadata={"huggingface": json.dumps({"info": {"features": _hf_features()}})},
)
STEP_COLUMNS = [f.name for f in _STEP_FIELDS]

__all__ = ["IMAGE_TYPE", "RELEASE_SCHEMA", "STAGED_SCHEMA", "STEP_COLUMNS"]
