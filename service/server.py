"""`vankien serve`: check the configuration, then run the app with uvicorn."""

from __future__ import annotations

import logging

from service.keys import KeyStore
from service.settings import Settings
from service.state import check_startup

logger = logging.getLogger(__name__)


def serve(settings: Settings, *, log_level: str = "info") -> None:
    """Serve the API and the chat page until interrupted.

    Raises:
        ServiceConfigError: `host` is not a loopback address and no API key is configured.
        ConfigError: the pipeline configuration is invalid.
    """
    import uvicorn

    from service.app import create_app

    settings.pipeline_config()  # a bad configuration stops here, before the server starts
    check_startup(settings, KeyStore(settings.keys_path))
    host, port = settings.host, settings.port
    uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level, access_log=True)
