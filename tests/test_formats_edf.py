"""EDF/EDF+/BDF in and out: units, scaling, layout, header text, failures."""

import datetime
import warnings

import edfio
import numpy as np
import pytest

from devices.errors import DeviceError
from devices.formats import read_header, read_recording, write_recording


def emg(frames: int, channels: int = 1, peak: float = 800.0, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((frames, channels)) * peak / 4
    return np.clip(x, -peak, peak).astype(np.float32)


def write(path, x, fs=4000.0, **kw):
    kw.setdefault("device_uri", "test:synthetic")
    kw.setdefault("settings", {"fs": fs})
    write_recording(path, x, fs, **kw)


def test_synthetic_signal_round_trips_within_one_step(tmp_path):
    x = emg(8000, channels=2)
    write(tmp_path / "a.edf", x, labels=["left", "right"])
    rec = read_recording(tmp_path / "a.edf")
    assert rec.fs == 4000.0 and rec.samples.shape == (8000, 2)
    assert rec.labels == ("left", "right")
    assert rec.calibrated and rec.details["format"] == "EDF+C"
    step = np.array(rec.step_uv)
    assert np.all(np.abs(rec.samples - x) <= step / 2 + 1e-4)
    assert np.all(step < 2 * np.abs(x).max(axis=0) / 65535 * 1.2)  # fine quantisation


def test_writing_a_replay_of_our_file_gives_the_same_samples(tmp_path):
    write(tmp_path / "a.edf", emg(4000, peak=2345.6))
    first = read_recording(tmp_path / "a.edf")
    write(tmp_path / "b.edf", first.samples, step_uv=first.step_uv)
    write(tmp_path / "c.edf", first.samples)  # without the step too
    for name in ("b.edf", "c.edf"):
        again = read_recording(tmp_path / name)
        np.testing.assert_array_equal(again.samples, first.samples)
        assert again.step_uv == first.step_uv


def test_samples_on_a_known_grid_are_stored_losslessly(tmp_path):
    counts = np.arange(-32768, 32768, 7, dtype=np.int64)[:, None]
    x = (counts * 0.1).astype(np.float32)
    write(tmp_path / "a.edf", x, step_uv=0.1)
    np.testing.assert_array_equal(read_recording(tmp_path / "a.edf").samples, x)


@pytest.mark.parametrize("unit,factor", [("mV", 1e3), ("V", 1e6), ("nV", 1e-3), ("uV", 1.0)])
def test_voltage_units_are_read_as_microvolts(tmp_path, unit, factor):
    data = np.linspace(-2.0, 2.0, 400)
    sig = edfio.EdfSignal(data, 200, label="EMG", physical_dimension=unit,
                          physical_range=(-2.5, 2.5))
    edfio.Edf([sig]).write(tmp_path / "u.edf")
    rec = read_recording(tmp_path / "u.edf")
    np.testing.assert_allclose(rec.samples[:, 0], data * factor, rtol=1e-4, atol=1e-3 * factor)
    assert rec.calibrated
    assert rec.step_uv[0] == pytest.approx(5.0 / 65535 * factor)
    if unit != "uV":
        assert f"converted from {unit} to uV" in rec.details["notes"]


def test_non_voltage_dimension_is_refused_naming_label_and_unit(tmp_path):
    sig = edfio.EdfSignal(np.zeros(100), 100, label="Skin temp", physical_dimension="degC",
                          physical_range=(0, 50))
    edfio.Edf([sig]).write(tmp_path / "t.edf")
    with pytest.raises(DeviceError, match="'Skin temp'.*'degC', not a voltage"):
        read_recording(tmp_path / "t.edf")


def test_empty_dimension_is_read_as_microvolts_but_flagged(tmp_path):
    sig = edfio.EdfSignal(np.arange(100.0), 100, label="EMG", physical_range=(-100, 100))
    edfio.Edf([sig]).write(tmp_path / "n.edf")
    rec = read_recording(tmp_path / "n.edf")
    assert not rec.calibrated
    assert any("not calibrated" in n for n in rec.details["notes"])
    np.testing.assert_allclose(rec.samples[:, 0], np.arange(100.0), atol=0.01)


def test_only_signals_at_the_first_rate_unless_channels_pick(tmp_path):
    sigs = [
        edfio.EdfSignal(np.zeros(1000), 1000, label="EMG", physical_dimension="uV"),
        edfio.EdfSignal(np.zeros(10), 10, label="Temp", physical_dimension="degC"),
        edfio.EdfSignal(np.ones(1000), 1000, label="EMG2", physical_dimension="mV"),
    ]
    edfio.Edf(sigs).write(tmp_path / "m.edf")
    rec = read_recording(tmp_path / "m.edf")
    assert rec.labels == ("EMG", "EMG2") and rec.details["not_replayed"] == ["Temp"]
    assert read_recording(tmp_path / "m.edf", channels=[2]).labels == ("EMG2",)
    with pytest.raises(DeviceError, match="different sampling rates"):
        read_recording(tmp_path / "m.edf", channels=[0, 1])
    with pytest.raises(DeviceError, match="no channel 5"):
        read_recording(tmp_path / "m.edf", channels=[5])


@pytest.mark.parametrize("frames,fs", [
    (50860, 4000.0),   # 12.715 s: not whole seconds
    (20011, 4000.0),   # a prime count
    (8001, 4000.5),    # a rate that is not a whole number
    (44101, 44100.0),  # no exact decimal duration at all
    (60000, 20000.0),
])
def test_any_length_and_rate_is_laid_out_without_padding(tmp_path, frames, fs):
    x = emg(frames)
    write(tmp_path / "a.edf", x, fs=fs)
    rec = read_recording(tmp_path / "a.edf")
    assert rec.samples.shape == (frames, 1)
    assert rec.fs == pytest.approx(fs, rel=1e-6)
    assert np.all(np.abs(rec.samples - x) <= rec.step_uv[0] / 2 + 1e-4)


@pytest.mark.parametrize("peak", [0.004, 0.9, 12.3, 99999.0, 4.2e6])
def test_physical_range_fits_the_header_for_small_and_large_signals(tmp_path, peak):
    x = emg(1000, peak=peak)
    write(tmp_path / "a.edf", x)
    rec = read_recording(tmp_path / "a.edf")
    signal = edfio.read_edf(tmp_path / "a.edf").signals[0]
    assert len(str(signal.physical_max)) <= 9  # '1e-07' style would break other readers
    assert np.all(np.abs(rec.samples - x) <= rec.step_uv[0] / 2 + 1e-6 * peak)


def test_header_carries_device_and_settings(tmp_path):
    write(tmp_path / "a.edf", emg(4000), device_uri="sim:rest?seed=3",
          settings={"fs": 4000.0, "calibrated": True, "highpass_hz": 20.0, "lowpass_hz": 2000},
          annotations=[(0.5, None, "gap: 12 frames missing")])
    edf = edfio.read_edf(tmp_path / "a.edf")
    assert edf.recording.equipment_code == "sim:rest?seed=3"
    assert "fs=4000" in edf.recording.additional
    assert edf.signals[0].physical_dimension == "uV"
    assert edf.signals[0].prefiltering == "HP:20Hz LP:2000Hz"
    texts = [a.text for a in edf.annotations]
    assert texts[0].startswith('needlepoint settings {"device":"sim:rest?seed=3"')
    assert "gap: 12 frames missing" in texts
    assert read_recording(tmp_path / "a.edf").details["annotations"] == 2


def test_long_device_uri_is_shortened_in_the_header_but_kept_whole_in_annotations(tmp_path):
    uri = "file:/" + "/".join(["a-rather-long-folder-name"] * 6) + "/recording.edf"
    write(tmp_path / "a.edf", emg(400), device_uri=uri)
    edf = edfio.read_edf(tmp_path / "a.edf")
    assert len(edf.local_recording_identification) <= 80
    assert edf.recording.equipment_code.endswith("/recording.edf")
    assert uri in edf.annotations[0].text


def test_bdf_round_trip(tmp_path):
    x = emg(4000, channels=2)
    write(tmp_path / "a.bdf", x)
    rec = read_recording(tmp_path / "a.bdf")
    assert rec.details["format"].startswith("BDF")
    assert np.all(np.abs(rec.samples - x) <= np.array(rec.step_uv) / 2 + 1e-4)
    assert max(rec.step_uv) < 1e-3  # 24 bits
    write(tmp_path / "b.bdf", rec.samples, step_uv=rec.step_uv)
    again = read_recording(tmp_path / "b.bdf")
    assert np.all(np.abs(again.samples - rec.samples) <= np.array(rec.step_uv) + 1e-4)


def test_header_only_read_does_not_need_the_samples(tmp_path):
    write(tmp_path / "a.edf", emg(12000, channels=3), fs=4000.0)
    head = read_header(tmp_path / "a.edf")
    assert head.samples.shape == (0, 3) and head.frames == 12000 and head.duration_s == 3.0


def test_garbage_is_refused_in_one_line(tmp_path):
    (tmp_path / "bad.edf").write_bytes(b"this is not an EDF file at all" * 40)
    with pytest.raises(DeviceError, match="cannot read .*bad.edf as EDF") as e:
        read_recording(tmp_path / "bad.edf")
    assert "\n" not in str(e.value)


def test_missing_file_and_unknown_ending(tmp_path):
    with pytest.raises(DeviceError, match="does not exist"):
        read_recording(tmp_path / "gone.edf")
    (tmp_path / "x.mp3").write_bytes(b"ID3")
    with pytest.raises(DeviceError, match=r"\.edf, \.bdf, \.wav"):
        read_recording(tmp_path / "x.mp3")


def test_unknown_output_ending_is_refused(tmp_path):
    with pytest.raises(DeviceError, match=r"must end in \.edf, \.bdf, \.wav"):
        write(tmp_path / "a.csv", emg(10))


def test_failed_write_leaves_neither_file_nor_temporary(tmp_path, monkeypatch):
    write(tmp_path / "keep.edf", emg(400))
    before = (tmp_path / "keep.edf").read_bytes()

    def disk_full(self, target):
        target.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(edfio.Edf, "write", disk_full)
    with pytest.raises(DeviceError, match="cannot write .*No space left"):
        write(tmp_path / "keep.edf", emg(400, seed=2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.edf"]
    assert (tmp_path / "keep.edf").read_bytes() == before


def test_nothing_or_non_finite_samples_are_refused(tmp_path):
    with pytest.raises(DeviceError, match="nothing to write"):
        write(tmp_path / "a.edf", np.zeros((0, 1), np.float32))
    with pytest.raises(DeviceError, match="NaN"):
        write(tmp_path / "a.edf", np.array([[0.0], [np.nan]], np.float32))


def test_labels_are_made_safe_for_the_header(tmp_path):
    write(tmp_path / "a.edf", emg(400, channels=3),
          labels=["EDF Annotations", "Ünïcode label that is long", ""])
    assert read_recording(tmp_path / "a.edf").labels == ("EMG", "?n?code label th", "EMG 3")


@pytest.mark.parametrize("name", ["a.edf", "a.bdf"])
def test_the_start_is_kept_to_the_microsecond(tmp_path, name):
    """EDF+ keeps the part of a second in its first annotation: a recording started at
    10:11:12.437 reads back so, not 0.437 s early."""
    start = datetime.datetime(2026, 12, 7, 10, 11, 12, 437512)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and says nothing about it
        write(tmp_path / name, emg(400), start=start)
    read = edfio.read_edf if name.endswith(".edf") else edfio.read_bdf
    edf = read(tmp_path / name)
    assert datetime.datetime.combine(edf.startdate, edf.starttime) == start
