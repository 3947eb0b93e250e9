"""`needlepoint listen`: a device through the audio path, to the speaker or into a WAV file.

    needlepoint listen --device sim:denervated                     the speaker, until Ctrl-C
    needlepoint listen --device sim:endplate --preset trigger_point --out ep.wav --seconds 10

`--out` renders exactly what the speaker would play: the same filters, renderer and ring,
taken by a simulated sound card clocked by the amplifier's own samples (or, for hardware,
by the host clock the chunks arrived on). A simulator or file renders as fast as it can.
"""

from __future__ import annotations

import argparse
import math
import time
import wave

import numpy as np

from devices import DEFAULT_URI, Isolation
from devices.audio_ring import FADE
from dsp.audio.renderer import DEFAULT_VOLUME, MODES

WAV_FS = 48000.0
OUT_SECONDS = 10.0
STATUS_EVERY_S = 1.0


def add_parser(sub) -> None:
    from app.session.presets import DEFAULT_PRESET, PRESETS

    p = sub.add_parser(
        "listen", help="play a device through the speaker, or render its sound to a WAV",
        description="Play a device through the audio path: to the speaker, or with --out "
        "into a 48 kHz 16-bit WAV file (the same path, clocked by the amplifier).")
    p.add_argument("--device", default=DEFAULT_URI, metavar="URI",
                   help=f"what to listen to (default {DEFAULT_URI})")
    p.add_argument("--preset", default=DEFAULT_PRESET, choices=sorted(PRESETS),
                   help=f"sensitivity and mode of a clinical task (default {DEFAULT_PRESET})")
    p.add_argument("--mode", choices=MODES, default=None,
                   help="raw EMG, raw plus a tick per potential, pitch, or mute "
                   "(default: the preset's)")
    p.add_argument("--sensitivity", type=float, default=None, metavar="UV",
                   help="microvolts per division, which sets the loudness as on an EMG "
                   "machine (default: the preset's)")
    p.add_argument("--volume", type=float, default=DEFAULT_VOLUME, metavar="V",
                   help=f"0 (silent) to 1 (default {DEFAULT_VOLUME})")
    p.add_argument("--squelch", type=float, default=0.0, metavar="UV",
                   help="silence the EMG below this level in uV (default 0: off)")
    p.add_argument("--seconds", type=float, default=None, metavar="S",
                   help=f"how long (default: until Ctrl-C; with --out {OUT_SECONDS:g} s)")
    p.add_argument("--out", metavar="FILE.wav", help="render into this WAV file instead")
    p.add_argument("--output", default=None, metavar="NAME|INDEX",
                   help="the sound output to play on (default: the system's)")
    p.add_argument("--blocksize", type=int, default=128, metavar="N",
                   help="frames per sound card callback (default 128)")
    p.add_argument("--mains", type=int, choices=(50, 60), default=None,
                   help="cancel mains hum at this frequency")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from app.commands.errors import UsageError
    from app.session.open import open_session
    from app.session.presets import preset

    task = preset(args.preset)
    seconds = args.seconds if args.seconds is not None else (OUT_SECONDS if args.out else None)
    if seconds is not None and not (math.isfinite(seconds) and seconds > 0):
        raise UsageError(f"--seconds must be a positive number, not {seconds:g}")
    if not FADE <= args.blocksize <= 4096:  # a block holds at least one whole fade
        raise UsageError(f"--blocksize must be from {FADE} to 4096 frames "
                         f"(got {args.blocksize})")
    if args.out and not args.out.lower().endswith(".wav"):
        raise UsageError(f"--out must name a .wav file (got {args.out})")
    try:
        session = open_session(
            args.device, paced=not args.out, fs_out=WAV_FS, blocksize=args.blocksize,
            sensitivity_uv=(args.sensitivity if args.sensitivity is not None
                            else task.sensitivity_uv),
            volume=args.volume, mode=args.mode or task.audio_mode, squelch_uv=args.squelch,
            mains_hz=args.mains)
    except ValueError as e:  # an absurd volume, sensitivity or squelch
        raise UsageError(str(e)) from None
    try:
        _warn(session.info)
        if args.out:
            return _render(session, seconds, args)
        return _play(session, seconds, args)
    finally:
        session.close()


