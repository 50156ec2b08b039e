"""Errors for evaluation inputs: they name the file, the line and the field, in English and in Vietnamese."""

from __future__ import annotations

from rag import ConfigError, InputFileError

__all__ = ["ConfigError", "DatasetError", "EvalInputError", "ResultFileError"]


class EvalInputError(InputFileError):
    """An evaluation input file (data set, configuration, result) is missing or malformed."""

    default_user_message = "Tệp dữ liệu đánh giá không hợp lệ."


class DatasetError(EvalInputError):
    """A data set file (BEIR corpus/queries/qrels, QA jsonl, MCQ json, published run) is missing or malformed."""

    default_user_message = "Tệp dữ liệu đánh giá không hợp lệ."


class ResultFileError(EvalInputError):
    """A result JSON given to `compare` is missing or not an evaluation result."""

    default_user_message = "Tệp kết quả đánh giá không hợp lệ."
