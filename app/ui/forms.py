"""Form pieces shared by the workflow screens: a labelled field with its message beside it,
a section title, and the PIN pad. Layout in forms.kv; no logic beyond passing text on."""

from __future__ import annotations

from pathlib import Path

from kivy.lang import Builder
from kivy.properties import BooleanProperty, ListProperty, ObjectProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout

from app.logbook import pins

Builder.load_file(str(Path(__file__).with_name("forms.kv")))

MESSAGE_COLOUR = (1, 0.72, 0.35, 1)  # warm amber on the dark theme: readable, not alarming
KEYBOARD_ROOM = 0.5  # of the window's height: what an on-screen keyboard may cover
KEYPAD_SETTLE_S = (0, 0.1, 0.3)  # when to bring an opened keypad whole into view


def keep_clear_of_keyboard(box, focus: bool) -> None:
    """A field being typed into stays in view. A text field is scrolled to the top of its
    form's view, with room added below the form while it has the focus (half the window),
    so even the last field gets there: an on-screen keyboard rises from the bottom and
    covers at most half the screen, and Kivy's own lift (Window.softinput_mode) reads no
    keyboard height on SDL2's Android. A keypad field (its keypad under it) is scrolled
    just enough to show the field and its keypad whole."""
    from kivy.clock import Clock
    from kivy.core.window import Window
    from kivy.uix.scrollview import ScrollView

    sv = box.parent
    while sv is not None and not isinstance(sv, ScrollView):
        sv = sv.parent if sv.parent is not sv else None
    if sv is None or not sv.children:
        return
    content = sv.children[0]
    if box.keyboard_mode == "managed":  # a keypad field: the Field holds input and keys
        if focus:  # once the keypad has its height (a frame or a few after the focus)
            for delay in KEYPAD_SETTLE_S:
                Clock.schedule_once(lambda _dt: sv.scroll_to(box.parent, padding=10,
                                                             animate=False), delay)
        return
    saved = getattr(content, "_np_padding", None)
    if focus and hasattr(content, "padding"):
        if saved is None:
            content._np_padding = saved = list(content.padding)
        left, top, right, bottom = saved
        content.padding = [left, top, right, bottom + Window.height * KEYBOARD_ROOM]
        Clock.schedule_once(lambda _dt: _to_top(sv, box), 0)
    elif not focus and saved is not None:
        content.padding = saved
        del content._np_padding


def _to_top(sv, widget) -> None:
    """Scroll `sv` so that `widget`'s top sits at the top of the view."""
    from kivy.metrics import dp

    content = sv.children[0]
    extent = content.height - sv.height
    if extent <= 0:
        return
    top = content.to_widget(*widget.to_window(widget.x, widget.top))[1] - content.y
    sv.scroll_y = min(1.0, max(0.0, (top + dp(12) - sv.height) / extent))


class Section(BoxLayout):
    """A part of a form shown only when it applies. Hidden, it takes no room and no touch:
    a merely disabled widget would still swallow the touches over where it lies."""

    shown = BooleanProperty(True)

    def on_touch_down(self, touch):
        return super().on_touch_down(touch) if self.shown else False

    def on_touch_move(self, touch):
        return super().on_touch_move(touch) if self.shown else False

    def on_touch_up(self, touch):
        return super().on_touch_up(touch) if self.shown else False


class Field(Section):
    """Title, a text input and the message about what was typed (kept as typed).

    `on_edit` comes with each keystroke (for a preview); `on_confirm` once per value the
    person confirmed: Enter, or the focus leaving with the text changed since it was shown
    or last confirmed. A screen that records fields binds `on_confirm`, so the record holds
    what was meant, not what was typed on the way."""

    title = StringProperty("")
    text = StringProperty("")
    hint = StringProperty("")
    message = StringProperty("")
    note = StringProperty("")  # a neutral line under the input (what was computed)
    password = BooleanProperty(False)
    keypad = StringProperty("")  # "decimal" or "digits": typed on its own keypad
    filtered = BooleanProperty(True)  # a keypad field's keyboard keys limited to a number
    # (off where a wedge scanner may type a barcode into it: the scan must arrive whole)
    confirmed = StringProperty("")  # the text as last shown from the record or confirmed
    __events__ = ("on_edit", "on_confirm")
    _typing: Field | None = None  # the keypad field being typed into, on any screen

    def changed(self, value: str) -> None:
        self.text = value
        self.dispatch("on_edit", value)

    def show(self, text: str, message: str = "") -> None:
        """Text from the record: shown as it stands, nothing to confirm."""
        self.confirmed = text
        self.text = text
        self.message = message

    @property
    def pending(self) -> bool:
        return self.text != self.confirmed

    def confirm(self) -> None:
        if self.pending:
            self.confirmed = self.text
            self.dispatch("on_confirm", self.text)

    def focused(self, focus: bool) -> None:
        """A keypad field keeps its focus while its keys are touched; it lets go when
        another keypad field is touched (one keypad open at a time) or OK is pressed."""
        box = self.ids.input
        if not focus:
            if self.keypad:
                box.hide_keyboard()
            self.confirm()
            if Field._typing is self:
                Field._typing = None
            return
        if self.keypad:
            previous, Field._typing = Field._typing, self
            if previous is not None and previous is not self:
                previous.ids.input.focus = False
            # A hardware keyboard (or a tablet's own numeric input) still types here;
            # Kivy's own on-screen keyboard, a QWERTY one, is never called up.
            from kivy.core.window import Window

            if not Window.allow_vkeyboard:
                box.show_keyboard()

    def done_typing(self) -> None:
        self.ids.input.focus = False  # confirms

    def on_edit(self, value: str) -> None:
        pass

    def on_confirm(self, value: str) -> None:
        pass


