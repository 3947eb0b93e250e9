"""The file: device: same samples however it is paced or cut, looping or ending."""

import numpy as np
import pytest

from devices import DeviceError, Isolation, UnknownDevice, describe, make_device, read_frames
from devices.formats import read_recording, write_recording

FS = 2000.0
FRAMES = 1000


@pytest.fixture
def rec_path(tmp_path):
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((FRAMES, 2)) * 100).astype(np.float32)
    path = tmp_path / "r.edf"
    write_recording(path, x, FS, labels=["A", "B"], device_uri="test:x", settings={})
    return path


def frames_of(uri: str, n: int, paced: bool = False) -> np.ndarray:
    with make_device(uri, paced=paced) as dev:
        return read_frames(dev, n)


def test_describe_reads_the_header(rec_path):
    info = describe(f"file:{rec_path}")
    assert info.kind == "file" and info.fs == FS and info.channels == 2
    assert info.channel_labels == ("A", "B")
    assert info.isolation is Isolation.NOT_APPLICABLE and not info.isolation.patient_rated
    assert info.can_run_fast and info.calibrated and info.uv_per_count is None
    assert info.details["format"] == "EDF+C"
    assert info.details["duration_s"] == FRAMES / FS
    assert info.details["source"] == str(rec_path)


def test_unpaced_gives_the_recording_then_wraps(rec_path):
    expected = read_recording(rec_path).samples
    got = frames_of(f"file:{rec_path}", FRAMES * 2 + 300)
    np.testing.assert_array_equal(got[:FRAMES], expected)
    np.testing.assert_array_equal(got[FRAMES:2 * FRAMES], expected)
    np.testing.assert_array_equal(got[2 * FRAMES:], expected[:300])


def test_paced_and_unpaced_give_identical_samples(rec_path):
    uri = f"file:{rec_path}?block_ms=20"
    paced = frames_of(uri, 300, paced=True)  # 0.15 s of real time
    np.testing.assert_array_equal(paced, frames_of(uri, 300))


@pytest.mark.parametrize("block_ms", [0.5, 3, 37, 1000, 5000])
def test_block_size_does_not_change_the_samples(rec_path, block_ms):
    reference = frames_of(f"file:{rec_path}", 2500)
    np.testing.assert_array_equal(frames_of(f"file:{rec_path}?block_ms={block_ms}", 2500),
                                  reference)


def test_loop_0_ends_after_one_pass(rec_path):
    with make_device(f"file:{rec_path}?loop=0&block_ms=30", paced=False) as dev:
        total, indices = 0, []
        while (chunk := dev.read(1.0)) is not None:
            indices.append((chunk.first_index, chunk.end_index))
            total += chunk.frames
        assert dev.ended and dev.status == "ended"
        assert dev.read(1.0) is None
    assert total == FRAMES
    assert all(a[1] == b[0] for a, b in zip(indices, indices[1:], strict=False))


def test_channels_parameter_picks_channels(rec_path):
    everything = frames_of(f"file:{rec_path}", 100)
    only_b = frames_of(f"file:{rec_path}?channels=1", 100)
    np.testing.assert_array_equal(only_b[:, 0], everything[:, 1])
    assert describe(f"file:{rec_path}?channels=1").channel_labels == ("B",)


def test_file_urls_and_relative_paths(rec_path, monkeypatch):
    monkeypatch.chdir(rec_path.parent)
    assert describe("file:r.edf").details["source"] == str(rec_path)
    assert describe(f"file://{rec_path}").fs == FS


def test_wav_scale_parameter(tmp_path):
    import scipy.io.wavfile

    scipy.io.wavfile.write(tmp_path / "w.wav", 1000, np.array([0, 16384, -32768], np.int16))
    with pytest.raises(DeviceError, match="uv_fs"):
        describe(f"file:{tmp_path / 'w.wav'}")
    got = frames_of(f"file:{tmp_path / 'w.wav'}?uv_fs=1000&loop=0", 3)
    np.testing.assert_allclose(got[:, 0], [0.0, 500.0, -1000.0])


@pytest.mark.parametrize("query,message", [
    ("?speed=2", "unknown parameter speed"),
    ("?channels=a", "channel numbers from 0"),
    ("?channels=4", "no channel 4"),
    ("?block_ms=0", "outside"),
])
def test_bad_parameters_are_named(rec_path, query, message):
    with pytest.raises(UnknownDevice if "channel 4" not in message else DeviceError,
                       match=message):
        make_device(f"file:{rec_path}{query}")


def test_empty_path_is_refused():
    with pytest.raises(UnknownDevice, match="has no path"):
        describe("file:")
