"""The command line: `strided shape`, `strided summary`, `strided models`."""

from __future__ import annotations

import json
import math

import pytest

from strided.cli import main


@pytest.mark.parametrize("args, expected", [
    (["--input", "227", "--kernel", "11", "--stride", "4"], "55"),       # AlexNet conv1 (lecture 002)
    (["--input", "32", "--kernel", "5", "--padding", "2"], "32"),        # 'same' by hand
    (["--input", "7", "--kernel", "3", "--stride", "2", "--padding", "same"], str(math.ceil(7 / 2))),
    (["--input", "10", "--kernel", "3", "--dilation", "2", "--padding", "full"], str(10 + 2 * 2)),
    (["--input", "32x16", "--kernel", "5"], "28x12"),
])
def test_shape_prints_size_and_formula(args, expected, capsys):
    assert main(["shape"] + args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == expected
    assert lines[0].startswith("output = floor((W + P_lo + P_hi - d*(F - 1) - 1) / S) + 1 = floor((")


def test_shape_formula_filled_in(capsys):
    main(["shape", "--input", "227", "--kernel", "11", "--stride", "4"])
    assert "floor((227 + 0 + 0 - 1*(11 - 1) - 1) / 4) + 1 = 55" in capsys.readouterr().out


def test_shape_impossible_geometry_says_why(capsys):
    assert main(["shape", "--input", "3", "--kernel", "5"]) == 2
    err = capsys.readouterr().err
    assert "impossible geometry" in err and "kernel spans 5 pixels but the padded input has only 3" in err


def test_shape_rejects_unknown_padding(capsys):
    assert main(["shape", "--input", "8", "--kernel", "3", "--padding", "wide"]) == 2
    assert "unknown padding mode 'wide'" in capsys.readouterr().err


def test_summary_of_spec_as_json(capsys):
    assert main(["summary", "conv3-8 maxpool FC-10", "--input", "1x8x8", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["total"]["params"] == (9 + 1) * 8 + (8 * 4 * 4 + 1) * 10
    assert data["layers"][-1]["output_shape"] == [1, 10]


def test_summary_of_model_name_markdown(capsys):
    assert main(["summary", "lenet5", "--input", "1x32x32", "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert "| features.0 | Conv2d | 1x6x28x28 | 156 |" in out and "61,706" in out


def test_summary_unknown_model_suggests(capsys):
    assert main(["summary", "lenet", "--input", "1x32x32"]) == 2
    assert "did you mean 'lenet5'" in capsys.readouterr().err


def test_models_lists_lenet5(capsys):
    assert main(["models"]) == 0
    assert "lenet5" in capsys.readouterr().out.split()
