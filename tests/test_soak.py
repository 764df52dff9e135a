"""Soak: 5,000 training steps of a small CNN through ``fit`` (dropout, Adam, a per-batch schedule,
validation every epoch, a checkpoint every 50 steps) hold a constant resident memory after warm-up.

Run in a fresh process (``python tests/test_soak.py``) that prints its resident set size, read from
``/proc/self/statm``, every ``EVERY`` steps; nothing else in that process allocates. Linux only.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest

STEPS, EVERY, WARM_UP = 5000, 100, 1000
GROWTH = 4 * 2 ** 20      # bytes: what the resident set may rise after warm-up (allocator noise, not a leak)


def resident_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def soak(out: str) -> None:
    import strided as st
    from strided import nn
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 1, 8, 8)).astype(np.float32)
    y = (x[:, 0, :4].sum(axis=(1, 2)) > 0).astype(np.int64)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, rng=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Dropout(0.2, rng=np.random.default_rng(2)), nn.Linear(36, 2, rng=3))
    optimizer = st.optim.Adam(model.parameters(), lr=1e-3)
    epochs = STEPS // (len(x) // 8)
    scheduler = st.optim.OneCycleLR(optimizer, max_lr=0.01, total_steps=STEPS)

    def report(step, logs):
        if step % EVERY == 0:
            print(f"{step} {resident_bytes()}", flush=True)

    st.train.fit(model, (x, y), (x[:64], y[:64]), optimizer=optimizer, scheduler=scheduler, epochs=epochs,
                 batch_size=8, seed=0, progress=False, log=None, checkpoint_dir=out, checkpoint_every=50,
                 callbacks=[st.train.LambdaCallback(on_batch_end=report)])


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads the resident set size from /proc")
def test_resident_memory_is_constant_over_5000_steps(tmp_path):
    done = subprocess.run([sys.executable, os.path.abspath(__file__), str(tmp_path)], capture_output=True,
                          text=True, check=True)
    samples = {int(step): int(rss) for step, rss in (line.split() for line in done.stdout.split("\n") if line)}
    assert sorted(samples) == list(range(EVERY, STEPS + 1, EVERY))
    settled = [rss for step, rss in samples.items() if step >= WARM_UP]
    base = samples[WARM_UP]
    print(f"\nresident set: {samples[EVERY] / 2 ** 20:.1f} MiB at step {EVERY}, {base / 2 ** 20:.1f} MiB at step "
          f"{WARM_UP}, at most {max(settled) / 2 ** 20:.1f} MiB and {settled[-1] / 2 ** 20:.1f} MiB at step {STEPS}")
    assert max(settled) - base <= GROWTH, samples
    last, first = np.mean(settled[-10:]), np.mean(settled[:10])
    assert last - first <= GROWTH / 4, samples          # no creeping rise: the last tenth like the first


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        soak(sys.argv[1] if len(sys.argv) > 1 else folder)
