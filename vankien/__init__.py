"""The `vankien` command line: the entry layer above the library (`rag`), the service and the evaluation toolkit."""