class PinGate:
    """A PIN for one act (signing in; a physician's override, signature or amendment),
    checked without holding the frame (Access.check_later), one check at a time: a second
    tap while the first is checked does nothing, so the act cannot run twice."""

    CHECKING = "Checking the PIN..."

    def __init__(self):
        self.busy = False

    def check(self, access, who: str, pin: str, say, then, whose: str = "",
              role: str | None = "physician") -> None:
        """`say(words)` shows "Checking the PIN...", then "" or why not (after `whose`, as
        "Physician's PIN: "); `then()` runs the act once the PIN is right. `role`: the
        role `who` must have (None: any, for an act the logbook checks itself)."""
        self._run(lambda done: access.check_later(who, pin, role, done), say, then, whose)

    def sign_in(self, access, who: str, pin: str, say, then) -> None:
        """The lock's sign-in, the same way (`Access.sign_in_later`)."""
        self._run(lambda done: access.sign_in_later(who, pin, done), say, then, "")

    def _run(self, start, say, then, whose: str) -> None:
        if self.busy:
            return
        self.busy = True
        say(self.CHECKING)

        def done(refused: str) -> None:
            self.busy = False
            say(whose + refused if refused else "")
            if not refused:
                then()

        start(done)


class Keypad(GridLayout):
    """Digits (and a decimal point) typed into `target`, a TextInput, under the field:
    a numeric field or a PIN never calls up a QWERTY keyboard, and the keys sit right
    below the field they type into, so nothing covers it."""

    target = ObjectProperty(None, allownone=True)
    decimal = BooleanProperty(False)
    shown = BooleanProperty(False)
    __events__ = ("on_done",)

    def key(self, k: str) -> None:
        t = self.target
        if t is None:
            return
        if k == "ok":
            self.dispatch("on_done")
        elif k == "del":
            t.text = t.text[:-1]
        elif k == "clear":
            t.text = ""
        elif k != "." or (self.decimal and "." not in t.text):
            t.text += k

    def on_done(self) -> None:
        pass

    def on_touch_down(self, touch):
        return super().on_touch_down(touch) if self.shown else False

    def on_touch_up(self, touch):
        return super().on_touch_up(touch) if self.shown else False


class PinPad(BoxLayout):
    """Who (one button per user) and the PIN, on big keys."""

    users = ListProperty([])  # [{"id", "name", "role"}]
    chosen = StringProperty("")
    pin = StringProperty("")
    message = StringProperty("")
    title = StringProperty("Sign in")
    submit = ObjectProperty(None, allownone=True)  # called (user_id, pin)

    def on_users(self, *_):
        from kivy.factory import Factory

        grid = self.ids.who
        grid.clear_widgets()
        for u in self.users:
            b = Factory.NpPick(text=f"{u['name']}  ({u['role']})")
            b.user_id = u["id"]
            b.bind(on_release=lambda btn: self.choose(btn.user_id))
            grid.add_widget(b)
        if len(self.users) == 1:
            self.choose(self.users[0]["id"])
        else:
            self.choose(self.chosen if any(u["id"] == self.chosen for u in self.users) else "")

    def choose(self, user_id: str) -> None:
        self.chosen, self.pin, self.message = user_id, "", ""
        for b in self.ids.who.children:
            b.chosen = b.user_id == user_id

    def key(self, k: str) -> None:
        if k == "del":
            self.pin = self.pin[:-1]
        elif k == "ok":
            if self.submit is not None:
                self.submit(self.chosen, self.pin)
            self.pin = ""
        elif len(self.pin) < pins.MAX_LENGTH:
            self.pin += k


