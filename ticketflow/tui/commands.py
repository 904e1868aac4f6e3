"""The command palette (ctrl+p): every action of the main screen, searchable by name."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

ACTIONS: tuple[tuple[str, str, str], ...] = (
    ("New ticket", "new", "n"),
    ("Start the selected ticket", "start", "s"),
    ("Close the selected ticket", "close_ticket", "c"),
    ("Reopen the selected ticket", "reopen", "o"),
    ("Edit the selected ticket in $EDITOR", "edit", "e"),
    ("Search tickets", "search", "/"),
    ("Pull from the remote", "app.pull", "p"),
    ("Push to the remote", "app.push", "P"),
    ("Sync: pull, then push", "app.sync", "S"),
    ("Rescan the ticket files", "rescan", "r"),
    ("Cancel the running job", "cancel_job", "x"),
    ("Show jobs", "jobs", "J"),
    ("Board view", "board", "b"),
    ("Show all tickets", "tab('all')", "a"),
    ("Show todo tickets", "tab('todo')", "1"),
    ("Show doing tickets", "tab('doing')", "2"),
    ("Show done tickets", "tab('done')", "3"),
    ("Open the selected ticket's detail", "open_detail", "enter"),
    ("Into the detail pane", "focus_detail", "l"),
    ("Back to the list", "focus_list", "h"),
    ("Next tab", "cycle_tab(1)", "tab"),
    ("Previous tab", "cycle_tab(-1)", "shift+tab"),
    ("Help: the key map", "help", "?"),
    ("Quit", "app.quit", "q"),
)
"""Every action a key of the main screen runs (moving the cursor aside): one place to
find any of them by name. ``tests/test_tui.py`` checks none is missing."""


class TicketflowCommands(Provider):
    """Runs the main screen's actions; the key is shown as help."""

    async def _run(self, action: str) -> None:
        """Call the action itself: the main screen's ``check_action`` holds its keys back
        while the search box has the focus, which a choice in the palette must not be."""
        import inspect

        from textual.actions import parse

        from ticketflow.tui.app import TicketflowApp

        app = self.app
        assert isinstance(app, TicketflowApp)
        namespace, name, parameters = parse(action)
        target = app if namespace == "app" else app.main
        result = getattr(target, f"action_{name}")(*parameters)
        if inspect.isawaitable(result):
            await result

    async def discover(self) -> Hits:
        for title, action, key in ACTIONS:
            yield DiscoveryHit(title, partial(self._run, action), help=f"key: {key}")

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, action, key in ACTIONS:
            score = matcher.match(title)
            if score > 0:
                yield Hit(
                    score, matcher.highlight(title), partial(self._run, action), help=f"key: {key}"
                )
