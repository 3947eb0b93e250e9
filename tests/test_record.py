"""`needlepoint record`: replays recorded and recorded again, and every bad input as one line."""

from pathlib import Path

import numpy as np
import pytest

from app.commands.cli import main
from devices import DeviceInfo
from devices.base import GeneratedDevice
from devices.formats import read_recording, write_recording
from devices.registry import SCHEMES
from devices.uri import Scheme

EMGDB = Path("/work/shared/data/physionet-emgdb")
RECORDS = ["emg_healthy", "emg_myopathy", "emg_neuropathy"]


def record(device: str, seconds: float, out: Path, *extra: str) -> int:
    return main(["record", "--device", device, "--seconds", repr(seconds), "--out", str(out),
                 *extra])


@pytest.mark.parametrize("name", RECORDS)
def test_physionet_record_replayed_recorded_and_recorded_again(tmp_path, capsys, name):
    source = read_recording(EMGDB / f"{name}.hea")
    seconds = source.samples.shape[0] / source.fs
    assert record(f"file:{EMGDB / name}.hea", seconds, tmp_path / "a.edf") == 0
    assert record(f"file:{tmp_path / 'a.edf'}", seconds, tmp_path / "b.edf") == 0
    first, second = read_recording(tmp_path / "a.edf"), read_recording(tmp_path / "b.edf")
    # On the record's own 0.1 uV grid nothing is lost, so all three are identical.
    np.testing.assert_array_equal(first.samples, source.samples)
    np.testing.assert_array_equal(second.samples, first.samples)
    assert second.fs == 4000.0 and second.step_uv == first.step_uv == (0.1,)
    assert f"file:{tmp_path / 'a.edf'}" in second.details["recorded_with"]
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == (f"wrote {source.samples.shape[0]} frames x 1 channel at 4000 Hz "
                       f"({seconds:.3f} s) to {tmp_path / 'b.edf'}")


def test_synthetic_multichannel_through_edf_wav_and_bdf(tmp_path):
    rng = np.random.default_rng(11)
    x = (rng.standard_normal((6000, 3)) * 250).astype(np.float32)
    write_recording(tmp_path / "src.wav", x, 3000, device_uri="test:x", settings={})
    assert record(f"file:{tmp_path / 'src.wav'}", 2.0, tmp_path / "a.edf") == 0
    assert record(f"file:{tmp_path / 'a.edf'}", 2.0, tmp_path / "b.edf") == 0
    assert record(f"file:{tmp_path / 'b.edf'}", 2.0, tmp_path / "c.wav") == 0
    assert record(f"file:{tmp_path / 'c.wav'}", 2.0, tmp_path / "d.bdf") == 0
    a, b = read_recording(tmp_path / "a.edf"), read_recording(tmp_path / "b.edf")
    step = np.array(a.step_uv)
    assert np.all(np.abs(a.samples - x) <= step / 2 + 1e-3)
    np.testing.assert_array_equal(b.samples, a.samples)
    c = read_recording(tmp_path / "c.wav")
    np.testing.assert_array_equal(c.samples, b.samples)
    assert c.calibrated and c.labels == b.labels == ("EMG 1", "EMG 2", "EMG 3")
    d = read_recording(tmp_path / "d.bdf")
    assert d.samples.shape == (6000, 3)
    assert np.all(np.abs(d.samples - b.samples) <= step / 2)


def test_recording_longer_than_the_file_loops(tmp_path):
    x = np.arange(100, dtype=np.float32)[:, None]
    write_recording(tmp_path / "s.edf", x, 100, device_uri="test:x", settings={}, step_uv=1.0)
    assert record(f"file:{tmp_path / 's.edf'}", 2.5, tmp_path / "o.edf") == 0
    got = read_recording(tmp_path / "o.edf").samples[:, 0]
    np.testing.assert_array_equal(got, np.tile(np.arange(100.0), 3)[:250])


def test_source_that_ends_early_is_written_and_said(tmp_path, capsys):
    write_recording(tmp_path / "s.edf", np.zeros((100, 1)), 100, device_uri="t:x", settings={})
    assert record(f"file:{tmp_path / 's.edf'}?loop=0", 5, tmp_path / "o.edf") == 0
    assert "the source ended early" in capsys.readouterr().out
    assert read_recording(tmp_path / "o.edf").samples.shape == (100, 1)


class _Gappy(GeneratedDevice):
    """Loses 50 frames after frame 200, as a device with a dropped USB packet would."""

    def _generate(self, n):
        if self.index == 200:
            self.index += 50
        return np.full((n, 1), float(self.index), np.float32)


