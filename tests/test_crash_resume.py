"""SIGKILL at 20 random points, during steps and inside the save, each followed by a resume: the run
ends bit-identical to one never interrupted (the oracle), no checkpoint is ever lost or unreadable,
and no temporary file outlives the next save.

Extends ``test_resume.py``'s SIGKILL test (which kills between steps, at the printed step markers)
with kills inside ``st.save`` itself: run as a script, this file is the worker of
``resume_worker.py`` with ``--die-in-save STEP BYTES``, which makes the first save after step
``STEP`` SIGKILL its own process once ``BYTES`` bytes of the new file are written.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import strided as st                                                  # noqa: E402
from resume_worker import EPOCHS                                      # noqa: E402
from strided.io.atomic import PREFIX                                  # noqa: E402
from test_resume import _read_until, finish_and_compare, uninterrupted_final   # noqa: E402

STEPS, KILLS, TRIALS = EPOCHS * 9, 20, 5


class DyingFile:
    """A file object that SIGKILLs the process once ``budget`` more bytes were written through it."""

    def __init__(self, handle, budget: int):
        self._handle, self._budget = handle, budget

    def write(self, data) -> int:
        data = bytes(data)
        if len(data) >= self._budget:
            self._handle.write(data[:self._budget])
            self._handle.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        self._budget -= len(data)
        return self._handle.write(data)

    def __getattr__(self, name):
        return getattr(self._handle, name)


def die_in_save(after_step: int, budget: int) -> None:
    """Make the first checkpoint saved after step ``after_step`` kill the process ``budget`` bytes in."""
    from strided.train.loop import Run
    real_save, real_savez, armed = Run.save, np.savez, [False]

    def save(run, path):
        armed[0] = run.step >= after_step
        return real_save(run, path)

    def savez(handle, *args, **kwargs):
        return real_savez(DyingFile(handle, budget) if armed[0] else handle, *args, **kwargs)

    Run.save, np.savez = save, savez


def start(out, resume=False, die=None):
    extra = (["--resume"] if resume else []) + (["--die-in-save", *map(str, die)] if die else [])
    return subprocess.Popen([sys.executable, os.path.abspath(__file__), str(out), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def position(out) -> int:
    """The step a resume in ``out`` starts after (0 without a checkpoint)."""
    path = os.path.join(out, "checkpoint.npz")
    return st.load(path, arrays=False)["position"]["step"] if os.path.exists(path) else 0


def checkpoint_is_intact(out) -> bool:
    """The checkpoint, if one was written yet, loads (every checksum right)."""
    path = os.path.join(out, "checkpoint.npz")
    return not os.path.exists(path) or st.train.load_checkpoint(path)["format"] == "strided-train/1"


@pytest.mark.slow
def test_sigkill_at_20_random_points_then_resume_is_bit_identical(tmp_path):
    expected = uninterrupted_final(tmp_path, start)
    seed = random.randrange(10 ** 6)
    chooser = random.Random(seed)
    kinds = ["step", "save"] * (KILLS // 2)
    chooser.shuffle(kinds)
    log = []
    for trial in range(TRIALS):
        out = tmp_path / f"killed{trial}"
        out.mkdir()
        for index in range(KILLS // TRIALS):
            # the next kill after the position a resume starts from, leaving room for the kills still to come
            done = position(out)
            step = done + 1 + chooser.randrange(max(1, (STEPS - 6 - done) // (KILLS // TRIALS - index)))
            kind = kinds.pop()
            if kind == "step":             # a random moment after step `step`: forward, backward, update or save
                process = start(out, resume=index > 0)
                reached = _read_until(process, f"step {step}")
                # within about one step: a step of the worker takes 0.3-2 ms here, and a longer sleep
                # let the run go on for 10-20 steps, past the room left for the kills still to come
                time.sleep(chooser.uniform(0, 0.002))
                process.send_signal(signal.SIGKILL)
            else:                          # inside the first save after step `step`, a random number of bytes in
                budget = chooser.randrange(0, 20000)
                process = start(out, resume=index > 0, die=(step, budget))
                reached = True
            process.communicate()
            log.append(f"{kind} after step {step}")
            assert process.returncode == -signal.SIGKILL, f"seed {seed}: {log[-1]} did not kill (run ended: {reached})"
            assert checkpoint_is_intact(out), f"seed {seed}: {log[-1]} left a damaged checkpoint"
            if kind == "save":             # it died inside the save: its temporary file is left for the next save
                assert any(name.startswith(PREFIX) for name in os.listdir(out)), f"seed {seed}: {log[-1]}"
        finish_and_compare(out, start, expected, f"seed {seed}, kills: {log[-KILLS // TRIALS:]}")
        left = [name for name in os.listdir(out) if name.startswith(PREFIX)]
        assert not left, f"seed {seed}: temporary files outlived the next save: {left}"
    assert len(log) == KILLS and not kinds


def test_a_save_killed_inside_leaves_its_temporary_file_until_the_next_save(tmp_path):
    """A real SIGKILL inside ``st.save``: the old file stays intact, the temporary one is left; the next
    save in that folder removes it (its writer is dead) and nothing else."""
    path = tmp_path / "ckpt.npz"
    st.save({"w": np.arange(3.0)}, path)
    script = ("import sys, numpy as np, strided as st\n"
              "sys.path.insert(0, sys.argv[1])\n"
              "from test_crash_resume import DyingFile\n"
              "real = np.savez\n"
              "np.savez = lambda handle, **kw: real(DyingFile(handle, 700), **kw)\n"
              "st.save({'w': np.zeros(500)}, sys.argv[2])\n")
    died = subprocess.run([sys.executable, "-c", script, HERE, str(path)], capture_output=True, text=True)
    assert died.returncode == -signal.SIGKILL, died.stderr
    left = [name for name in os.listdir(tmp_path) if name.startswith(PREFIX)]
    assert len(left) == 1 and 0 < os.path.getsize(tmp_path / left[0]) <= 700          # a partial file
    assert np.array_equal(st.load(path)["w"], np.arange(3.0))                 # the previous file is intact
    from strided.io.atomic import host_tag
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        kept = [f"{PREFIX}{host_tag()}-{live.pid}-0123abcd.npz",              # its writer still runs
                f"{PREFIX}00000000-{left[0].split('-')[3]}-0123abcd.npz",      # another host's
                f"{PREFIX}notours.npz", "user-file.npz"]                       # not our pattern
        for name in kept:
            (tmp_path / name).write_bytes(b"x")
        st.save({"w": np.arange(4.0)}, tmp_path / "other.npz")                 # any save to the folder
        assert sorted(os.listdir(tmp_path)) == sorted(kept + ["ckpt.npz", "other.npz"])
    finally:
        live.kill()
        live.wait()


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_files_are_created_with_the_usual_permissions(tmp_path, umask):
    """As ``open()`` creates files: 0o666 less the umask (never a fixed 0o600)."""
    previous = os.umask(umask)
    try:
        st.save({"a": np.zeros(2)}, tmp_path / "state.npz")
        with open(tmp_path / "plain.txt", "w") as handle:                      # the oracle
            handle.write("x")
    finally:
        os.umask(previous)
    mode = os.stat(tmp_path / "state.npz").st_mode & 0o777
    assert mode == os.stat(tmp_path / "plain.txt").st_mode & 0o777 == 0o666 & ~umask


def main(argv) -> int:
    import resume_worker
    if "--die-in-save" in argv:
        at = argv.index("--die-in-save")
        die_in_save(int(argv[at + 1]), int(argv[at + 2]))
        argv = argv[:at] + argv[at + 3:]
    return resume_worker.main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
