"""Group commit: concurrent posts in one process share a unit, and so one transaction.

Requests put their events on a short queue and wait. One task takes what is queued (up to
``group_max`` events, waiting at most ``group_wait`` after the first for more), runs it
through the pipeline as one unit and answers every request after the commit that holds its
event. Under load a unit fills while the previous one is being written, so the wait costs
nothing then; at low load it adds at most ``group_wait`` to a request. A batch is a unit of
its own and goes through the same queue, so that the process has one writer.

The task holds no state across units: everything it knows is in the database, so any
number of processes can run one each.
"""

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from app.events.pipeline import Answer, Item, run
from app.ledger.policy import PointsPolicy

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class _Job:
    items: Sequence[Item]
    batch: bool
    done: asyncio.Future[list[Answer]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class GroupCommitter:
    def __init__(
        self,
        engine: AsyncEngine,
        policy: PointsPolicy,
        *,
        group_max: int = 256,
        group_wait_ms: float = 1.0,
        queue_size: int = 1024,
    ) -> None:
        self.engine = engine
        self.policy = policy
        self.group_max = group_max
        self.group_wait = group_wait_ms / 1000
        self._queue: asyncio.Queue[_Job] = asyncio.Queue(maxsize=queue_size)
        self._task: asyncio.Task[None] | None = None
        self._held: _Job | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="group-commit")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def submit(self, items: Sequence[Item], *, batch: bool = False) -> list[Answer]:
        """Queue ``items`` and wait for their answers (after the commit holding them)."""
        if self._task is None or self._task.done():
            # Outside a running app (a script, a test without lifespan): process in place.
            return await run(self.engine, items, self.policy)
        job = _Job(items, batch)
        await self._queue.put(job)
        return await job.done

    async def _gather(self) -> list[_Job]:
        """The next unit's jobs: one batch, or single posts up to ``group_max`` events."""
        first = self._held or await self._queue.get()
        self._held = None
        if first.batch:
            return [first]
        jobs, count = [first], len(first.items)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.group_wait
        while count < self.group_max:
            try:
                job = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            if job.batch:
                self._held = job  # next round, on its own
                break
            jobs.append(job)
            count += len(job.items)
        return jobs

    async def _loop(self) -> None:
        while True:
            jobs = await self._gather()
            items = [item for job in jobs for item in job.items]
            try:
                answers = await run(self.engine, items, self.policy)
            except Exception as exc:  # run answers every item; this is a last resort
                logger.exception("group commit failed")
                for job in jobs:
                    if not job.done.done():
                        job.done.set_exception(exc)
                continue
            start = 0
            for job in jobs:
                end = start + len(job.items)
                if not job.done.done():  # a client that went away cancelled its wait
                    job.done.set_result(answers[start:end])
                start = end
