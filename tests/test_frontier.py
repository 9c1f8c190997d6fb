"""The utility-security frontier table from runs.csv and security.csv."""

from __future__ import annotations

import csv

import pytest

from experiments import frontier


def write(path, rows, fields):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def run(ds, model, t, augment, acc, variant=""):
    return {"experiment": "quick", "dataset": ds, "model": model, "transform": t, "augment": augment,
            "variant": variant, "test_acc": acc}


def sec(section, ds, t, setting, metric, value):
    return {"section": section, "dataset": ds, "transform": t, "setting": setting, "metric": metric, "value": value}


@pytest.fixture
def results(tmp_path):
    runs = [run("mnist", "vit", "none", "-", 0.98), run("mnist", "vit", "none", "-", 0.96),
            run("mnist", "vit", "blockwise", "before", 0.97), run("mnist", "vit", "blockwise", "after", 0.90),
            run("mnist", "resnet", "rvt-authors", "before", 0.988),
            run("mnist", "resnet", "rvt-authors", "before", 0.5, variant="generated:28x28:1:2")]  # not the default key
    write(tmp_path / "runs.csv", runs, list(runs[0]))
    rows = [sec("visual", "mnist", "rvt-authors", "", "ssim", 0.58),
            sec("known_plaintext", "mnist", "rvt-authors", "true_key", "ssim", 0.90),
            sec("known_plaintext", "mnist", "rvt-authors", "k=1", "ssim_guess", 0.5),
            sec("known_plaintext", "mnist", "rvt-authors", "k=5", "ssim_guess", 0.895),  # >= 0.99 x 0.90
            sec("known_plaintext", "mnist", "rvt-authors", "k=10", "ssim_guess", 0.9),
            sec("ciphertext_only", "mnist", "rvt-authors", "generic", "ssim", 0.4),
            sec("ciphertext_only", "mnist", "rvt-authors", "local prior 0.1", "ssim", 0.85),
            sec("visual", "mnist", "blockwise", "", "ssim", 0.1),
            sec("ciphertext_only", "mnist", "blockwise", "generic", "ssim", 0.3),
            sec("block_attacks", "mnist", "blockwise B=7", "keys", "ssim_statistics", 0.95),
            sec("block_attacks", "mnist", "blockwise B=7", "keys", "ssim_jigsaw", 0.2),
            sec("block_attacks", "mnist", "blockwise B=7", "keys", "pairs_to_break_max", 5),
            sec("visual", "mnist", "permutation", "", "ssim", 0.01),
            sec("known_plaintext", "mnist", "permutation", "true_key", "ssim", 1.0),
            sec("known_plaintext", "mnist", "permutation", "k=100", "ssim_guess", 0.9)]
    write(tmp_path / "security.csv", rows, list(rows[0]))
    return tmp_path


def test_frontier_table(results):
    assert frontier.main(["--results", str(results)]) == 0
    lines = (results / "frontier.md").read_text().splitlines()
    row = {tuple(c.strip() for c in line.split("|")[1:3]): [c.strip() for c in line.split("|")[3:-1]]
           for line in lines if line.startswith("| MNIST")}
    # ResNet before/after, ViT before/after, cipher SSIM, best ciphertext-only SSIM, pairs to break
    assert row[("MNIST", "none")][2:4] == ["97.00 (n=2)", "97.00 (n=2)"]  # plain: one cell for both orders
    assert row[("MNIST", "blockwise")] == ["-", "-", "97.00", "90.00", "0.100", "0.950", "5"]
    assert row[("MNIST", "rvt-authors")] == ["98.80", "-", "-", "-", "0.580", "0.850", "5"]
    assert row[("MNIST", "permutation")][-1] == "> 100"
    assert (results / "frontier.png").is_file()


def test_missing_inputs_are_one_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="run `make table` and `make security` first"):
        frontier.main(["--results", str(tmp_path)])
