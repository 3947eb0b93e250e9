"""Device URIs, descriptions without opening, the life cycle, and `needlepoint devices`."""

from __future__ import annotations

import json

import pytest

from app.commands.cli import main
from devices import DeviceError, UnknownDevice, describe, discover, make_device
from devices.uri import parse_uri


def test_uri_parts_and_parameters():
    uri = parse_uri("sim:denervated?seed=3&fs=20000")
    assert (uri.scheme, uri.target, uri.params) == ("sim", "denervated",
                                                    {"seed": "3", "fs": "20000"})
    assert parse_uri("file:/tmp/a%20b.edf").target == "/tmp/a b.edf"


def test_description_is_read_without_opening():
    info = describe("sim:denervated?seed=3&fs=10000")
    assert (info.kind, info.fs, info.channels, info.calibrated) == ("simulator", 10000, 1, True)
    assert info.details["seed"] == 3 and info.details["scenario"] == "denervated"
    assert not info.isolation.patient_rated


@pytest.mark.parametrize("uri, words", [
    ("nope:thing", ["unknown device scheme", "sim:", "file:"]),
    ("sim:nerve", ["unknown simulator scenario", "denervated", "trigger-point"]),
    ("sim:rest?sede=3", ["unknown parameter sede", "seed"]),
    ("sim:rest?fs=fast", ["fs=fast", "float"]),
    ("sim:rest?fs=5", ["outside"]),
    ("sim:rest?mains=55", ["choose one of", "50", "60"]),
    ("sim:rest?seed=1&seed=2", ["twice"]),
    ("justaname", ["not a device URI"]),
])
def test_bad_uris_say_what_to_change(uri, words):
    with pytest.raises(UnknownDevice) as e:
        describe(uri)
    for w in words:
        assert w in str(e.value)


def test_life_cycle_is_enforced():
    dev = make_device("sim:rest", paced=False)
    with pytest.raises(DeviceError, match="open"):
        dev.read()
    dev.open()
    with pytest.raises(DeviceError, match="already open"):
        dev.open()
    dev.start()
    a = dev.read(1.0)
    b = dev.read(1.0)
    assert b.first_index == a.end_index and b.seq == a.seq + 1
    dev.stop()
    dev.start()  # a stop and start continues the sample count
    c = dev.read(1.0)
    assert c.first_index == b.end_index
    dev.close()
    assert dev.state.value == "closed"


def test_discover_lists_every_scenario():
    uris = [i.uri for i in discover()]
    for name in ("rest", "denervated", "endplate", "trigger-point", "voluntary", "dystonia",
                 "myotonic"):
        assert f"sim:{name}" in uris


def test_devices_command_table_and_json(capsys):
    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    assert "sim:denervated" in out and "20000 Hz" in out and "file:<path>" in out
    assert main(["devices", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    sim = next(r for r in rows if r["uri"] == "sim:rest")
    assert sim["fs"] == 20000 and sim["patient_rated"] is False


def test_cli_bad_device_is_one_line_and_exit_2(capsys, tmp_path):
    code = main(["record", "--device", "sim:nerve", "--seconds", "1",
                 "--out", str(tmp_path / "x.edf")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("needlepoint: unknown simulator scenario") and err.count("\n") == 1
    assert "Traceback" not in err
