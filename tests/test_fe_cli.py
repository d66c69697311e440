"""FE runs as a user meets them: `hpcms run|check` on FE decks, exit statuses on
every rank, PETSc options from the command line, --resume after a stop.

Subprocesses (some under mpirun -n 2), like test_cli.py: run with plain pytest.
"""

from __future__ import annotations

import json
import shutil

import pytest

from test_cli import (REPO, assert_clean_deck_error, error_lines, hpcms, needs_mpirun,
                      tree)
from test_cli import pytestmark  # noqa: F401  (same skip: not under an mpirun of pytest)

BAR = REPO / "inputs" / "fe_bar_tension.toml"


def copy_bar(tmp_path, text_changes=()):
    text = BAR.read_text()
    for old, new in text_changes:
        assert old in text
        text = text.replace(old, new)
    deck = tmp_path / "bar.toml"
    deck.write_text(text)
    return deck


def test_check_an_fe_deck(tmp_path):
    result = hpcms("check", BAR, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "hex8 cells" in result.stdout and "dofs" in result.stdout
    assert tree(tmp_path) == {}


@needs_mpirun
@pytest.mark.parametrize("change,key", [
    (('region = "xmax"', 'region = "xmux"'), "boundary[3].region"),
    (("nu = 0.3", "nu = 0.7"), "material.nu"),
    (("steps = 6", "steps = -1"), "load.steps"),
])
def test_bad_fe_deck_exits_2_on_every_rank(tmp_path, change, key):
    deck = copy_bar(tmp_path, [change])
    before = tree(tmp_path)
    result = hpcms("run", deck, "--quiet", cwd=tmp_path, ranks=2)
    assert_clean_deck_error(result, key)
    assert tree(tmp_path) == before


@needs_mpirun
def test_newton_failure_exits_3_naming_increment_and_cell(tmp_path):
    deck = copy_bar(tmp_path, [("ux = 1.2", "ux = -5.0"), ("steps = 6", "steps = 2\ncutbacks = 2")])
    result = hpcms("run", deck, "--quiet", "--set", 'run.output="out"', cwd=tmp_path, ranks=2)
    out = result.stdout + result.stderr
    assert result.returncode == 3, out
    lines = error_lines(result, "hpcms: run stopped:")
    assert len(lines) == 1, out
    assert "step 1:" in lines[0] and "inverted" in lines[0] and "cell" in lines[0], lines[0]
    assert (tmp_path / "out" / "checkpoint-0000000000.h5").exists()  # the last converged state


def test_petsc_options_from_the_command_line(tmp_path):
    result = hpcms("run", BAR, "--set", 'run.output="out"', "-fe_ksp_type", "gmres",
                   "-fe_pc_type", "jacobi", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    log = (tmp_path / "out" / "log.txt").read_text()
    assert "KSP gmres PC jacobi" in log


def test_unknown_double_dash_option_is_a_usage_error(tmp_path):
    result = hpcms("run", BAR, "--frobnicate", cwd=tmp_path)
    assert result.returncode == 2 and "usage" in result.stderr


@needs_mpirun
def test_resume_on_another_rank_count_continues(tmp_path):
    """A run cut after increment 3 and resumed on 2 ranks ends like the uninterrupted run."""
    full = hpcms("run", BAR, "--quiet", "--set", 'run.output="full"', cwd=tmp_path)
    assert full.returncode == 0, full.stderr
    cut = tmp_path / "cut"
    cut.mkdir()
    for name in ("deck.json", "checkpoint-0000000003.h5", "log.txt"):
        shutil.copy(tmp_path / "full" / name, cut / name)
    rows = (tmp_path / "full" / "reaction.csv").read_text().splitlines()
    (cut / "reaction.csv").write_text("\n".join(rows[:4]) + "\n" + rows[4][:10])  # torn row
    resumed = hpcms("run", BAR, "--quiet", "--resume", "--set", 'run.output="cut"',
                    cwd=tmp_path, ranks=2)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    a = [r.split(",") for r in rows[1:]]
    b = [r.split(",") for r in (cut / "reaction.csv").read_text().splitlines()[1:]]
    assert [r[:2] for r in b] == [r[:2] for r in a]
    for x, y in zip(a, b):
        assert [float(v) for v in y[2:-1]] == pytest.approx([float(v) for v in x[2:-1]],
                                                            rel=1e-8, abs=1e-7)
    newest = sorted(cut.glob("checkpoint-*.h5"))[-1]
    assert int(newest.stem.split("-")[1]) == int(a[-1][0])  # the final increment
    info = hpcms("info", newest, cwd=tmp_path)
    assert info.returncode == 0 and "kind fe" in info.stdout, info.stdout + info.stderr
    assert json.loads((cut / "timing.json").read_text())["ranks"] == 2
