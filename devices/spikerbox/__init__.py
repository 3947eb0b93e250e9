"""The Backyard Brains SpikerBox protocol family over a serial port (also Upside Down Labs
BioAmp boards): the protocol decoder, board profiles, an emulator on a pty."""
