"""The driver knows the field: a deck with fix qeq/field takes it from [field], the walkers
run in the structure's boundary (p p f for a slab), the stored frames record the field they
were explored in and the field their labels were computed in, and [field] oracle says
whether the oracle is given the field."""

import os

import numpy as np
import pytest
from ase.build import fcc111

from mdsentry import store
from mdsentry.config import ConfigError, load
from test_loop import mdsentry, pretrained, state_of, write_config

PARAMS = "1 4.0 9.0 0.45 0.0 0.0\n"
FIELD_DECK = ("fix md all nvt temp ${temp} ${temp} 0.1\n"
              "fix qf all qeq/field 1 8.0 1e-8 200 ${deckdir}/qeq.params efield ${ex} ${ey} ${ez}\n"
              "fix_modify qf energy yes virial yes\nthermo 100\n")


def slab_config(tmp_path, deck=FIELD_DECK, field=None, **sections):
    """A Cu(111) slab with vacuum (pbc T T F) and the shipped Cu committee."""
    slab = fcc111("Cu", size=(3, 3, 4), a=3.61, vacuum=8.0)
    slab.pbc = [True, True, False]
    base = pretrained(temperatures=[900.0], hi=0.6)
    for name, values in sections.items():
        base[name] = dict(base.get(name, {}), **values)
    path = write_config(tmp_path, **base)
    from ase.io import write

    write(tmp_path / "cu.extxyz", slab)  # replaces the bulk cell write_config wrote
    (tmp_path / "in.md").write_text(deck)
    (tmp_path / "qeq.params").write_text(PARAMS)
    if field is not None:
        with open(path, "a") as fh:
            fh.write("[field]\n" + "\n".join(f"{k} = {v}" for k, v in field.items()) + "\n")
    return path


def test_a_deck_with_the_fix_must_take_the_field_from_the_config(tmp_path):
    path = slab_config(tmp_path, deck=FIELD_DECK.replace("${ex} ${ey} ${ez}", "0 0 0.05"))
    with pytest.raises(ConfigError, match=r"efield \$\{ex\} \$\{ey\} \$\{ez\}"):
        load(path)


def test_a_field_without_the_fix_is_an_error(tmp_path):
    path = slab_config(tmp_path, deck="fix md all nvt temp ${temp} ${temp} 0.1\n",
                       field={"efield": "[0.0, 0.0, 0.05]"})
    with pytest.raises(ConfigError, match="has no fix qeq/field to apply it"):
        load(path)


def test_a_given_field_needs_the_oracle_keywords(tmp_path):
    path = slab_config(tmp_path, field={"efield": "[0.0, 0.0, 0.05]", "oracle": '"given"'})
    with pytest.raises(ConfigError, match="needs field.oracle_kwargs"):
        load(path)


def test_a_slab_outside_its_cell_is_an_error(tmp_path):
    path = slab_config(tmp_path)
    from ase.io import read, write

    slab = read(tmp_path / "cu.extxyz")
    slab.positions[:, 2] -= 10.0
    write(tmp_path / "cu.extxyz", slab)
    with pytest.raises(ConfigError, match="outside the cell along z"):
        load(path)


def test_the_oracle_is_given_the_field_only_when_asked():
    from mdsentry.loop import _oracle

    cfg = {"oracle": {"calculator": "vasp:x", "kwargs": {"encut": 520}, "name": ""},
           "field": {"efield": [0, 0, 0.03], "oracle": "zero", "oracle_kwargs": {"efield": 0.03}}}
    assert _oracle(cfg)["kwargs"] == {"encut": 520} and not _oracle(cfg)["field"]
    cfg["field"]["oracle"] = "given"
    assert _oracle(cfg)["kwargs"] == {"encut": 520, "efield": 0.03} and _oracle(cfg)["field"]


def test_an_older_store_gains_the_field_columns(tmp_path):
    import h5py
    from ase.build import bulk

    path = str(tmp_path / "old.h5")
    store.create(path)
    store.append(path, [bulk("Cu", cubic=True)], source="x")
    with h5py.File(path, "a") as f:  # as written before the field existed
        del f["frames/efield"], f["frames/label_efield"]
    assert np.array_equal(store.table(path)["efield"], np.zeros((1, 3)))  # read-only: defaults
    store.append(path, [bulk("Cu", cubic=True)], source="y", efield=[0.0, 0.0, 0.02])
    t = store.table(path)
    assert np.array_equal(t["efield"], [[0, 0, 0], [0, 0, 0.02]])
    store.set_labels(path, [1], [0.0], [np.zeros((4, 3))], label_efield=[[0, 0, 0.02]])
    frame = store.read(path, ids=[1])[0]
    assert list(frame.info["efield"]) == [0, 0, 0.02]
    assert list(frame.info["label_efield"]) == [0, 0, 0.02]


def test_a_given_field_and_the_fix_would_count_it_twice(tmp_path):
    path = slab_config(tmp_path, field={"efield": "[0.0, 0.0, 0.05]", "oracle": '"given"',
                                        "oracle_kwargs": "{efield = 0.05}"})
    with pytest.raises(ConfigError, match="would add it twice"):
        load(path)


@pytest.mark.parametrize("oracle", ["zero", pytest.param("given", marks=pytest.mark.slow)])
def test_field_exploration_records_the_field(tmp_path, oracle):
    """A Cu slab in p p f at 0.05 V/A with the shipped committee, explored, selected and
    labelled (stopping before training).  zero: the deck's fix applies the field, the
    candidates record it, their labels are at zero field.  given: the committee carries
    the field (no fix), the oracle gets its keyword and the labels record the field."""
    log = tmp_path / "oracle.log"
    field = {"efield": "[0.0, 0.0, 0.05]", "oracle": f'"{oracle}"'}
    deck = FIELD_DECK
    if oracle == "given":
        field["oracle_kwargs"] = "{efield = 0.05}"
        deck = "fix md all nvt temp ${temp} ${temp} 0.1\nthermo 100\n"
    path = slab_config(tmp_path, deck=deck, field=field,
                       oracle={"calculator": "oracles_for_tests:in_field",
                               "kwargs": {"log": str(log)}, "timeout": 60.0},
                       select={"budget": 3})
    mdsentry("run", path, "--no-progress", "--stop-after", "label")
    lammps_log = (tmp_path / "run" / "walkers" / "walker00" / "log.lammps").read_text()
    assert "boundary p p f" in lammps_log
    assert ("efield 0.0 0.0 0.05" in lammps_log) == (oracle == "zero")
    t = store.table(str(tmp_path / "run" / "frames.h5"))
    md = t["source"] == "md"
    assert md.sum() > 0 and np.allclose(t["efield"][md], [0, 0, 0.05])
    assert np.allclose(t["efield"][~md], 0.0)  # imported frames: no field
    labelled = md & (t["status"] == store.STATUS["labelled"])
    assert labelled.sum() > 0
    expected = [0, 0, 0.05] if oracle == "given" else [0, 0, 0]
    assert np.allclose(t["label_efield"][labelled], expected)
    given = {line.strip() for line in log.read_text().splitlines()}
    assert given == ({"0.05"} if oracle == "given" else {"0.0"})
    assert state_of(tmp_path)["stage"] == "train"
