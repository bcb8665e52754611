"""Production MD with a run's committee (`mdsentry md`), then the analysis verbs on it."""

import os
import subprocess

import numpy as np

from conftest import BIN, run_mpi
from test_loop import env, pretrained, write_config

MDSENTRY = os.path.join(BIN, "mdsentry")


def test_md_at_two_temperatures_on_two_ranks_then_analyze(tmp_path):
    path = write_config(tmp_path, **pretrained())
    proc = subprocess.run([MDSENTRY, "run", path, "--no-progress", "--stop-after", "first_train"],
                          capture_output=True, text=True, env=env(), timeout=300)
    assert proc.returncode == 0, proc.stderr
    proc = run_mpi(2, [MDSENTRY, "md", path, "--temperatures", "300", "1500", "--steps", "400",
                       "--equilibrate", "100", "--dump-every", "20"], env=env(), timeout=600)
    lines = [x for x in proc.stdout.splitlines() if x.strip().startswith(("300", "1500"))]
    assert len(lines) == 2
    out = tmp_path / "run" / "production"
    from ase.io import read

    for T in (300, 1500):
        traj = read(str(out / f"T{T}" / "traj.dump"), index=":", format="lammps-dump-text")
        assert len(traj) == 21 and set(traj[0].get_chemical_symbols()) == {"Cu"}
        from mdsentry.explore import read_trace

        log = read_trace(str(out / f"T{T}" / "sentry.log"))
        # every 10 steps from 0 to 500, each step once (the second run does not recheck 100)
        assert list(log["step"]) == list(range(0, 501, 10))
    share = {int(float(x.split()[0])): float(x.split()[1].rstrip("%")) for x in lines}
    # the committee trained up to 1200 K is trusted at 300 K, less so at 1500 K
    assert share[300] == 100.0 and share[1500] <= share[300]
    # the analysis verbs read the production dumps directly (element column)
    proc = subprocess.run([MDSENTRY, "analyze", "msd", str(out / "T1500" / "traj.dump"),
                           "--dt", "0.02", "--blocks", "2", "--out", str(tmp_path / "a")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "D(Cu) = " in proc.stdout and os.path.exists(tmp_path / "a" / "msd.png")
    proc = subprocess.run([MDSENTRY, "analyze", "rdf", str(out / "T300" / "traj.dump"),
                           "--rmax", "4", "--out", str(tmp_path / "a")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    cn = float(next(x for x in proc.stdout.splitlines() if x.startswith("Cu-Cu")).split()[-1])
    assert 11.0 < cn < 13.0  # fcc at 300 K keeps its 12 neighbours
    assert np.isfinite(cn)
    # --elements given anyway: the element column wins (it once failed: "atom type 29")
    again = subprocess.run([MDSENTRY, "analyze", "rdf", str(out / "T300" / "traj.dump"),
                            "--elements", "Cu", "--rmax", "4", "--out", str(tmp_path / "b")],
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert next(x for x in again.stdout.splitlines() if x.startswith("Cu-Cu")).split()[-1] == \
        f"{cn:.3f}"
    # --halt: a committee trusted to 1200 K, a threshold it cannot keep at 3000 K
    proc = run_mpi(1, [MDSENTRY, "md", path, "--temperatures", "3000", "--steps", "400",
                       "--equilibrate", "100", "--dump-every", "20", "--halt",
                       "--out", str(tmp_path / "hot")], env=env(), timeout=600)
    assert "HALTED at step" in proc.stdout
    # --deck: the user's ensemble (NPT here) instead of the default NVT; checked like decks
    (tmp_path / "npt.in").write_text("fix md all npt temp ${temp} ${temp} 0.1 iso 1.0 1.0 1.0\n")
    run_mpi(1, [MDSENTRY, "md", path, "--temperatures", "600", "--steps", "200",
                "--equilibrate", "0", "--dump-every", "100", "--deck", str(tmp_path / "npt.in"),
                "--out", str(tmp_path / "npt")], env=env(), timeout=600)
    traj = read(str(tmp_path / "npt" / "T600" / "traj.dump"), index=":", format="lammps-dump-text")
    assert len(traj) == 3 and traj[-1].get_volume() != traj[0].get_volume()
    (tmp_path / "bad.in").write_text("fix md all nve\nrun 100\n")
    bad = subprocess.run([MDSENTRY, "md", path, "--temperatures", "600", "--steps", "10",
                          "--deck", str(tmp_path / "bad.in")], capture_output=True, text=True,
                         env=env(), timeout=120)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "'run' is set by mdsentry" in bad.stderr
