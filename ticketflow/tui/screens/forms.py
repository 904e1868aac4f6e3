"""Dialogs: the new-ticket form (validated as you type) and the close dialog."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
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
.dialog { width: 70; height: auto; padding: 1 2; border: thick $accent; background: $surface; }
.dialog Label { margin-top: 1; }
.dialog .error { color: $error; height: auto; }
.dialog .buttons { height: auto; margin-top: 1; align-horizontal: right; }
.dialog Button { margin-left: 1; }
"""


class NewTicketScreen(ModalScreen[NewTicketRequest | None]):
    """Slug, description, priority, parent. Enter creates, Esc cancels."""

    DEFAULT_CSS = DIALOG_CSS
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, resolve_parent: object = None) -> None:
        super().__init__()
        self.resolve_parent = resolve_parent
        self._parent_checked: tuple[str, str] = ("", "")  # (value, problem): one lookup each

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static("[b]New ticket[/b]")
            yield Label("Slug (lower-case letters, digits, hyphens)")
            yield Input(placeholder="fix-login-timeout", id="slug")
            yield Label("Description")
            yield Input(placeholder="One line shown in lists", id="description")
            yield Label("Priority (1 is the most urgent)")
            yield Input(value="2", id="priority", restrict=r"[0-9]*")
            yield Label("Parent (id or slug prefix, optional)")
            yield Input(placeholder="", id="parent")
            yield Static("", id="problem", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Create", id="create", variant="primary", disabled=True)

    def on_mount(self) -> None:
        self.query_one("#slug", Input).focus()

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
        problem = self._problem()
        if event.input.id == "slug" and event.value and not SLUG_RE.match(event.value):
            problem = problem or "use lower-case letters, digits and hyphens only"
        # plain text: it quotes what was typed and what a lookup found ("[/]" is no markup)
        self.query_one("#problem", Static).update(Text(visible(problem)))
        self.query_one("#create", Button).disabled = bool(problem)

    def _submit(self) -> None:
        if self._problem():
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
            yield Input(placeholder="shipped in 1.4", id="reason")
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
