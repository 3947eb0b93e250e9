"""Static pictures of EMG for docs and review, drawn like an EMG screen (negative up, a grid
of divisions) with numpy alone, written as PNG with zlib. The live app draws with Kivy;
this is for files.

    python -m tools.figures scenarios docs/scenarios     # one PNG per simulator scenario
    python -m tools.figures physio docs/physio           # each kind: physio: beside sim: and
                                                         # the real PhysioNet records
"""

from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path

import numpy as np

from dsp.decimate import minmax_columns

BACKGROUND = (12, 16, 22)
GRID = (40, 52, 64)
AXIS = (70, 88, 104)
TRACE = (120, 230, 140)
KIND_COLOURS = {
    "fibrillation": (255, 200, 60),
    "positive_sharp_wave": (255, 120, 60),
    "end_plate_spike": (90, 180, 255),
    "fasciculation": (255, 80, 200),
    "muap": (230, 230, 230),
    "myotonic_discharge": (200, 120, 255),
    "end_plate_noise": (60, 120, 200),
    "insertional_activity": (160, 160, 160),
    "local_twitch_response": (255, 90, 90),
    "tonic_activity": (200, 200, 90),
}


def write_png(path: str | Path, rgb: np.ndarray) -> None:
    """Write an (h, w, 3) uint8 image as PNG."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        body = tag + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))
    Path(path).write_bytes(png)


def draw_trace(img: np.ndarray, top: int, height: int, x: np.ndarray, uv_per_div: float,
               divisions: tuple[int, int] = (10, 8), negative_up: bool = True) -> None:
    """Draw samples x across the full width of img, between rows top and top+height, with
    a grid of divisions (horizontal, vertical) and `uv_per_div` microvolts per division."""
    w = img.shape[1]
    nx, ny = divisions
    for i in range(nx + 1):
        img[top:top + height, min(int(i * (w - 1) / nx), w - 1)] = GRID
    for j in range(ny + 1):
        img[min(top + int(j * (height - 1) / ny), top + height - 1), :] = GRID
    img[top + height // 2, :] = AXIS
    px_per_uv = height / (ny * uv_per_div)
    sign = 1.0 if negative_up else -1.0  # image rows grow downward
    lo, hi = minmax_columns(x, w)  # every spike stays visible at any zoom
    rows_a = top + height // 2 + sign * lo * px_per_uv
    rows_b = top + height // 2 + sign * hi * px_per_uv
    prev = None
    for col in range(w):
        a, b = sorted((rows_a[col], rows_b[col]))
        if prev is not None:  # join to the previous column so steep edges stay connected
            a, b = min(a, prev), max(b, prev)
        ya = int(np.clip(a, top, top + height - 1))
        yb = int(np.clip(b, top, top + height - 1))
        img[ya:yb + 1, col] = TRACE
        prev = (rows_a[col] + rows_b[col]) / 2


def mark_truth(img: np.ndarray, top: int, height: int, truth, t0: float, t1: float) -> None:
    """Ground-truth ticks (potentials) and bars (segments) under a trace, coloured by kind."""
    w = img.shape[1]

    def col(t: float) -> int:
        return int(np.clip((t - t0) / (t1 - t0) * (w - 1), 0, w - 1))

    for s in truth.segments:
        if s["end"] > t0 and s["start"] < t1:
            img[top:top + height // 2, col(s["start"]):col(s["end"]) + 1] = KIND_COLOURS.get(
                s["kind"], AXIS)
    for e in truth.events:
        if t0 <= e["t"] < t1:
            c = col(e["t"])
            img[top + height // 2:top + height, max(c - 1, 0):c + 2] = KIND_COLOURS.get(
                e["kind"], AXIS)


# Sensitivity per scenario as a clinician would set it (uV per division).
SCENARIO_VIEWS = {
    "rest": 20, "denervated": 50, "endplate": 50, "trigger-point": 100, "voluntary": 200,
    "dystonia": 200, "myotonic": 100,
}
FIGURE_SEED = 1
FS = 20000.0


def _run(name: str, seconds: float, seed: int):
    from devices.simulator import render

    return render(f"sim:{name}?seed={seed}&fs={FS:g}", seconds)


def _interesting_start(truth, default: float = 2.0) -> float:
    """Where a one-second window shows the scenario best: just before its first twitch or
    myotonic discharge, inside its first tonic episode, else a couple of seconds in."""
    for kind in ("local_twitch_response", "tonic_activity"):
        starts = [s["start"] for s in truth.segments if s["kind"] == kind]
        if starts:
            return max(starts[0] - 0.1, 0.0) if kind != "tonic_activity" else starts[0] + 1.0
    myo = [e["t"] for e in truth.events if e["kind"] == "myotonic_discharge"]
    return max(myo[0] - 0.05, 0.0) if myo else default


def scenario_figure(name: str, out: Path, seconds: float = 1.0) -> dict:
    """One second of a scenario (100 ms/div), then its first 100 ms (10 ms/div), with the
    ground truth marked under each. Returns what was drawn, for the caption."""
    full, truth = _run(name, 12.0, FIGURE_SEED)
    start_s = _interesting_start(truth)
    x = full[int(start_s * FS): int((start_s + seconds) * FS)]
    uv = SCENARIO_VIEWS[name]
    w, trace_h, tick_h, gap = 1200, 320, 14, 16
    img = np.zeros((2 * (trace_h + tick_h + gap) + gap, w, 3), np.uint8)
    img[:] = BACKGROUND
    y = gap
    draw_trace(img, y, trace_h, x, uv)
    mark_truth(img, y + trace_h + 2, tick_h, truth, start_s, start_s + seconds)
    y += trace_h + tick_h + gap
    draw_trace(img, y, trace_h, x[: int(0.1 * FS)], uv)
    mark_truth(img, y + trace_h + 2, tick_h, truth, start_s, start_s + 0.1)
    write_png(out, img)
    return {"scenario": name, "uv_per_div": uv, "start_s": round(start_s, 3)}


def scenario_stats(name: str, seconds: float = 60.0, seed: int = FIGURE_SEED) -> dict:
    """What the simulator really produced, per potential kind: amplitude, duration, firing
    rate and regularity of its trains, and how much of the time each segment kind covers."""
    x, truth = _run(name, seconds, seed)
    out: dict = {"rms_uv": float(x.std()), "kinds": {}, "segments": {}}
    for kind in sorted({e["kind"] for e in truth.events}):
        evs = [e for e in truth.events if e["kind"] == kind]
        amps = np.array([e["amplitude_uv"] for e in evs])
        durs = np.array([e["duration_ms"] for e in evs])
        trains = [t for t in truth.trains if t["kind"] == kind and t["count"] >= 5]
        out["kinds"][kind] = {
            "count": len(evs),
            "amplitude_uv": (float(np.percentile(amps, 5)), float(np.percentile(amps, 95))),
            "duration_ms": (float(durs.min()), float(durs.max())),
            "rate_hz": (min((t["rate_hz"] for t in trains), default=0.0),
                        max((t["rate_hz"] for t in trains), default=0.0)),
            "cv": (min((t["cv"] for t in trains), default=0.0),
                   max((t["cv"] for t in trains), default=0.0)),
            "initial": sorted({e["initial"] for e in evs}),
        }
    for s in truth.segments:
        out["segments"][s["kind"]] = out["segments"].get(s["kind"], 0.0) + s["end"] - s["start"]
    out["segments"] = {k: v / seconds for k, v in out["segments"].items()}
    return out


def _range(r: tuple, fmt: str = "{:.0f}") -> str:
    return f"{fmt.format(r[0])}-{fmt.format(r[1])}"


def stats_table(names) -> str:
    rows = ["| scenario | kind | count in 60 s | amplitude p5-p95 (uV) | duration (ms) | "
            "train rate (Hz) | train CV | first phase |",
            "|---|---|---|---|---|---|---|---|"]
    for name in names:
        st = scenario_stats(name)
        for kind, k in st["kinds"].items():
            rows.append(f"| {name} | {kind} | {k['count']} | {_range(k['amplitude_uv'])} | "
                        f"{_range(k['duration_ms'], '{:.1f}')} | "
                        f"{_range(k['rate_hz'], '{:.1f}')} | {_range(k['cv'], '{:.2f}')} | "
                        f"{', '.join(k['initial'])} |")
        segs = ", ".join(f"{kind} {share:.0%}" for kind, share in st["segments"].items())
        rows.append(f"| {name} | RMS {st['rms_uv']:.1f} uV | | | | | | {segs or '-'} |")
    return "\n".join(rows)


# physio: beside sim: and the real records (issue 27) ---------------------------------------

# Per kind: the physio: and sim: scenarios that show it, and the sensitivity (uV/div).
KIND_VIEWS = {
    "fibrillation": ("denervated?grade=2", "denervated?grade=2", 100),
    "positive_sharp_wave": ("denervated?grade=4", "denervated?grade=4", 100),
    "end_plate_spike": ("endplate", "endplate", 200),
    "fasciculation": ("fasciculation", "denervated?grade=1&fasc_hz=2", 500),
    "muap": ("voluntary?effort=0.2", "voluntary?effort=0.2", 500),
    "myotonic_discharge": ("myotonic", "myotonic", 200),
}
SOURCE_COLOURS = {"physio": (255, 150, 40), "sim": (120, 230, 140), "real": (90, 160, 255)}
REAL_RECORD = "emg_healthy"


def _render_any(scheme: str, query: str, seconds: float, seed: int):
    sep = "&" if "?" in query else "?"
    uri = f"{scheme}:{query}{sep}seed={seed}&fs={FS:g}&noise_uv=5"
    if scheme == "physio":
        from devices.physio import render
    else:
        from devices.simulator import render
    return render(uri, seconds)


def _example(truth, kind: str, after_s: float = 1.0) -> float:
    """The time of a clear potential of the kind: the largest after after_s with no other
    potential within 8 ms (any of the kind if none stands alone)."""
    ts = np.array([e["t"] for e in truth.events])
    of_kind = [e for e in truth.events if e["kind"] == kind and e["t"] > after_s]
    alone = [e for e in of_kind if (np.abs(ts - e["t"]) < 0.008).sum() == 1]
    pick = alone or of_kind or truth.events
    return float(max(pick, key=lambda e: e["amplitude_uv"])["t"])


def _real(data: Path, kind: str) -> tuple[np.ndarray, float, float]:
    """The real record's samples, its rate, and where to look: its largest potential for
    motor-unit kinds; its quietest 200 ms for the spontaneous kinds it does not contain."""
    from devices.formats import read_recording

    rec = read_recording(data / f"{REAL_RECORD}.hea")
    x = rec.samples[:, 0].astype(np.float64)
    x = x - np.median(x)
    fs = float(rec.fs)
    if kind in ("muap", "fasciculation"):
        return x, fs, float(np.argmax(np.abs(x)) / fs)
    win = int(0.2 * fs)
    rms = [x[i:i + win].std() for i in range(0, x.size - win, win // 2)]
    return x, fs, float((int(np.argmin(rms)) * (win // 2) + win // 2) / fs)


def _panel(img, top, height, left, width, x, uv):
    sub = img[:, left:left + width]
    draw_trace(sub, top, height, x, uv)


def kind_figure(kind: str, out: Path, data: Path, seed: int = FIGURE_SEED) -> dict:
    """Three rows (physio:, sim:, the real record; a coloured strip on the left says which:
    orange, green, blue), each 200 ms at 20 ms/div on the left and 20 ms around one
    potential at 2 ms/div on the right, at one sensitivity for the kind."""
    phys_q, sim_q, uv = KIND_VIEWS[kind]
    rows = []
    for scheme, q in (("physio", phys_q), ("sim", sim_q)):
        x, truth = _render_any(scheme, q, 12.0, seed)
        rows.append((scheme, x, FS, _example(truth, kind)))
    rx, rfs, rt = _real(data, kind)
    rows.append(("real", rx, rfs, rt))
    w, strip, h, gap = 1400, 14, 220, 14
    img = np.zeros((len(rows) * (h + gap) + gap, w, 3), np.uint8)
    img[:] = BACKGROUND
    long_w = (w - strip - 3 * gap) * 2 // 3
    zoom_w = w - strip - 3 * gap - long_w
    where = {}
    for i, (scheme, x, fs, t) in enumerate(rows):
        top = gap + i * (h + gap)
        img[top:top + h, :strip] = SOURCE_COLOURS[scheme]
        a = max(int((t - 0.05) * fs), 0)
        _panel(img, top, h, strip + gap, long_w, x[a:a + int(0.2 * fs)], uv)
        b = max(int((t - 0.008) * fs), 0)
        _panel(img, top, h, strip + 2 * gap + long_w, zoom_w, x[b:b + int(0.02 * fs)], uv)
        where[scheme] = round(t, 4)
    write_png(out, img)
    return {"kind": kind, "uv_per_div": uv, "at_s": where}


def physio_figures(outdir: Path, data: Path) -> list[dict]:
    outdir.mkdir(parents=True, exist_ok=True)
    return [kind_figure(k, outdir / f"{k}.png", data) for k in KIND_VIEWS]


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "physio":
        data = Path(__file__).resolve().parents[2] / "shared" / "data" / "physionet-emgdb"
        for info in physio_figures(Path(argv[1]), data):
            print(f"{argv[1]}/{info['kind']}.png: {info['uv_per_div']} uV/div, "
                  f"potentials at {info['at_s']} s")
        return 0
    if len(argv) != 2 or argv[0] != "scenarios":
        print("usage: python -m tools.figures scenarios|physio OUTDIR", file=sys.stderr)
        return 2
    outdir = Path(argv[1])
    outdir.mkdir(parents=True, exist_ok=True)
    from devices.simulator.scenarios import SCENARIOS

    for name in SCENARIOS:
        info = scenario_figure(name, outdir / f"{name}.png")
        print(f"{outdir / (name + '.png')}: {info['uv_per_div']} uV/div from "
              f"{info['start_s']} s")
    table = stats_table(SCENARIOS)
    (outdir / "stats.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
