"""Run configurations: the pipeline's own TOML format (`rag.PipelineConfig`), so a sweep is a list of files and
`vankien serve --config X.toml` answers with exactly the pipeline `vankien eval ... --config X.toml` measured.

See `rag.pipeline.config` for the keys. `RunConfig` is the same class under the name the evaluation code has
always used.
"""

from __future__ import annotations

from rag import VALID_KEYS, PipelineConfig, config_from_mapping, load_config

RunConfig = PipelineConfig

__all__ = ["VALID_KEYS", "RunConfig", "config_from_mapping", "load_config"]
