"""`vankien serve`: check the configuration, then run the app with uvicorn."""

from __future__ import annotations

import logging
import resource
from typing import TYPE_CHECKING, Any

from service.keys import KeyStore
from service.settings import Settings
from service.state import check_startup

if TYPE_CHECKING:
    import uvicorn

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
    raise_open_files_limit()
    config = uvicorn_config(create_app(settings), settings, host=settings.host, port=settings.port, log_level=log_level)
    uvicorn.Server(config).run()


def uvicorn_config(app: Any, settings: Settings, **options: Any) -> uvicorn.Config:
    """uvicorn's configuration with the service's limits: header and body deadlines and a connection cap
    (`service.protocol`), and forwarded headers believed only from `settings.trusted_proxies`."""
    import uvicorn

    from service.protocol import guarded

    config = uvicorn.Config(
        app,
        http=guarded(settings.header_timeout_s, settings.body_timeout_s, settings.max_connections),
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies) or None,
        timeout_keep_alive=5,
        access_log=options.pop("access_log", True),
        **options,
    )
    install_log_filters()  # after uvicorn.Config, which (re)configures its loggers
    return config


class RedactQuery(logging.Filter):
    """Drops the query string from uvicorn's access log lines: it may hold a question, a search over restricted
    text, or a key someone put in the URL. The path stays (its route shows what was called)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0] + "?…", *args[3:])
        return True


def install_log_filters() -> None:
    """Add `RedactQuery` to uvicorn's access logger (once)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactQuery) for f in access.filters):
        access.addFilter(RedactQuery())


def raise_open_files_limit() -> None:
    """Raise the soft limit on open files to the hard one: each connection is a file descriptor, and the
    connection cap (`Settings.max_connections`) should be what limits them, not a default of 1,024."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard))
    except (ValueError, OSError) as exc:  # not allowed here: the cap still bounds connections
        logger.info("open files limit unchanged: %s", exc)
