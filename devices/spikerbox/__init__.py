"""The Backyard Brains SpikerBox protocol family over a serial port: the protocol decoder,
board profiles, an emulator on a pty. Upside Down Labs boards (Chords) are recognised only
to be refused."""
