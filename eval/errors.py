"""Errors for evaluation inputs: they name the file, the line and the field, in English and in Vietnamese."""

from __future__ import annotations

from pathlib import Path

from rag.errors import InvalidRequest


class EvalInputError(InvalidRequest):
    """An evaluation input file (data set, configuration, result) is missing or malformed.

    Args:
        reason: English description of the problem, for logs.
        path: the file at fault.
        line: 1-based line number, when the problem sits on one line.
        field: the field (JSON key, TSV column, TOML key) at fault.
        user_reason: the problem in Vietnamese, shown to the evaluator.
    """

    default_user_message = "Tệp dữ liệu đánh giá không hợp lệ."

    def __init__(
        self,
        reason: str,
        *,
        path: str | Path,
        line: int | None = None,
        field: str | None = None,
        user_reason: str | None = None,
    ) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        self.reason = reason
        where = self.path + (f":{line}" if line is not None else "")
        what = f" field {field!r}:" if field else ""
        where_vi = f"Tệp {self.path}" + (f", dòng {line}" if line is not None else "")
        what_vi = f", trường «{field}»" if field else ""
        super().__init__(f"{where}:{what} {reason}", f"{where_vi}{what_vi}: {user_reason or reason}")


class DatasetError(EvalInputError):
    """A data set file (BEIR corpus/queries/qrels, QA jsonl, MCQ json, published run) is missing or malformed."""

    default_user_message = "Tệp dữ liệu đánh giá không hợp lệ."


class ConfigError(EvalInputError):
    """A run configuration file (TOML) is missing, malformed, or has unknown keys or bad values."""

    default_user_message = "Tệp cấu hình đánh giá không hợp lệ."


class ResultFileError(EvalInputError):
    """A result JSON given to `compare` is missing or not an evaluation result."""

    default_user_message = "Tệp kết quả đánh giá không hợp lệ."
