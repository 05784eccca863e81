"""The intermediate store: the contract between the parse (stage 1) and the report modules.

`streams` names its files and routes envelope types to them, `writers` writes them atomically,
`reader` reads them for a module (subscription-checked), and `schemas/` describes every file.
"""

from .streams import INTERMEDIATE_FILES, JSONL_STREAMS, intermediate_dir, stream_for

__all__ = ["INTERMEDIATE_FILES", "JSONL_STREAMS", "intermediate_dir", "stream_for"]
