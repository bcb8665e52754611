"""Every CLI verb turns a user error into one line on stderr and a non-zero exit code."""

import os
import subprocess

import pytest

from conftest import BIN

MDSENTRY = os.path.join(BIN, "mdsentry")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("argv,message", [
    (["analyze", "msd", "missing.dump", "--dt", "0.01"], "missing.dump"),
    (["analyze", "rdf", "missing.dump"], "missing.dump"),
    (["train", "--data", "missing.xyz"], "no such data file: missing.xyz"),
    (["train", "--data", "nothing.h5"], "no such store: nothing.h5"),
    (["export", "missing/run.toml", "--out", "x.xyz"], "missing/run.toml"),
    (["export", "empty_dir", "--out", "x.xyz"], "empty_dir/frames.h5: no such mdsentry store"),
    (["export", "bad.h5", "--out", "x.xyz"], "bad.h5: not a readable mdsentry store"),
    (["status", "empty_dir"], "no state.json"),
    (["md", "empty_dir", "--temperatures", "300", "--steps", "10"], "no trained committee"),
    (["build", "amorphous", "--composition", "Li2CO3:2,Xx:1", "--density", "2.0",
      "--out", "x.extxyz"], "Xx"),
])
def test_user_errors_are_one_line(tmp_path, argv, message):
    (tmp_path / "empty_dir").mkdir()
    (tmp_path / "bad.h5").write_text("not HDF5\n")
    proc = subprocess.run([MDSENTRY, *argv], capture_output=True, text=True, cwd=tmp_path,
                          timeout=120)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert lines and lines[-1].startswith("mdsentry: ") and message in lines[-1], proc.stderr


def test_the_demo_runs_in_the_workdir_its_config_names():
    """`mdsentry status|export|plot inputs/lif_demo/run.toml` find what `mdsentry demo` wrote."""
    from mdsentry.cli import demo_config
    from mdsentry.config import load

    config, cfg = demo_config(None)
    assert config == os.path.join(REPO, "inputs", "lif_demo", "run.toml")
    assert cfg["workdir"] == load(config)["workdir"] == os.path.join(REPO, "inputs", "lif_demo",
                                                                     "runs", "lif_demo")
    assert demo_config("elsewhere")[1]["workdir"] == os.path.abspath("elsewhere")
