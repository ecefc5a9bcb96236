"""Incidents on disk: the newest 20 per session are kept, served newest first, and nothing
outside their folder can be reached by an id."""

from __future__ import annotations

from pathlib import Path

from actors.ids import incident_id, is_incident_id
from actors.incidents import IncidentStore


def incident(session: str, n: int) -> dict[str, object]:
    return {"id": incident_id(f"{n:012x}abcdef"), "session_id": session, "reason": "crash",
            "n": n}


def test_the_newest_twenty_of_a_session_are_kept_newest_first(tmp_path: Path) -> None:
    store = IncidentStore(tmp_path / "incidents")
    for n in range(25):
        store.save(incident("acct-1", n), screenshot=b"\x89PNG" if n % 2 else None)
    store.save(incident("acct-2", 99), screenshot=None)
    kept = store.of_session("acct-1")
    assert [i["n"] for i in kept] == list(range(24, 4, -1))
    assert store.get(str(kept[0]["id"])) == kept[0]
    assert store.screenshot(str(kept[1]["id"])) == b"\x89PNG"  # odd ones had a screenshot
    assert store.screenshot(str(kept[0]["id"])) is None
    assert store.screenshot(incident_id(f"{4:012x}abcdef")) is None  # pruned with its picture
    assert len(list((tmp_path / "incidents" / "acct-1").glob("*.png"))) == 10
    assert [i["n"] for i in store.of_session("acct-2")] == [99]
    assert store.of_session("nobody") == []


def test_an_id_that_is_not_an_incident_id_reaches_no_file(tmp_path: Path) -> None:
    store = IncidentStore(tmp_path / "incidents")
    (tmp_path / "secret.json").write_text('{"id": "stolen"}')
    store.save(incident("acct-1", 1), screenshot=None)
    for bad in ("../secret", "../../secret", "inc_../../secret", "inc_XYZ", "", "inc_" + "a" * 40):
        assert not is_incident_id(bad)
        assert store.get(bad) is None and store.screenshot(bad) is None
