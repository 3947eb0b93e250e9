"""The minimal listener `bench e2e` measures the app against, in the same run: what a hobby
script does with a 1-channel 10-bit SpikerBox. A pyserial reader thread decodes frames into
a bounded deque (a fast board's surplus falls off its old end), and a sounddevice callback
of 128 frames plays them held sample by sample at 48 kHz. No filters, no analyser, no fill
control: the floor any listener pays on this machine.

    python -m app.bench.baseline PORT SECONDS
"""

import collections
import sys
import threading
import time

import numpy as np
import serial
import sounddevice as sd

FS_IN, FS_OUT, BLOCK = 10_000.0, 48_000, 128
KEPT_S = 0.01  # the deque's bound: 10 ms of samples


def main(port: str, seconds: float) -> None:
    queue = collections.deque(maxlen=int(KEPT_S * FS_IN))
    link = serial.Serial(port, 222222, timeout=0.02)
    state = {"underruns": 0, "phase": 0.0, "hi": None, "started": False}

    def reader():
        while True:
            for b in link.read(max(link.in_waiting, 1)):
                if b & 0x80:
                    state["hi"] = b & 0x7F
                elif state["hi"] is not None:
                    queue.append(((state["hi"] << 7 | b) - 512) / 512.0)
                    state["hi"] = None

    def callback(out, frames, _time, _status):
        # Sample and hold: output sample i plays input sample floor(phase + i * step).
        step = FS_IN / FS_OUT
        held = np.floor(state["phase"] + np.arange(frames) * step).astype(int)
        need = int(state["phase"] + frames * step)
        if len(queue) < need + 1:
            out.fill(0)
            state["underruns"] += state["started"]
            return
        state["started"] = True
        samples = [queue.popleft() for _ in range(need)] + [queue[0]]
        out[:, 0] = np.asarray(samples, np.float32)[held]
        state["phase"] = state["phase"] + frames * step - need

    threading.Thread(target=reader, daemon=True).start()
    with sd.OutputStream(samplerate=FS_OUT, blocksize=BLOCK, channels=1, dtype="float32",
                         latency="low", callback=callback):
        for second in range(int(seconds)):
            time.sleep(1.0)
            print(f"{second + 1} s underruns {state['underruns']}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
