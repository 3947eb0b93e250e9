"""The WFDB reader against the real PhysioNet records, and against damaged copies."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from devices.errors import DeviceError
from devices.formats import read_header, read_recording

EMGDB = Path("/work/shared/data/physionet-emgdb")
RECORDS = ["emg_healthy", "emg_myopathy", "emg_neuropathy"]


def header_frames(name: str) -> int:
    return int((EMGDB / f"{name}.hea").read_text().split()[3])


@pytest.mark.parametrize("name", RECORDS)
def test_physionet_record_reads_as_microvolts(name):
    rec = read_recording(EMGDB / f"{name}.hea")
    expected = (np.fromfile(EMGDB / f"{name}.dat", "<i2") * 0.1).astype(np.float32)
    assert rec.samples.dtype == np.float32
    assert rec.samples.shape == (header_frames(name), 1)
    np.testing.assert_array_equal(rec.samples[:, 0], expected)
    assert rec.fs == 4000.0
    assert rec.calibrated
    assert rec.step_uv == (0.1,)
    assert rec.details["checksum"] == "verified"


@pytest.mark.parametrize("form", ["{}.dat", "{}"])
def test_dat_file_or_bare_record_name_names_the_same_record(form):
    rec = read_recording(EMGDB / form.format("emg_healthy"))
    assert rec.samples.shape == (header_frames("emg_healthy"), 1)


def test_header_only_read_gives_the_length_without_samples():
    head = read_header(EMGDB / "emg_neuropathy.hea")
    assert head.samples.shape == (0, 1)
    assert head.frames == header_frames("emg_neuropathy")
    assert head.duration_s == pytest.approx(36.9645)


def copy_record(tmp_path: Path, name: str) -> Path:
    for ext in (".hea", ".dat"):
        shutil.copy(EMGDB / f"{name}{ext}", tmp_path / f"{name}{ext}")
        (tmp_path / f"{name}{ext}").chmod(0o644)
    return tmp_path / f"{name}.hea"


@pytest.mark.parametrize("name", RECORDS)
def test_one_changed_byte_is_refused_as_corrupt(tmp_path, name):
    hea = copy_record(tmp_path, name)
    dat = hea.with_suffix(".dat")
    raw = bytearray(dat.read_bytes())
    raw[len(raw) // 2 + 1] ^= 0x01  # a high byte: the checksum must change
    dat.write_bytes(bytes(raw))
    with pytest.raises(DeviceError, match=f"{name} is corrupt"):
        read_recording(hea)


def test_truncated_signal_file_is_refused_as_corrupt(tmp_path):
    hea = copy_record(tmp_path, "emg_healthy")
    dat = hea.with_suffix(".dat")
    dat.write_bytes(dat.read_bytes()[:-200])
    with pytest.raises(DeviceError, match="corrupt.*truncated"):
        read_recording(hea)


def test_wrong_initial_value_is_refused_as_corrupt(tmp_path):
    hea = copy_record(tmp_path, "emg_healthy")
    hea.write_text(hea.read_text().replace(" -333 ", " -334 "))
    with pytest.raises(DeviceError, match="corrupt.*starts at -333"):
        read_recording(hea)


def test_other_storage_formats_are_refused_by_name(tmp_path):
    hea = copy_record(tmp_path, "emg_healthy")
    hea.write_text(hea.read_text().replace("emg_healthy.dat 16 ", "emg_healthy.dat 212 "))
    with pytest.raises(DeviceError, match="format 212; only format 16"):
        read_recording(hea)


def write_record(tmp_path: Path, counts: np.ndarray, gains: list[str], fs: str = "1000"):
    """A WFDB record with interleaved signals and correct checksums."""
    counts.astype("<i2").tofile(tmp_path / "r.dat")
    lines = [f"r {counts.shape[1]} {fs} {counts.shape[0]}"]
    for j, gain in enumerate(gains):
        total = (int(counts[:, j].sum()) + 32768) % 65536 - 32768
        lines.append(f"r.dat 16 {gain} 16 0 {counts[0, j]} {total} 0 ch{j}")
    (tmp_path / "r.hea").write_text("\n".join(lines) + "\n")
    return tmp_path / "r.hea"


def test_interleaved_signals_baseline_units_and_default_gain(tmp_path):
    counts = np.array([[10, 100, 7], [20, -100, 8], [30, 300, 9]], np.int16)
    hea = write_record(tmp_path, counts, ["2(10)/uV", "0.5/V", "0"])
    rec = read_recording(hea)
    assert rec.labels == ("ch0", "ch1", "ch2")
    np.testing.assert_allclose(rec.samples[:, 0], (counts[:, 0] - 10) / 2)
    np.testing.assert_allclose(rec.samples[:, 1], counts[:, 1] / 0.5 * 1e6)
    np.testing.assert_allclose(rec.samples[:, 2], counts[:, 2] / 200 * 1000)  # WFDB's 200/mV
    assert not rec.calibrated  # gain 0: the scale is a convention, not a calibration
    assert read_recording(hea, channels=[1]).samples.shape == (3, 1)


def test_non_voltage_signal_is_refused(tmp_path):
    hea = write_record(tmp_path, np.zeros((4, 1), np.int16), ["100/degC"])
    with pytest.raises(DeviceError, match="'ch0'.*'degC', not a voltage"):
        read_recording(hea)