class OutcomeChoices(GridLayout):
    """A row of choices that wraps onto more rows rather than shrink a button under
    48 dp (eleven pain scores in a narrow column)."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.bind(width=self._fit, children=self._fit)

    def _fit(self, *_):
        from kivy.metrics import dp

        n = max(1, len(self.children))
        fits = int((self.width + self.spacing[0]) // (dp(56) + self.spacing[0]))
        cols = max(1, min(n, fits))
        rows = -(-n // cols)
        cols = -(-n // rows)  # as even as the rows allow: 6 + 5, not 10 + 1
        if cols != self.cols:
            self.cols = cols


class PainTaps(OutcomeChoices):
    """A pain score 0-10 as a row of taps under its `field` (which keeps taking typing):
    a tap puts the number in the field as if it were typed and confirmed; the number the
    field holds is lit."""

    field = ObjectProperty(None, allownone=True)

    def __init__(self, **kw):
        from kivy.factory import Factory

        super().__init__(**kw)
        for n in range(11):
            b = Factory.NpPick(text=str(n))
            b.bind(on_release=self._tap)
            self.add_widget(b)
        self.bind(field=self._watch)

    def _watch(self, *_):
        if self.field is not None:
            self.field.bind(text=self.light)
            self.light()

    def _tap(self, button) -> None:
        if self.field is not None:
            self.field.text = button.text
            self.field.confirm()

    def light(self, *_) -> None:
        typed = (self.field.text if self.field is not None else "").strip()
        for b in self.children:
            b.chosen = b.text == typed


class OutcomesPanel(BoxLayout):
    """Outcome scales as rows of taps (app.workflow.outcomes.rows): a row of choices (pain
    0-10, the six Ashworth grades, GAS levels), the current one lit, or a stepper (- / +,
    then Save) for a TWSTRS subscale total; with `goals`, a goal's words and its level now
    (-2 or -1). Each row says its current value and what it corrected. The screen binds
    `on_pick(row, choice)` and `on_goal(text, level)` and gives the rows back after saving."""

    rows = ListProperty([])
    goals = BooleanProperty(False)
    message = StringProperty("")
    __events__ = ("on_pick", "on_goal")

    def __init__(self, **kw):
        self._steps: dict[str, int] = {}
        self._said = None
        self._keys: tuple = ()
        self._parts: dict[str, dict] = {}
        super().__init__(**kw)
        self.bind(rows=self._build, goals=self._build, message=self._say)

    def _build(self, *_):
        """Rows as widgets. Given the same rows again (a value saved), only their words and
        lit choices change: rebuilding some fifty buttons held the frame 20-450 ms a tap."""
        from kivy.factory import Factory

        keys = ([r["key"] for r in self.rows], self.goals)
        if keys == self._keys:
            for row in self.rows:
                self._show(row)
            return
        self._keys, self._parts = keys, {}
        self.clear_widgets()
        for row in self.rows:
            parts = self._parts[row["key"]] = {"words": Factory.NpWords(), "picks": []}
            self.add_widget(parts["words"])
            if row["kind"] == "stepper":
                self.add_widget(self._stepper(row, parts))
            else:
                grid = Factory.OutcomeChoices(cols=len(row["choices"]))
                for choice in row["choices"]:
                    b = Factory.NpPick(text=choice)
                    b.bind(on_release=lambda btn, r=row: self.dispatch("on_pick", r,
                                                                       btn.text))
                    parts["picks"].append(b)
                    grid.add_widget(b)
                self.add_widget(grid)
            self._show(row)
        if self.goals:
            goal = Factory.OutcomeGoal()
            goal.panel = self
            self.add_widget(goal)
        self._said = Factory.NpMsg(text=self.message)
        self.add_widget(self._said)

    def _show(self, row) -> None:
        """A row's words (its value now, what it corrected) and its lit choice."""
        parts = self._parts[row["key"]]
        now = row["now"] if row["now"] is not None else "not recorded"
        parts["words"].text = f"{row['title']}: {now}{row['was']}"
        for b in parts["picks"]:
            b.chosen = b.text == row["now"]
        if "value" in parts and row["now"] is not None:
            self._steps[row["key"]] = int(float(row["now"]))
            parts["value"].text = row["now"]

    def _say(self, *_):
        if self._said is not None:
            self._said.text = self.message

    def _stepper(self, row, parts: dict):
        from kivy.factory import Factory

        key = row["key"]
        self._steps.setdefault(key, row["lo"])
        box = Factory.OutcomeStepper()
        shown = parts["value"] = Factory.NpWords(text=str(self._steps[key]),
                                                 halign="center", font_size="22sp")
        for label, delta in (("-5", -5), ("-", -1), (None, 0), ("+", 1), ("+5", 5)):
            if label is None:
                box.add_widget(shown)
                continue
            b = Factory.NpAct(text=label)
            b.bind(on_release=lambda _b, d=delta: self._step(row, d, shown))
            box.add_widget(b)
        save = Factory.NpAct(text="Save", background_color=(0.2, 0.42, 0.36, 1))
        save.bind(on_release=lambda _b: self.dispatch("on_pick", row,
                                                      str(self._steps[key])))
        box.add_widget(save)
        return box

    def _step(self, row, delta: int, shown) -> None:
        key = row["key"]
        self._steps[key] = min(row["hi"], max(row["lo"], self._steps[key] + delta))
        shown.text = str(self._steps[key])

    def on_pick(self, row, choice):
        pass

    def on_goal(self, text, level):
        pass
