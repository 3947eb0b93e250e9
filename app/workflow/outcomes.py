"""Outcomes asked for on screen, in taps (no keyboard but a goal's words): which scales a
procedure's panel shows at a time point, each with its current value, and saving a tap.

At the visit (the close step, timepoint "before": assessed before injecting): Modified
Ashworth per injected muscle and side, the TWSTRS subscale totals for cervical dystonia,
and the goals set for Goal Attainment Scaling with their level now (-2 or -1). At follow-up
(a procedure's detail in History): pain NRS, Ashworth per muscle again, TWSTRS, and each goal
set at the visit rated -2..+2. Pain before and after are the procedure's own fields (set-up
and close). A second tap on another value is a correction: the logbook links it to the
value it replaces (app.logbook.scales), and the row says so."""

from __future__ import annotations

from app.logbook import LogbookError, scales

TITLES = {"before": "At this visit", "followup": "At follow-up"}


def cervical(cat, rec: dict) -> bool:
    """Cervical dystonia: said in the indication, or a neck muscle injected."""
    text = (rec.get("indication") or "").lower()
    if "torticollis" in text or ("dystonia" in text and "cervical" in text):
        return True
    return any(cat.muscles.get(i.get("muscle") or "", {}).get("region") == "cervical"
               and "dystonia" in text for i in rec["injections"] if not i["voided"])


def muscles(rec: dict) -> list[tuple[str, str | None]]:
    """The injected muscles and sides (not voided), in the order first injected."""
    seen = dict.fromkeys((i["muscle"], i.get("side")) for i in rec["injections"]
                         if not i["voided"] and i.get("muscle"))
    return list(seen)


def rows(cat, rec: dict, timepoint: str) -> list[dict]:
    """The panel's rows: {key, title, kind ("choices" or "stepper"), choices (labels), lo,
    hi, obs (what a value is of), now (the current value as read, or None), was (what it
    corrected, "")}."""
    names = {k: m["name"] for k, m in cat.muscles.items()}
    current = {scales.key(o): o for o in rec["observations"] if o["current"]}
    lines = dict(zip([scales.key(o) for o in rec["observations"] if o["current"]],
                     scales.lines(rec["observations"], names), strict=True))
    out = []

    def add(obs: dict, title: str, kind: str, choices=(), lo=0, hi=0) -> None:
        obs = {"procedure_id": rec["id"], "timepoint": timepoint, "muscle": None,
               "side": None, "goal": None, **obs}
        k = scales.key(obs)
        now = current.get(k)
        line = lines.get(k, "")
        # the key names the procedure too: a panel reused for another procedure is built
        # anew, never left saving to the one it showed before
        out.append({"key": "|".join(str(x) for x in k), "title": title, "kind": kind,
                    "choices": list(choices), "lo": lo, "hi": hi, "obs": obs,
                    "now": scales.shown(now) if now else None,
                    "was": line[line.index(" (corrected"):] if "(corrected" in line else ""})

    if timepoint == "followup":
        add({"scale": "pain_nrs"}, "Pain NRS (0 none, 10 worst)", "choices",
            [str(n) for n in range(11)])
    for muscle, side in muscles(rec):
        add({"scale": "modified_ashworth", "muscle": muscle, "side": side},
            f"Modified Ashworth, {names.get(muscle, muscle)} {side or ''}".strip(),
            "choices", scales.ASHWORTH)
    if cervical(cat, rec):
        for s in scales.TWSTRS:
            d = scales.SCALES[s]
            add({"scale": s}, f"{d['label']} (0-{d['hi']})", "stepper", lo=d["lo"],
                hi=d["hi"])
    for goal in goals(rec):
        if timepoint == "before":
            add({"scale": "gas", "goal": goal}, f"Goal: {goal} (level now)", "choices",
                ("-2", "-1"))
        else:
            add({"scale": "gas", "goal": goal}, f"Goal: {goal}", "choices",
                ("-2", "-1", "0", "+1", "+2"))
    return out


def goals(rec: dict) -> list[str]:
    """The goals set at the visit (their current text), in the order set."""
    return list(dict.fromkeys(o["goal"] for o in rec["observations"]
                              if o["scale"] == "gas" and o["timepoint"] == "before"
                              and o["current"]))


def save(lb, row: dict, choice: str, by: str) -> str:
    """Record the tapped value; "" when saved, else the reason in words."""
    obs = {k: v for k, v in row["obs"].items() if k != "procedure_id" and v is not None}
    if obs["scale"] == "modified_ashworth":
        obs["grade"] = choice
    else:
        try:
            obs["value"] = int(choice)
        except ValueError:
            return "Tap a value"
    try:
        lb.add_observation(row["obs"]["procedure_id"], obs, by)
    except LogbookError as e:
        return str(e)
    return ""


def set_goal(lb, procedure_id: str, text: str, level: str, by: str) -> str:
    """A goal set at the visit, with its level now (-2 or -1): "" when saved."""
    if not (text or "").strip():
        return "Type the goal in a few words, then tap its level now"
    try:
        lb.add_observation(procedure_id, {"scale": "gas", "timepoint": "before",
                                          "goal": text, "value": int(level)}, by)
    except LogbookError as e:
        return str(e)
    return ""
