"""The Văn Kiện HTTP service: a thin FastAPI layer over `rag`'s public API.

Import `service.app.create_app` for the application; `service.keys` (API keys) imports only the standard
library so that `vankien keys ...` works without the web stack installed.
"""
