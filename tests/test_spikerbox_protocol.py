"""The SpikerBox decoder against hostile streams: garbage and message blocks spliced
between and inside frames, fed cut at any points."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from devices.spikerbox.profiles import (
    GENERIC,
    PROFILES,
    is_bootloader,
    profile_for_hwt,
    profile_for_usb,
)
from devices.spikerbox.protocol import (
    BLOCK_CAP,
    BLOCK_END,
    BLOCK_START,
    Decoder,
    encode_frames,
    encode_message,
    zero_for,
)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

words = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=5)
values = st.text("abcXYZ0123456789.", max_size=8)
message_lists = st.lists(st.tuples(words, values), min_size=1, max_size=3)


@st.composite
def streams(draw, garbage=True):
    """A stream of frames with insertions: (stream, frames, untouched mask, messages, frames
    cut, blocks). An insertion at offset 0 goes between frames, at offset k inside a frame."""
    channels = draw(st.integers(1, 6))
    bits = draw(st.sampled_from([10, 14]))
    n = draw(st.integers(0, 40))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    frames = rng.integers(0, 1 << bits, (n, channels)).astype(np.int16)
    kinds = st.sampled_from(["block", "garbage"] if garbage else ["block"])
    inserts = draw(st.lists(st.tuples(st.integers(0, n), st.integers(0, 2 * channels - 1),
                                      kinds, message_lists, st.binary(min_size=1, max_size=12)),
                            max_size=8))
    by_place: dict[tuple[int, int], list] = {}
    for i, off, kind, msgs, junk in inserts:
        by_place.setdefault((i, 0 if i == n else off), []).append((kind, msgs, junk))
    out, messages, starts, ends = bytearray(), [], [], []
    touched = np.zeros(n, bool)
    for i in range(n + 1):
        raw = encode_frames(frames[i:i + 1]) if i < n else b""
        for off in range(max(len(raw), 1)):
            for kind, msgs, junk in by_place.get((i, off), []):
                if off:
                    touched[i] = True
                if kind == "garbage":
                    out += junk
                    continue
                starts.append(len(out))
                out += encode_message("".join(f"{k}:{v};" for k, v in msgs))
                ends.append(len(out) - len(BLOCK_END))
                messages += msgs
            out += raw[off:off + 1]
    stream = bytes(out)
    # garbage that happens to spell a marker makes a block of its own: not this test's case
    assume(_find_all(stream, BLOCK_START) == starts and _find_all(stream, BLOCK_END) == ends)
    return stream, frames, ~touched, messages, int(touched.sum()), len(starts)


def _find_all(data: bytes, pattern: bytes) -> list[int]:
    found, at = [], data.find(pattern)
    while at >= 0:
        found.append(at)
        at = data.find(pattern, at + 1)
    return found


def _feed(decoder: Decoder, stream: bytes, cuts) -> tuple[np.ndarray, list]:
    frames, messages = [], []
    edges = [0, *sorted(c for c in cuts if 0 < c < len(stream)), len(stream)]
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        out = decoder.feed(stream[a:b])
        assert out.frames.ndim == 2 and out.frames.shape[1] == decoder.channels
        frames.append(out.frames)
        messages += out.messages
    return np.concatenate(frames), messages


def _is_subsequence(needles: np.ndarray, hay: np.ndarray) -> bool:
    j = 0
    for row in hay:
        if j < len(needles) and np.array_equal(row, needles[j]):
            j += 1
    return j == len(needles)


def _counters(d: Decoder) -> tuple:
    return (d.frames_total, d.discarded_frames, d.discarded_bytes, d.blocks, d.bad_blocks,
            d.block_bytes, d.pending)


@FAST
@given(streams(), st.lists(st.integers(0, 2000), max_size=12))
def test_untouched_frames_come_out_in_order_and_intact(case, cuts):
    stream, frames, untouched, messages, _, blocks = case
    decoder = Decoder(frames.shape[1])
    got, got_messages = _feed(decoder, stream, cuts)
    assert _is_subsequence(frames[untouched], got)
    assert got_messages == messages
    assert decoder.blocks == blocks and decoder.bad_blocks == 0
    accounted = (decoder.frames_total * 2 * decoder.channels + decoder.discarded_bytes
                 + decoder.block_bytes + decoder.pending)
    assert accounted == len(stream)


@FAST
@given(streams(garbage=False), st.lists(st.integers(0, 2000), max_size=12))
def test_blocks_inside_frames_cost_exactly_those_frames(case, cuts):
    stream, frames, untouched, messages, cut, _ = case
    decoder = Decoder(frames.shape[1])
    got, got_messages = _feed(decoder, stream, cuts)
    np.testing.assert_array_equal(got, frames[untouched])
    assert got_messages == messages
    assert decoder.discarded_frames == cut
    assert decoder.discarded_bytes == cut * 2 * decoder.channels
    assert decoder.pending == 0


@FAST
@given(st.integers(1, 6), st.binary(max_size=600), st.lists(st.integers(0, 600), max_size=20),
       streams())
def test_any_cut_decodes_like_one_piece(channels, junk, cuts, case):
    # raw junk (markers, half markers, top bits anywhere) around a valid stream
    stream = junk + case[0] + junk[: len(junk) // 2]
    whole = Decoder(channels)
    one_frames, one_messages = _feed(whole, stream, [])
    split = Decoder(channels)
    cut_frames, cut_messages = _feed(split, stream, cuts)
    np.testing.assert_array_equal(one_frames, cut_frames)
    assert one_messages == cut_messages
    assert _counters(whole) == _counters(split)


def test_a_million_random_bytes_never_raise():
    rng = np.random.default_rng(7)
    data = rng.integers(0, 256, 1_000_000, dtype=np.uint8).tobytes()
    data = data[:500_000] + BLOCK_START + b"HWT:X;" + data[500_000:]  # one half-block too
    for channels in (1, 2, 6):
        once = Decoder(channels)
        once.feed(data)
        pieces = Decoder(channels)
        cuts = np.cumsum(rng.integers(1, 300, 20_000))
        _feed(pieces, data, cuts.tolist())
        assert _counters(once) == _counters(pieces)
        assert once.frames_total > 0 and once.discarded_bytes > 0


@pytest.mark.parametrize("channels", [1, 2, 6])
def test_a_frame_comes_out_with_its_last_byte(channels):
    frames = np.arange(3 * channels, dtype=np.int16).reshape(3, channels) * 700
    stream = encode_frames(frames)
    decoder = Decoder(channels)
    width = 2 * channels
    for i, byte in enumerate(stream):
        out = decoder.feed(bytes([byte]))
        complete = (i + 1) % width == 0
        assert out.frames.shape[0] == (1 if complete else 0)
        if complete:
            np.testing.assert_array_equal(out.frames[0], frames[i // width])


def test_values_of_both_ranges_round_trip():
    counts = np.array([[0, 16383], [8192, 512], [1023, 127], [128, 1]], np.int16)
    assert encode_frames(counts)[:4] == bytes([0x80, 0x00, 0x7F, 0x7F])
    np.testing.assert_array_equal(Decoder(2).feed(encode_frames(counts)).frames, counts)
    with pytest.raises(ValueError):
        encode_frames(np.array([16384]))


def test_messages_split_across_reads():
    stream = encode_frames(np.array([[5]])) + encode_message("FWV:1.11;HWT:MUSCLESB;HWV:1;")
    decoder = Decoder(1)
    messages = []
    for i in range(len(stream)):
        messages += decoder.feed(stream[i:i + 1]).messages
    assert messages == [("FWV", "1.11"), ("HWT", "MUSCLESB"), ("HWV", "1")]


def test_a_block_that_never_ends_is_dropped_and_the_frames_after_it_kept():
    frames = np.arange(1, 301, dtype=np.int16)[:, None]
    stream = BLOCK_START + b"HWT:MUSC" + encode_frames(frames)
    decoder = Decoder(1)
    got, messages = _feed(decoder, stream, range(0, len(stream), 7))
    assert len(stream) > BLOCK_CAP and decoder.bad_blocks == 1 and messages == []
    np.testing.assert_array_equal(got, frames)


def test_a_stray_block_end_is_skipped():
    frames = np.array([[1, 2], [3, 4]], np.int16)
    stream = encode_frames(frames[:1]) + BLOCK_END + encode_frames(frames[1:])
    decoder = Decoder(2)
    np.testing.assert_array_equal(decoder.feed(stream).frames, frames)
    assert decoder.discarded_bytes == len(BLOCK_END)


def test_channel_count_changes():
    decoder = Decoder(1)
    decoder.set_channels(3)
    frames = np.array([[1, 2, 3]], np.int16)
    np.testing.assert_array_equal(decoder.feed(encode_frames(frames)).frames, frames)
    with pytest.raises(ValueError):
        decoder.set_channels(0)


def test_zero_and_message_limits():
    assert zero_for(10) == 512 and zero_for(14) == 8192
    with pytest.raises(ValueError):
        encode_message("X" * BLOCK_CAP)


def test_profiles():
    for profile in PROFILES:
        for name in profile.hwt:
            assert profile_for_hwt(f"HWT:{name};") is profile
        assert profile.isolation.value == "none" and not profile.isolation.patient_rated
        assert "Not isolated" in profile.warning
        assert profile.zero == zero_for(profile.bits)
    assert profile_for_hwt("SOMETHING ELSE") is GENERIC
    assert GENERIC.fs_for(1) == 10_000 and GENERIC.bits == 10
    shield = profile_for_hwt("MUSCLESS")
    assert shield.fs_for(4) == 2_500 and round(shield.clock_ppm) == 5025
    human = profile_for_hwt("HUMANSB")
    assert (human.fs, human.channels, human.bits, human.zero) == (5_000, 2, 14, 8192)
    pro = profile_for_hwt("MSBPCDC")
    assert pro.needs_start and pro.fs_for(2) == 10_000 and pro.fs_for(4) == 5_000
    assert profile_for_hwt("UNIBOX").fs == 42_661
    assert profile_for_usb(0x0403, 0x6015).bauds == (222_222, 500_000)
    assert profile_for_usb(0x2E73, 0x0004) is human
    assert profile_for_usb(0x2E73, 0x0005) is None and is_bootloader(0x2E73, 0x0005)
    assert is_bootloader(0x2E73, 0x000B) and not is_bootloader(0x2E73, 0x0004)
