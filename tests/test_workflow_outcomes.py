"""Which outcomes a procedure's panel asks for, at the visit and at follow-up, and saving a
tap (app.workflow.outcomes): Ashworth per injected muscle, TWSTRS for cervical dystonia,
goals with their words; a second tap a linked correction that the row says."""

from __future__ import annotations

from app.logbook import demo
from app.workflow import outcomes


def test_rows_per_time_point_and_a_tap_saved_then_corrected(lb, staff):
    doc, nurse = staff
    rec = demo.procedure(lb, snippets=False)  # cervical dystonia, four neck muscles
    visit = outcomes.rows(lb.cat, rec, "before")
    assert [r["title"] for r in visit] == [
        "Modified Ashworth, Sternocleidomastoid left", "Modified Ashworth, Splenius capitis "
        "right", "Modified Ashworth, Trapezius (upper fibres) right",
        "Modified Ashworth, Levator scapulae right", "TWSTRS severity (0-35)",
        "TWSTRS disability (0-30)", "TWSTRS pain (0-20)"]
    assert visit[0]["choices"] == ["0", "1", "1+", "2", "3", "4"]
    assert [r["kind"] for r in visit[4:]] == ["stepper"] * 3 and visit[4]["hi"] == 35
    follow = outcomes.rows(lb.cat, rec, "followup")
    assert follow[0]["title"].startswith("Pain NRS") and len(follow[0]["choices"]) == 11
    assert outcomes.save(lb, visit[0], "1+", nurse["id"]) == ""
    assert outcomes.save(lb, visit[0], "2", doc["id"]) == ""
    assert outcomes.save(lb, visit[4], "36", doc["id"]).startswith("value: TWSTRS severity")
    assert outcomes.set_goal(lb, rec["id"], "  ", "-1", doc["id"]).startswith("Type the goal")
    assert outcomes.set_goal(lb, rec["id"], "turns to drive", "-1", doc["id"]) == ""
    rec = lb.procedure(rec["id"])
    visit = outcomes.rows(lb.cat, rec, "before")
    assert (visit[0]["now"], visit[0]["was"]) == ("2", " (corrected from 1+)")
    assert visit[-1]["title"] == "Goal: turns to drive (level now)" and visit[-1]["now"] == "-1"
    assert outcomes.rows(lb.cat, rec, "followup")[-1]["choices"] == ["-2", "-1", "0", "+1",
                                                                      "+2"]
    assert outcomes.save(lb, outcomes.rows(lb.cat, rec, "followup")[-1], "+1",
                         doc["id"]) == ""


def test_spasticity_asks_no_twstrs(lb, staff):
    doc, nurse = staff
    pt = demo.patient(lb, nurse["id"])
    first, second, *_ = demo.history(lb, pt["id"])
    rows = outcomes.rows(lb.cat, lb.procedure(first), "before")
    assert not any(r["obs"]["scale"].startswith("twstrs") for r in rows)
    # the same muscles at another visit are other rows: a panel shown again for another
    # procedure is built anew, its taps never saved to the one shown before
    later = outcomes.rows(lb.cat, lb.procedure(second), "before")
    assert rows[0]["title"] == later[0]["title"] and rows[0]["key"] != later[0]["key"]
    assert rows[0]["now"] == "3" and rows[0]["was"] == " (corrected from 2)"
