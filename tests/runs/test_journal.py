"""The run journal on its own: torn lines, locking, reading back."""

from __future__ import annotations

import pytest

from modelbay.errors import ConflictError
from modelbay.sdk.spool import Journal


def test_a_torn_last_line_is_dropped_on_open(tmp_path):
    journal = Journal(tmp_path / "run")
    journal.append([b'{"run":{"project":"p","id":"r"}}\n', b'{"points":[[0,1.0,{"a":1}]]}\n'])
    journal.close()
    path = tmp_path / "run" / "run.jsonl"
    whole = path.stat().st_size
    with open(path, "ab") as f:
        f.write(b'{"points":[[1,2.0,{"a"')  # a write cut short by SIGKILL
    again = Journal(tmp_path / "run")
    assert again.size == whole == path.stat().st_size
    assert [r.kind for r in again.records()] == ["run", "points"]
    assert [k for _, k in again.kinds()] == ["run", "points"]
    again.append([b'{"points":[[1,2.0,{"a":2}]]}\n'])
    assert [r.payload for r in again.records(again.first().end)] == [
        [[0, 1.0, {"a": 1}]],
        [[1, 2.0, {"a": 2}]],
    ]
    again.close()


def test_one_writer_at_a_time(tmp_path):
    first = Journal(tmp_path / "run")
    with pytest.raises(ConflictError, match="in use"):
        Journal(tmp_path / "run")
    first.close()
    Journal(tmp_path / "run").close()


def test_sent_cursor_survives_and_bad_values_read_as_zero(tmp_path):
    journal = Journal(tmp_path / "run")
    journal.append([b'{"points":[]}\n'])
    assert journal.sent == 0
    journal.set_sent(journal.size)
    assert journal.sent == journal.size
    (tmp_path / "run" / "run.sent").write_text("garbage")
    assert journal.sent == 0
    (tmp_path / "run" / "run.sent").write_text(str(journal.size + 100))
    assert journal.sent == 0  # past the end: not to be trusted
    journal.close()


def test_long_lines_and_unreadable_lines(tmp_path):
    journal = Journal(tmp_path / "run")
    big = b'{"points":[' + b",".join(b'[%d,1.0,{"k":1}]' % i for i in range(20000)) + b"]}\n"
    journal.append([big, b"not json\n", b'{"update":{"summary":{}}}\n'])
    records = journal.read(0, max_bytes=1024)  # a window smaller than the first line
    assert records[0].kind == "points" and records[0].values == 20000
    assert [r.kind for r in journal.records()] == ["points", "bad", "update"]
    journal.close()
