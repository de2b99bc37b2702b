"""A terminal people can read: the console carries stage lines, one progress bar per long stage, warnings a user
must act on and errors; details (third-party logs, progress bars of model and dataset loading, native-library
chatter, W&B banners) go to the run's log file. `verbose=true` restores everything on the console."""
from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import Iterator, Optional

OURS = ("synthesizrr",)
_state = {"verbose": False}


class ConsoleFilter(logging.Filter):
    """Our INFO lines and warnings (the ones a user acts on) and anyone's errors; third-party INFO and warnings
    (model-loading reports, library advice) stay in the log file."""

    def filter(self, record: logging.LogRecord) -> bool:
        ours = record.name.split(".")[0] in OURS
        if _state["verbose"]:
            return record.levelno >= logging.INFO or ours
        return record.levelno >= (logging.INFO if ours else logging.ERROR)


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        if record.levelno >= logging.ERROR:
            return f"error: {msg}"
        return f"warning: {msg}" if record.levelno >= logging.WARNING else msg


def setup(verbose: bool) -> None:
    """Quiet third-party progress bars and banners for this process (before they are imported where possible)."""
    _state["verbose"] = verbose
    logging.captureWarnings(True)
    if verbose:
        return
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("WANDB_SILENT", "true")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    with contextlib.suppress(ImportError):
        import datasets
        datasets.disable_progress_bars()
    with contextlib.suppress(ImportError):
        import transformers   # its records go to the root handlers (the log file), not its own stderr handler
        transformers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_info()
        transformers.utils.logging.disable_default_handler()
        transformers.utils.logging.enable_propagation()


def log_file() -> Optional[str]:
    """The run's log file (Hydra's file handler), if any."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            return handler.baseFilename
    return None


@contextlib.contextmanager
def native_output_to_log() -> Iterator[None]:
    """Send what native libraries print straight to the process's stderr (faiss' k-means warnings in MAUVE) to the
    run's log file instead. No-op with verbose=true or without a log file."""
    path = log_file()
    if _state["verbose"] or path is None:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(path, "ab") as fh:
            os.dup2(fh.fileno(), 2)
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def wandb_lines(store_dir: str | Path) -> list[str]:
    """Where offline W&B runs are and how to upload them."""
    runs = sorted(Path(store_dir).glob("wandb/offline-run-*"))
    if not runs:
        return []
    return [f"W&B: {len(runs)} offline run(s) in {Path(store_dir) / 'wandb'}; upload with: "
            f"wandb sync {Path(store_dir) / 'wandb'}/offline-run-*"]


def print_end(report_dir, store_dir) -> None:
    """The end of a run or sweep: where the results are, the table with its intervals, the W&B runs to sync."""
    from .report import summary_lines

    lines = summary_lines(report_dir) if report_dir and Path(report_dir).is_dir() else []
    lines += wandb_lines(store_dir)
    if lines:
        print("\n".join(["", *lines]), flush=True)
