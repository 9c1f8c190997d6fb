"""Readable progress when stdout is not a terminal: plain lines, no carriage returns, for train.py and the
long `rvt` commands; a bar only on a terminal."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rvt.progress import LineProgress, progress_bar
from rvt.training.progress import LineProgress as TrainingLines
from rvt.training.progress import progress_setup

ROOT = Path(__file__).resolve().parents[1]


def test_line_progress_prints_plain_lines():
    out = io.StringIO()
    with LineProgress(100, unit="img", desc="encrypt", every_s=0, stream=out) as bar:
        for _ in range(4):
            bar.update(25)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("encrypt: 25/100 img (25 %)") and lines[-1].startswith("encrypt: 100/100 img (100 %)")
    assert len(lines) == 5 and "\r" not in out.getvalue()


def test_short_work_prints_nothing_and_a_pipe_gets_no_bar():
    out = io.StringIO()  # not a terminal
    with progress_bar(10, unit="img", desc="info", every_s=3600, stream=out) as bar:
        bar.update(10)
    assert isinstance(bar, LineProgress) and out.getvalue() == ""


@pytest.mark.parametrize("mode, terminal, allowed, bar, lines", [
    ("auto", True, True, True, False), ("auto", False, True, False, True), ("auto", True, False, False, True),
    ("bar", False, True, True, False), ("lines", True, True, False, True), ("none", False, True, False, False)])
def test_progress_modes(mode, terminal, allowed, bar, lines):
    got_bar, callbacks = progress_setup(mode, allowed, terminal=terminal)
    assert got_bar == bar and any(isinstance(c, TrainingLines) for c in callbacks) == lines


def test_rvt_info_in_a_pipe_prints_progress_lines(tmp_path, mnist_test):
    images = tmp_path / "x.npy"
    np.save(images, mnist_test[0][:600])
    env = dict(os.environ, RVT_PROGRESS_EVERY_S="0")
    p = subprocess.run([sys.executable, "-m", "rvt", "info", str(images), "--transform", "random"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    lines = [line for line in p.stderr.splitlines() if line.startswith("info: ")]
    assert lines and lines[-1].startswith("info: 600/600 img (100 %)") and "\r" not in p.stderr


@pytest.mark.slow
def test_training_log_lines_without_a_terminal(tmp_path, data_dir, caplog):
    from rvt.training import run as train_script
    from training_helpers import make_cfg, tiny

    cfg = make_cfg(tiny(data_dir) + ["trainer.max_epochs=2", "progress=auto", "progress_every_s=0.001"], tmp_path)
    with caplog.at_level(logging.INFO, logger="train"):
        train_script.train(cfg)  # pytest captures stdout: not a terminal
    text = "\n".join(r.getMessage() for r in caplog.records if r.name == "train")
    assert "epoch 1/2 | batch 1/2 | step 1 | loss " in text and "img/s" in text
    assert "epoch 2/2 done | train loss " in text and "val acc 0." in text and "\r" not in text
