"""Development harnesses run by the tests and by hand (`python -m tools.NAME`): the malformed-file corpus and its
ingest check, the kill-and-restart campaign, the mixed load run, the sample-corpus builders and the QA-set checks.

Not part of the service; nothing under `rag`, `service` or `eval` imports from here.
"""
