"""The run log: typed files, one version gate, one atomic writer, one process per directory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from value_spectrum.personas import get_persona
from value_spectrum.records import RunManifest, Trajectory, Video
from value_spectrum.runlog import (
    RunDirError,
    RunInUseError,
    RunLock,
    RunLog,
    atomic_open,
    write_atomic,
)
from value_spectrum.values import ValueProfile


def _manifest(run_id: str = "r") -> RunManifest:
    return RunManifest(run_id=run_id, created="2026-01-01T00:00:00+00:00", config={"steps": 1})


def _videos() -> list[Video]:
    return [
        Video(id="a", title="A", values=ValueProfile.from_mapping({"power": 0.9}, default=0.1)),
        Video(id="b", title="B"),
    ]


def test_labels_and_personas_round_trip(tmp_path: Path) -> None:
    log = RunLog(tmp_path)
    log.create(_manifest())
    log.write_labels(_videos(), corpus={"name": "t"}, keyframes={"a": ["/x/kf.png"]}, primary_values={"b": "Power"})
    labels = log.read_labels()
    assert labels["a"].primary_value == "power"
    assert labels["a"].keyframes == ("/x/kf.png",)
    assert labels["a"].values is not None
    assert labels["a"].values.power == pytest.approx(0.9)
    assert labels["b"].values is None
    assert labels["b"].primary_value == "power"
    persona = get_persona("family_oriented")
    log.write_personas([persona])
    targets, names = log.read_personas()
    assert targets["family_oriented"] == persona.target
    assert names["family_oriented"] == persona.name
    assert log.read_manifest().run_id == "r"


@pytest.mark.parametrize("name", ["manifest.json", "labels.json", "personas.json"])
@pytest.mark.parametrize(("version", "word"), [(99, "newer"), (0, "older")])
def test_one_version_gate_for_every_file(tmp_path: Path, name: str, version: int, word: str) -> None:
    log = RunLog(tmp_path)
    log.create(_manifest())
    log.write_labels(_videos())
    log.write_personas([get_persona("family_oriented")])
    path = tmp_path / name
    data = json.loads(path.read_text())
    data["schema_version"] = version
    path.write_text(json.dumps(data))
    read = {"manifest.json": log.read_manifest, "labels.json": log.read_labels, "personas.json": log.read_personas}
    with pytest.raises(RunDirError, match=rf"{name}: field 'schema_version': {version} is {word}"):
        read[name]()


def test_session_of_another_version_is_refused_not_quarantined(tmp_path: Path) -> None:
    log = RunLog(tmp_path)
    log.create(_manifest())
    t = Trajectory(session_id="s1", persona_id="p", model="reference", seed=0)
    path = log.write_session(t)
    data = json.loads(path.read_text())
    data["schema_version"] = 2
    path.write_text(json.dumps(data))
    with pytest.raises(RunDirError, match="newer"):
        log.scan()
    assert path.is_file()  # never moved aside


def test_damaged_files_name_file_and_field(tmp_path: Path) -> None:
    log = RunLog(tmp_path)
    log.create(_manifest())
    log.labels_path.write_text(json.dumps({"schema_version": 1, "videos": {"a": {"primary_value": "powerr"}}}))
    with pytest.raises(RunDirError, match=r"labels.json: field 'videos.a.primary_value'.*powerr"):
        log.read_labels()
    log.personas_path.write_text(json.dumps({"schema_version": 1, "personas": {"p": {"name": "P", "target": {"power": 1}}}}))
    with pytest.raises(RunDirError, match=r"personas.json: field 'personas.p.target'"):
        log.read_personas()
    log.manifest_path.write_text("{not json")
    with pytest.raises(RunDirError, match=r"manifest.json: not JSON"):
        log.read_manifest()
    (log.sessions_path / "x.json").write_text('{"session_id": 3}')
    (log.sessions_path / ".x.abc.tmp.json").write_text("half a file")  # a killed writer's temp file
    scan = log.scan()
    assert len(scan.corrupt) == 1
    assert "x.json" in scan.corrupt[0]
    assert (log.sessions_path / "x.json.corrupt").is_file()


def test_atomic_writer_keeps_the_old_file_when_the_write_fails(tmp_path: Path) -> None:
    out = tmp_path / "export.jsonl"
    write_atomic(out, "old\n")

    def killed_half_way() -> None:
        with atomic_open(out) as fh:
            fh.write("partial")
            raise RuntimeError("killed half-way")

    with pytest.raises(RuntimeError):
        killed_half_way()
    assert out.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["export.jsonl"]  # no temp file left


def test_a_folder_with_other_files_is_not_taken(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(RunDirError, match="a folder with files but no run in it"):
        RunLog(tmp_path).check_can_create()
    empty = tmp_path / "fresh"
    with RunLock(empty):  # the lock file alone does not make a folder "used"
        RunLog(empty).check_can_create()


def test_second_lock_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    with RunLock(tmp_path), pytest.raises(RunInUseError, match=rf"{tmp_path}: in use by process {os.getpid()}"):
        RunLock(tmp_path).acquire()
    with RunLock(tmp_path) as again:  # released: free again
        assert again.held


HOLD = """
import sys, time
from value_spectrum.runlog import RunLock
RunLock(sys.argv[1]).acquire()
print("held", flush=True)
time.sleep(120)
"""


def test_lock_of_a_killed_process_does_not_block(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, env=env, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(RunInUseError, match=rf"in use by process {proc.pid}"):
            RunLock(tmp_path).acquire()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert (tmp_path / ".lock").read_text().strip() == str(proc.pid)  # the stale file is still there
    with RunLock(tmp_path) as lock:  # the kernel dropped the flock when the process died
        assert lock.held
