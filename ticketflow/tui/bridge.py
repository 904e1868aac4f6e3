"""The one bridge between the job queue and Textual: queue progress becomes ``JobUpdate``
messages. The core never knows about Textual; the widgets never touch the queue's stream."""

from __future__ import annotations

import asyncio

from textual.message_pump import MessagePump

from ticketflow.jobs import JobQueue
from ticketflow.tui.messages import JobUpdate


async def pump_progress(queue: JobQueue, target: MessagePump) -> None:
    """Forward every progress value (coalesced by the queue) until the queue shuts down."""
    subscription = queue.subscribe(replay=False)
    try:
        async for progress in subscription:
            target.post_message(JobUpdate(progress))
    except asyncio.CancelledError:
        pass
    finally:
        subscription.close()
