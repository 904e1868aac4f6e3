"""Dialogs: the new-ticket form (validated as you type), the close dialog, and what to do
with an edit that is not a valid ticket."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from ticketflow.errors import TicketflowError
from ticketflow.model import SLUG_RE, validate_slug
from ticketflow.textsafe import visible


@dataclass(frozen=True)
class NewTicketRequest:
    slug: str
    description: str
    priority: int
    parent: str | None


DIALOG_CSS = """
NewTicketScreen, CloseTicketScreen { align: center middle; }
.dialog { width: 70; max-width: 100%; height: auto; max-height: 100%; padding: 0 2;
          border: thick $accent; background: $surface; overflow-y: auto; }
.dialog Label { margin-top: 0; }
.dialog .error { color: $error; height: auto; }
.dialog .buttons { height: auto; margin-top: 1; align-horizontal: right; }
.dialog Button { margin-left: 1; }
"""


FIELDS = ("slug", "description", "priority", "parent")


class FormInput(Input):
    """An ``Input`` that takes a burst of keys in order.

    Textual inserts printable keys in the input's own ``_on_key``, but runs its editing
    bindings (backspace, delete, arrows, home/end, enter) only when the key, unhandled,
    has bubbled back up to the app: in a burst, ``ab`` + backspace + ``c`` inserts ``c``
    before the backspace runs, and gives ``ab``. Here the bindings run in ``_on_key`` too,
    in the order the keys came.
    """

    async def _on_key(self, event: events.Key) -> None:
        if event.is_printable:
            await super()._on_key(event)
            return
        bindings = self._bindings.key_to_bindings.get(event.key, ())
        if bindings:
            event.stop()
            event.prevent_default()
            await self.run_action(bindings[0].action)


class NewTicketScreen(ModalScreen[NewTicketRequest | None]):
    """Slug, description, priority, parent. Enter creates, Esc cancels.

    Keys that arrive in one burst (a paste, a fast typist, tmux ``send-keys``) land exactly
    where they would typed slowly. Textual hands each key to the widget focused *when the
    key arrives* and moves focus on Tab only when the Tab, unhandled by the input, has come
    back up: every key of a burst after a Tab would go to the field before it. So Tab and
    Shift+Tab are priority bindings here, which move the focus as the key arrives. Keys that
    arrive before the form has focused its first field (right behind the ``n`` that opened
    it) are passed on in order to the field they are meant for.
    """

    DEFAULT_CSS = DIALOG_CSS
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("tab", "move(1)", "Next field", show=False, priority=True),
        Binding("shift+tab", "move(-1)", "Previous field", show=False, priority=True),
    ]

    def __init__(self, resolve_parent: object = None) -> None:
        super().__init__()
        self.resolve_parent = resolve_parent
        self._parent_checked: tuple[str, str] = ("", "")  # (value, problem): one lookup each
        self._edited = False  # no "a slug is required" before anything is typed
        self._target = 0  # the field keys go to while none is focused yet

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static("[b]New ticket[/b]")
            yield Label("Slug (lower-case letters, digits, hyphens)")
            yield FormInput(placeholder="fix-login-timeout", id="slug")
            yield Label("Description")
            yield FormInput(placeholder="One line shown in lists", id="description")
            yield Label("Priority (1 is the most urgent)")
            yield FormInput(value="2", id="priority", restrict=r"[0-9]*")
            yield Label("Parent (id or slug prefix, optional)")
            yield FormInput(placeholder="", id="parent")
            yield Static("", id="problem", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Create", id="create", variant="primary", disabled=True)

    def on_mount(self) -> None:
        # after the keys already queued for this screen have been passed on
        self.call_later(self._focus_target)

    def _focus_target(self) -> None:
        if self.focused is None:
            self.query_one(f"#{FIELDS[self._target]}", Input).focus()

    def on_key(self, event: events.Key) -> None:
        """Keys for the form while no field has the focus yet (just opened)."""
        if self.focused is None and event.key != "escape":
            event.stop()
            event.prevent_default()
            field = self.query_one(f"#{FIELDS[self._target]}", Input)
            field.post_message(events.Key(event.key, event.character))

    def action_move(self, step: int) -> None:
        if self.focused is None:
            self._target = (self._target + step) % len(FIELDS)
        elif step > 0:
            self.focus_next()
        else:
            self.focus_previous()

    def _problem(self) -> str:
        slug = self.query_one("#slug", Input).value
        if not slug:
            return "a slug is required"
        try:
            validate_slug(slug)
        except TicketflowError as exc:
            return exc.message
        priority = self.query_one("#priority", Input).value
        if not priority.isdigit() or int(priority) < 1:
            return "priority must be 1 or more"
        parent = self.query_one("#parent", Input).value.strip()
        if parent and callable(self.resolve_parent):
            if self._parent_checked[0] != parent:  # a lookup lists every ticket file
                try:
                    self.resolve_parent(parent)
                    problem = ""
                except TicketflowError as exc:
                    problem = f"parent: {exc.message}"
                self._parent_checked = (parent, problem)
            return self._parent_checked[1]
        return ""

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "priority" and event.value == "2" and not self._edited:
            return  # its initial value is not an edit
        self._edited = True
        problem = self._problem()
        if event.input.id == "slug" and event.value and not SLUG_RE.match(event.value):
            problem = problem or "use lower-case letters, digits and hyphens only"
        # plain text: it quotes what was typed and what a lookup found ("[/]" is no markup)
        self.query_one("#problem", Static).update(Text(visible(problem)))
        self.query_one("#create", Button).disabled = bool(problem)

    def _submit(self) -> None:
        problem = self._problem()
        if problem:  # say why nothing happened, also before the first edit
            self.query_one("#problem", Static).update(problem)
            return
        parent = self.query_one("#parent", Input).value.strip() or None
        self.dismiss(
            NewTicketRequest(
                slug=self.query_one("#slug", Input).value,
                description=self.query_one("#description", Input).value,
                priority=int(self.query_one("#priority", Input).value),
                parent=parent,
            )
        )

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "create":
            self._submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class CloseTicketScreen(ModalScreen[str | None]):
    """Close with an optional reason (required for a ticket never started)."""

    DEFAULT_CSS = DIALOG_CSS
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, ticket_id: str, reason_required: bool) -> None:
        super().__init__()
        self.ticket_id = ticket_id
        self.reason_required = reason_required

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(f"[b]Close[/b] {self.ticket_id}")
            need = "required: it was never started" if self.reason_required else "optional"
            yield Label(f"Reason ({need})")
            yield FormInput(placeholder="shipped in 1.4", id="reason")
            yield Static("", id="problem", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Close ticket", id="close", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#reason", Input).focus()

    def _submit(self) -> None:
        reason = self.query_one("#reason", Input).value.strip()
        if self.reason_required and not reason:
            self.query_one("#problem", Static).update("a reason is required")
            return
        self.dismiss(reason)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "close":
            self._submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class EditRejectedScreen(ModalScreen[str]):
    """The edited ticket does not parse: edit again, discard, or keep the copy to fix by
    hand (what ``ticketflow edit`` asks in a terminal). Dismissed with ``again``,
    ``discard`` or ``keep``."""

    DEFAULT_CSS = DIALOG_CSS.replace("CloseTicketScreen", "EditRejectedScreen")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "choose('keep')", "Keep the copy"),
        Binding("e", "choose('again')", "Edit again"),
        Binding("d", "choose('discard')", "Discard"),
    ]

    def __init__(self, problem: str, copy: str) -> None:
        super().__init__()
        self.problem = problem
        self.copy = copy

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static("[b]The edit is not a valid ticket[/b]")
            yield Static(Text(self.problem), classes="error")
            yield Static(Text(f"Your edit is in {self.copy}"))
            with Horizontal(classes="buttons"):
                yield Button("Keep the copy (esc)", id="keep")
                yield Button("Discard (d)", id="discard", variant="warning")
                yield Button("Edit again (e)", id="again", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#again", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id or "keep")

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)
