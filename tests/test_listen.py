"""`needlepoint listen`: WAV renders of every simulator scenario through the speaker's own
path, and clear refusals."""

from __future__ import annotations

import wave

import numpy as np
import pytest

from app.commands import cli
from devices.simulator.scenarios import SCENARIOS


def _read(path) -> tuple[np.ndarray, int]:
    with wave.open(str(path)) as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2
        return np.frombuffer(w.readframes(w.getnframes()), "<i2"), w.getframerate()


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_scenario_renders_loud_and_unclipped(scenario, tmp_path, capsys):
    out = tmp_path / f"{scenario}.wav"
    assert cli.main(["listen", "--device", f"sim:{scenario}?seed=2", "--out", str(out),
                     "--seconds", "1.5"]) == 0
    pcm, rate = _read(out)
    assert rate == 48000 and len(pcm) >= 1.5 * 48000
    assert np.abs(pcm.astype(np.int32)).max() < 32767  # never full scale
    rms_db = 20 * np.log10(np.sqrt(np.mean((pcm / 32767.0) ** 2)))
    assert rms_db > -45  # even rest has its hiss at 50 uV/div
    said = capsys.readouterr().out
    assert "wrote" in said and "dBFS" in said and "0 underruns" in said


def test_botulinum_preset_is_quieter_for_the_same_signal(tmp_path):
    spont, botox = tmp_path / "s.wav", tmp_path / "b.wav"
    for preset, path in (("spontaneous", spont), ("botulinum", botox)):
        cli.main(["listen", "--device", "sim:voluntary?seed=1", "--preset", preset,
                  "--out", str(path), "--seconds", "2"])
    a, _ = _read(spont)
    b, _ = _read(botox)
    assert np.sqrt(np.mean(b.astype(float) ** 2)) < 0.5 * np.sqrt(np.mean(a.astype(float) ** 2))


def test_mute_renders_silence(tmp_path):
    out = tmp_path / "m.wav"
    assert cli.main(["listen", "--device", "sim:denervated", "--mode", "mute", "--out",
                     str(out), "--seconds", "1"]) == 0
    pcm, _ = _read(out)
    assert np.all(pcm == 0)


@pytest.mark.parametrize("argv,words", [
    (["--volume", "5"], "volume must be from 0 to 1"),
    (["--volume", "nan"], "volume must be from 0 to 1"),
    (["--sensitivity", "0"], "sensitivity"),
    (["--squelch", "-3"], "squelch"),
    (["--seconds", "-1"], "--seconds"),
    (["--blocksize", "3"], "--blocksize"),
])
def test_absurd_settings_exit_2_with_a_clear_message(argv, words, tmp_path, capsys):
    assert cli.main(["listen", "--device", "sim:rest", "--out", str(tmp_path / "x.wav"),
                     *argv]) == 2
    err = capsys.readouterr().err
    assert words in err and err.startswith("needlepoint: ")
    assert not (tmp_path / "x.wav").exists()


def test_no_output_device_says_so_and_suggests_a_file(monkeypatch, capsys):
    import devices.speaker as speaker

    monkeypatch.setattr(speaker, "outputs", lambda: [])
    assert cli.main(["listen", "--device", "sim:rest", "--seconds", "1"]) == 2
    err = capsys.readouterr().err
    assert "no sound output device" in err and "--out" in err


def test_a_hobby_amplifier_is_named_not_isolated(tmp_path, capsys):
    from devices.spikerbox.emulator import Emulator

    with Emulator(hwt="MUSCLESS") as emu:
        assert cli.main(["listen", "--device", f"spikerbox:{emu.port}", "--out",
                         str(tmp_path / "s.wav"), "--seconds", "0.5"]) == 0
    assert "not isolated for patient connection" in capsys.readouterr().out.lower()
