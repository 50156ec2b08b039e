"""Evaluation toolkit: dataset loaders (BEIR, QA, MCQ), pure metrics, runners, reports and the regression gate.

`eval` uses only the public modules of `rag` (`rag.types`, `rag.errors`, `rag.text.normalize`); the part that
builds an index and answers questions is reached through `eval.engine`.
"""