def _warn(info) -> None:
    if info.isolation is Isolation.NONE:
        print(info.details.get("warning") or f"{info.name} is NOT isolated for patient "
              "connection.")
    if not info.calibrated:
        print(info.details.get("calibration") or
              "UNCALIBRATED: loudness follows a guessed scale; run needlepoint calibrate")


def _play(session, seconds, args) -> int:
    from app.commands.errors import UsageError

    audio, info = session.audio, session.info
    if audio.attach_speaker(args.output, blocksize=args.blocksize) is None:
        raise UsageError(f"{audio.speaker_error}")
    spk = audio.speaker
    print(f"playing {info.uri} ({info.fs:g} Hz) on {spk.name!r} at "
          f"{spk.fs:g} Hz, {spk.blocksize} frames per callback; mode {audio.mode}, "
          f"{audio.sensitivity_uv:g} uV/div, volume {audio.volume:g}"
          + ("" if seconds is None else f", for {seconds:g} s") + "; Ctrl-C stops")
    session.start()
    start = time.monotonic()
    try:
        while seconds is None or time.monotonic() - start < seconds:
            time.sleep(min(STATUS_EVERY_S, seconds - (time.monotonic() - start))
                       if seconds is not None else STATUS_EVERY_S)
            lost = audio.check_speaker()
            if lost:
                print(f"needlepoint: {lost}")
            now = session.snapshot()
            print(audio.status_line(now.status, time.monotonic() - start), flush=True)
            if now.status == "error":
                print(f"needlepoint: {now.last_error}")
                return 1
    except KeyboardInterrupt:
        pass
    return 0


def _render(session, seconds, args) -> int:
    """Step the session by hand: read the device here, run the card up to each chunk's
    time, then feed the chunk."""
    from app.session.audio import VirtualCard

    device, audio = session.device, session.audio
    device.start()
    fs = device.info.fs
    frames = max(round(seconds * fs), 1)
    blocks: list[np.ndarray] = []
    card = None
    done = 0
    t0 = None
    hardware = not device.info.can_run_fast
    while done < frames:
        chunk = device.read(0.5)
        if chunk is None:
            if device.ended:
                break
            continue
        # The card's clock: the amplifier's own samples, or for hardware the host clock.
        t = (chunk.arrival if hardware else chunk.end_index / fs)
        if card is None:
            t0 = t
            card = VirtualCard(audio.ring, WAV_FS, args.blocksize, 0.0,
                               lambda block, *_: blocks.append(block.copy()))
        card.run_until(t - t0)
        session.feed(chunk)
        done += chunk.frames
    underruns = audio.ring.underruns  # (playing out the queue ends in one more)
    if card is not None:
        card.run_until(card.next_s + audio.delay_s() + 0.05)
    out = np.concatenate(blocks) if blocks else np.zeros(0, np.float32)
    write_wav(args.out, out, WAV_FS)
    peak = float(np.abs(out).max()) if out.size else 0.0
    print(f"wrote {out.size / WAV_FS:.2f} s of {audio.mode} sound ({audio.sensitivity_uv:g} "
          f"uV/div, volume {audio.volume:g}) from {device.info.uri} to {args.out}: peak "
          f"{_dbfs(peak)}, {underruns} underruns")
    return 0


def _dbfs(peak: float) -> str:
    return f"{20 * math.log10(peak):.1f} dBFS" if peak > 0 else "silence"


def write_wav(path: str, samples: np.ndarray, fs: float) -> None:
    """Mono 16-bit PCM: full scale is 32767, and the limiter keeps every sample below it."""
    pcm = np.round(np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(fs))
        w.writeframes(pcm.tobytes())