def test_gaps_are_counted_reported_and_annotated(tmp_path, capsys, monkeypatch):
    info = DeviceInfo(uri="gappy:x", name="gappy", kind="simulator", fs=1000.0, channels=1,
                      channel_labels=("EMG",), uv_per_count=None, calibrated=True,
                      can_run_fast=True)
    scheme = Scheme("gappy", "test", lambda uri: info,
                    lambda uri, paced: _Gappy(info, paced=paced, block=100), list, "gappy:x")
    monkeypatch.setitem(SCHEMES, "gappy", scheme)
    assert record("gappy:x", 0.5, tmp_path / "g.edf") == 0
    assert capsys.readouterr().out.rstrip().endswith("; 1 gap (50 frames missing)")
    import edfio

    texts = [a.text for a in edfio.read_edf(tmp_path / "g.edf").annotations]
    assert "gap: 50 frames missing" in texts


def assert_one_line_error(code: int, capsys, *fragments: str) -> None:
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("needlepoint: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err


def test_missing_file(tmp_path, capsys):
    code = record(f"file:{tmp_path / 'gone.edf'}", 1, tmp_path / "o.edf")
    assert_one_line_error(code, capsys, "does not exist")


def test_corrupt_edf(tmp_path, capsys):
    (tmp_path / "bad.edf").write_bytes(bytes(range(256)) * 8)
    code = record(f"file:{tmp_path / 'bad.edf'}", 1, tmp_path / "o.edf")
    assert_one_line_error(code, capsys, "as EDF")


def test_corrupt_wfdb(tmp_path, capsys):
    for ext in (".hea", ".dat"):
        (tmp_path / f"emg_healthy{ext}").write_bytes((EMGDB / f"emg_healthy{ext}").read_bytes())
    dat = tmp_path / "emg_healthy.dat"
    raw = bytearray(dat.read_bytes())
    raw[1001] ^= 0x40
    dat.write_bytes(bytes(raw))
    code = record(f"file:{tmp_path / 'emg_healthy.hea'}", 1, tmp_path / "o.edf")
    assert_one_line_error(code, capsys, "corrupt")


def test_unknown_input_ending(tmp_path, capsys):
    (tmp_path / "x.mp3").write_bytes(b"ID3")
    code = record(f"file:{tmp_path / 'x.mp3'}", 1, tmp_path / "o.edf")
    assert_one_line_error(code, capsys, ".edf, .bdf, .wav")


def test_unknown_output_ending(tmp_path, capsys):
    write_recording(tmp_path / "s.edf", np.zeros((100, 1)), 100, device_uri="t:x", settings={})
    code = record(f"file:{tmp_path / 's.edf'}", 1, tmp_path / "o.csv")
    assert_one_line_error(code, capsys, "must end in .edf, .bdf, .wav")


def test_unknown_uri_parameter(tmp_path, capsys):
    write_recording(tmp_path / "s.edf", np.zeros((100, 1)), 100, device_uri="t:x", settings={})
    code = record(f"file:{tmp_path / 's.edf'}?speed=2", 1, tmp_path / "o.edf")
    assert_one_line_error(code, capsys, "unknown parameter speed")


def test_wav_without_scale(tmp_path, capsys):
    import scipy.io.wavfile

    scipy.io.wavfile.write(tmp_path / "w.wav", 1000, np.zeros(100, np.int16))
    code = record(f"file:{tmp_path / 'w.wav'}", 0.05, tmp_path / "o.edf")
    assert_one_line_error(code, capsys, "uv_fs")
    assert record(f"file:{tmp_path / 'w.wav'}?uv_fs=5000", 0.05, tmp_path / "o.edf") == 0


@pytest.mark.parametrize("seconds", ["0", "-1", "nan", "inf"])
def test_bad_seconds(tmp_path, capsys, seconds):
    write_recording(tmp_path / "s.edf", np.zeros((100, 1)), 100, device_uri="t:x", settings={})
    code = main(["record", "--device", f"file:{tmp_path / 's.edf'}", "--seconds", seconds,
                 "--out", str(tmp_path / "o.edf")])
    assert_one_line_error(code, capsys, "--seconds")
    assert not (tmp_path / "o.edf").exists()


def test_missing_output_folder(tmp_path, capsys):
    write_recording(tmp_path / "s.edf", np.zeros((100, 1)), 100, device_uri="t:x", settings={})
    code = record(f"file:{tmp_path / 's.edf'}", 1, tmp_path / "nowhere" / "o.edf")
    assert_one_line_error(code, capsys, "does not exist")
