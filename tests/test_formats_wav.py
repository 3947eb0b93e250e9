"""WAV in and out: the scale comes from our own INFO chunk or from uv_fs, never guessed."""

import numpy as np
import pytest
import scipy.io.wavfile

from devices.errors import DeviceError
from devices.formats import read_header, read_recording, write_recording


def test_our_wav_round_trips_exactly_without_a_parameter(tmp_path):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((5000, 2)) * 300).astype(np.float32)
    write_recording(tmp_path / "a.wav", x, 4000.5, labels=["EMG 1", "far, away"],
                    device_uri="sim:rest?seed=3", settings={"fs": 4000.5}, calibrated=False)
    rec = read_recording(tmp_path / "a.wav")
    np.testing.assert_array_equal(rec.samples, x)  # power-of-two scale: exact in float32
    assert rec.fs == 4000.5  # the fmt chunk only holds 4000 (or 4001)
    assert rec.labels == ("EMG 1", "far, away")
    assert not rec.calibrated
    assert rec.step_uv == (None, None)
    assert rec.details["scale_from"] == "file"
    assert rec.details["recorded_with"] == "sim:rest?seed=3"
    head = read_header(tmp_path / "a.wav")
    assert head.frames == 5000 and head.samples.shape == (0, 2)
    rate, raw = scipy.io.wavfile.read(tmp_path / "a.wav")  # any reader can open it
    assert raw.dtype == np.float32 and np.abs(raw).max() <= 1.0


def foreign_wav(path, data, rate=8000):
    scipy.io.wavfile.write(path, rate, data)
    return path


def test_wav_without_a_scale_asks_for_uv_fs(tmp_path):
    path = foreign_wav(tmp_path / "plain.wav", np.zeros(100, np.int16))
    for read in (read_recording, read_header):
        with pytest.raises(DeviceError, match=r"no microvolt scale: add \?uv_fs="):
            read(path)


@pytest.mark.parametrize("dtype,full", [(np.int16, 32768), (np.int32, 2**31), (np.float32, 1.0)])
def test_uv_fs_scales_foreign_wavs(tmp_path, dtype, full):
    raw = np.array([[0, 1], [-2, 3], [4, -5]], dtype) * (full // 8 if full > 1 else 0.125)
    path = foreign_wav(tmp_path / "f.wav", raw.astype(dtype))
    rec = read_recording(path, uv_full_scale=5000.0)
    np.testing.assert_allclose(rec.samples, raw / full * 5000.0, rtol=1e-6)
    assert rec.samples.shape == (3, 2) and rec.fs == 8000.0
    if dtype is not np.float32:
        assert rec.step_uv == (5000.0 / full,) * 2


def test_eight_bit_wav_is_centred(tmp_path):
    path = foreign_wav(tmp_path / "b.wav", np.array([128, 255, 0], np.uint8))
    rec = read_recording(path, uv_full_scale=1280.0)
    np.testing.assert_allclose(rec.samples[:, 0], [0.0, 1270.0, -1280.0])


def test_uv_fs_overrides_our_stored_scale(tmp_path):
    write_recording(tmp_path / "a.wav", np.full((10, 1), 100.0), 1000, device_uri="t:x",
                    settings={})
    rec = read_recording(tmp_path / "a.wav", uv_full_scale=256.0)
    np.testing.assert_allclose(rec.samples, 200.0)  # 100 uV was stored as 100/128 of scale
    assert rec.details["scale_from"] == "uv_fs"


def test_uv_fs_is_refused_for_formats_with_their_own_scale(tmp_path):
    write_recording(tmp_path / "a.edf", np.zeros((10, 1)), 1000, device_uri="t:x", settings={})
    with pytest.raises(DeviceError, match="uv_fs applies to WAV files only"):
        read_recording(tmp_path / "a.edf", uv_full_scale=5000.0)


def test_damaged_wav_is_refused(tmp_path):
    (tmp_path / "bad.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunk")
    with pytest.raises(DeviceError, match="cannot read .*bad.wav as WAV"):
        read_recording(tmp_path / "bad.wav", uv_full_scale=1.0)
    (tmp_path / "text.wav").write_text("hello")
    with pytest.raises(DeviceError, match="as WAV"):
        read_recording(tmp_path / "text.wav", uv_full_scale=1.0)


def test_24_bit_wav(tmp_path):
    import struct

    counts = [0, 1, -1, 2**23 - 1, -(2**23)]
    data = b"".join(c.to_bytes(3, "little", signed=True) for c in counts)
    fmt = struct.pack("<HHIIHH", 1, 1, 1000, 3000, 3, 24)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack(
        "<I", len(data)) + data + b"\0"
    (tmp_path / "p.wav").write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    rec = read_recording(tmp_path / "p.wav", uv_full_scale=8388.608)
    np.testing.assert_allclose(rec.samples[:, 0], np.array(counts) / 1000, rtol=1e-6)
    assert rec.step_uv == (pytest.approx(0.001),)
    assert rec.details["format"] == "WAV PCM 24-bit"
    assert read_header(tmp_path / "p.wav", uv_full_scale=1.0).frames == 5
