"""Library output goes to the run's files: C-level writes inside output_to land in the file,
overlapping blocks in threads share one redirection, and the terminal is restored after."""

import ctypes
import os
import threading

from mdsentry import logs


def test_output_to_captures_c_output_and_restores(tmp_path, capfd):
    path = str(tmp_path / "output.log")

    def work(k):
        with logs.output_to(path):
            os.write(1, f"fd1 {k}\n".encode())
            os.write(2, f"fd2 {k}\n".encode())
            ctypes.CDLL(None).puts(f"libc {k}".encode())  # buffered C stdio, flushed at the end

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    os.write(1, b"after\n")
    text = open(path).read()
    for k in range(6):
        assert f"fd1 {k}\n" in text and f"fd2 {k}\n" in text and f"libc {k}\n" in text
    out, err = capfd.readouterr()
    assert out == "after\n" and err == ""


def test_library_loggers_go_to_the_log(tmp_path, capfd):
    import logging

    path = str(tmp_path / "mdsentry.log")
    logs.libraries_to(path)
    logging.getLogger("deepmd.utils.batch_size").warning("use DP_INFER_BATCH_SIZE")
    logging.getLogger("torch._library.triton").warning("Triton not available")
    with logs.quiet():
        os.write(2, b"deepmd thread advice\n")
    text = open(path).read()
    assert "DP_INFER_BATCH_SIZE" in text and "Triton" in text and "thread advice" in text
    assert capfd.readouterr() == ("", "")


def test_quiet_before_a_run_shows_output_only_on_failure(capfd, monkeypatch):
    import pytest

    monkeypatch.setattr(logs, "_SINK", None)
    with logs.quiet():
        os.write(2, b"chatter of a call that worked\n")
    assert capfd.readouterr() == ("", "")
    with pytest.raises(RuntimeError):
        with logs.quiet():
            os.write(2, b"what the library said before failing\n")
            raise RuntimeError("model file broken")
    assert "what the library said before failing" in capfd.readouterr().err
