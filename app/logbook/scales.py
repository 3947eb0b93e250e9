"""The outcome scales the logbook knows, and how each value reads back.

One value per scale, muscle, side, goal and time point of a procedure: a correction is a
new observation that supersedes the current one through its `supersedes` link (migration
0007), never an edit, never a second value beside the first. `current` tells which rows are
the values now and which were corrected.

Modified Ashworth has six grades, 0, 1, 1+, 2, 3 and 4: an ordinal scale, not numbers.
The grade is stored as its text ("1+"), and `value` holds its place on the scale (0 to 5)
for ordering and drawing only; nothing reads a grade back from a number. A value stored
before 0007 (no grade) reads as the number it was, "grade not recorded": never a guess.
"""

from __future__ import annotations

ASHWORTH = ("0", "1", "1+", "2", "3", "4")

# name: (label, lowest, highest); whole numbers; "muscle": asked per injected muscle,
# "goal": each value belongs to a goal's text (Goal Attainment Scaling).
SCALES = {
    "pain_nrs": {"label": "Pain NRS", "lo": 0, "hi": 10},
    "modified_ashworth": {"label": "Modified Ashworth", "lo": 0, "hi": 5, "muscle": True},
    "twstrs_severity": {"label": "TWSTRS severity", "lo": 0, "hi": 35},
    "twstrs_disability": {"label": "TWSTRS disability", "lo": 0, "hi": 30},
    "twstrs_pain": {"label": "TWSTRS pain", "lo": 0, "hi": 20},
    "gas": {"label": "GAS", "lo": -2, "hi": 2, "goal": True},
}
TWSTRS = ("twstrs_severity", "twstrs_disability", "twstrs_pain")
TIMEPOINTS = {"before": "at the visit", "after": "after", "followup": "at follow-up"}


def rank(grade: str) -> int:
    """A Modified Ashworth grade's place on the scale, 0 to 5."""
    return ASHWORTH.index(grade)


def key(o: dict) -> tuple:
    """What one value is of: its procedure, scale, time point, muscle, side and goal."""
    return (o["procedure_id"], o["scale"], o["timepoint"], o.get("muscle"), o.get("side"),
            o.get("goal"))


def current(observations: list[dict]) -> list[dict]:
    """Each observation with `superseded_by` (the id of the one that corrected it, or None)
    and `current`. A value is current when nothing supersedes it; of two values recorded
    before links existed (0007) for the same thing, the later one is current."""
    by_id = {o["id"]: o for o in observations}
    superseded = {o["supersedes"]: o["id"] for o in observations if o.get("supersedes")}
    latest: dict[tuple, dict] = {}
    for o in sorted(observations, key=lambda o: o["at"]):
        if o["id"] not in superseded:
            earlier = latest.get(key(o))
            if earlier is not None:  # a duplicate from before 0007: the later one stands
                superseded[earlier["id"]] = o["id"]
            latest[key(o)] = o
    return [{**o, "superseded_by": superseded.get(o["id"]),
             "current": o["id"] not in superseded} for o in by_id.values()]


def shown(o: dict) -> str:
    """The value as it is read: an Ashworth grade as its text ("1+"), a GAS level signed
    ("+1"), a number as a number."""
    if o["scale"] == "modified_ashworth":
        return o["grade"] if o.get("grade") else f"{o['value']:g} (grade not recorded)"
    if o["scale"] == "gas":
        return f"{o['value']:+g}" if o["value"] else "0"
    return f"{o['value']:g}"


def label(scale: str) -> str:
    return SCALES.get(scale, {}).get("label", scale)


def lines(observations: list[dict], names: dict | None = None) -> list[str]:
    """The current values as every export and screen words them, one line each, a
    corrected one with what it replaced: "Modified Ashworth at the visit, Biceps brachii
    left: 1+ (corrected from 3)", "GAS at follow-up, goal "dresses alone": +1"."""
    if names is None:
        from app.logbook import catalogue
        from app.logbook.errors import LogbookError

        try:
            names = {k: m["name"] for k, m in catalogue.default().muscles.items()}
        except LogbookError:  # no catalogue: the ids are still readable
            names = {}
    obs = current(observations) if observations and "current" not in observations[0] \
        else observations
    replaced = {o["superseded_by"]: o for o in obs if o["superseded_by"]}
    order = list(TIMEPOINTS)
    out = []
    for o in sorted(obs, key=lambda o: order.index(o["timepoint"])
                    if o["timepoint"] in order else len(order)):
        if not o["current"]:
            continue
        earlier, link = [], replaced.get(o["id"])
        while link is not None:
            earlier.append(shown(link))
            link = replaced.get(link["id"])
        out.append(f"{what(o, names)}: {shown(o)}"
                   + (f" (corrected from {', then '.join(reversed(earlier))})"
                      if earlier else ""))
    return out


def what(o: dict, names: dict) -> str:
    """What a value is of: the scale, the time point, the muscle and side or the goal."""
    where = " ".join(x for x in (names.get(o.get("muscle"), o.get("muscle")), o.get("side"))
                     if x)
    return (f"{label(o['scale'])} {TIMEPOINTS.get(o['timepoint'], o['timepoint'])}"
            + (f", {where}" if where else "")
            + (f", goal \"{o['goal']}\"" if o.get("goal") else ""))
