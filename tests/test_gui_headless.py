"""`needlepoint gui` (what `make run` starts) on a machine with no display: it says so, shows
what works headless, and records a demonstration instead of opening an invisible window."""

from __future__ import annotations

import edfio

from app.commands.cli import main


def test_gui_without_display_explains_and_records(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("NEEDLEPOINT_HOME", str(tmp_path))
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "no display" in out and "needlepoint record" in out and "needlepoint devices" in out
    assert "needlepoint screenshot" in out and "needlepoint analyze" in out
    assert "Fibrillations" in out  # the demonstration recording was analysed
    demo = tmp_path / "recordings" / "demo.edf"
    edf = edfio.read_edf(demo)
    assert edf.signals[0].sampling_frequency == 20000 and edf.duration == 5.0


def test_gui_with_a_bad_device_fails_before_any_window(monkeypatch, capsys):
    monkeypatch.setenv("DISPLAY", ":12345")
    assert main(["gui", "--device", "sim:nothing"]) == 2
    assert "valid:" in capsys.readouterr().err


def test_a_device_not_there_now_is_left_to_the_app_to_show_not_connected():
    """A board not plugged in is not a bad URI: the app opens on it, not connected, and
    waits for it (tests/test_ui_device.py); only a URI that names nothing fails first."""
    import pytest

    from app.commands.gui import checked
    from devices import UnknownDevice

    checked("spikerbox:auto")  # none on USB here: no error, the window says so
    with pytest.raises(UnknownDevice):
        checked("sim:nothing")
