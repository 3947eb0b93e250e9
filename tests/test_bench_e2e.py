"""bench e2e end to end, briefly: the emulator's pulses through `listen` to a JACK port are
found and timed. Nothing here judges the figures (timing belongs to the benchmark's own
report); it checks that the measurement measures."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from app.bench.e2e import delays
from app.commands import cli


def test_onsets_are_matched_to_the_pulse_written_just_before_them():
    # writes: (first frame, frames, time written, offset of a pulse or -1)
    writes = np.array([[0, 10, 1.000, -1], [10, 10, 1.001, 3], [20, 10, 1.5, -1],
                       [30, 10, 1.501, 0], [40, 10, 2.001, 9]])
    times, found, missed = delays(writes, [1.009, 1.508, 1.52, 2.5], 0.0, 3.0)
    assert np.allclose(found, [0.008, 0.007]) and list(times) == [1.009, 1.508]
    assert missed == 1  # the pulse written at 2.001 s came out nowhere before 3 s


@pytest.mark.skipif(shutil.which("jackd") is None, reason="needs jackd (apt-get install jackd2)")
def test_listen_is_timed_from_the_boards_bytes_to_its_jack_port(capsys):
    pytest.importorskip("jack", reason="needs the JACK client library (needlepoint[bench])")
    assert cli.main(["bench", "e2e", "--seconds", "5", "--only", "listen", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    run = rep["runs"]["listen"]
    assert run["pulses"] >= 8  # 5 s of pulses every 0.5 s, counted
    assert set(run["delay_ms"]) == {"p50", "p99", "max"}
    assert isinstance(run["underruns_after_1s"], int)  # read from listen's own status lines
    assert rep["block"] == 128 and rep["fs_out"] == 48000
