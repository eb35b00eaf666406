"""Run an import's records through the batch pipeline, a unit per chunk.

Each chunk is what ``POST /v1/events/batch`` would do with it, in one transaction.
Re-running an import is safe: an event id already stored is answered from the stored
answer and costs no evaluation, which is also how an interrupted import resumes.
"""

import asyncio
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import IO, Any

from app.database import Database
from app.events import batch, pipeline
from app.imports.sources import Record
from app.ledger.policy import PointsPolicy

# A chunk whose database was busy or unreachable is sent again, this many times, before
# its events are written to the rejects file as 503s to import again later.
_ATTEMPTS = 5
_UNAVAILABLE = 503


@dataclass
class Summary:
    imported: int = 0
    already_there: int = 0
    refused: int = 0
    seconds: float = 0.0

    @property
    def lines(self) -> int:
        return self.imported + self.already_there + self.refused

    @property
    def rate(self) -> float:
        return self.lines / self.seconds if self.seconds else 0.0


class _Rejects:
    """The rejects file, written only if something is refused: a JSON line each, with the
    source line's number, its text and the problem document."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None
        path.unlink(missing_ok=True)  # what a previous run refused is judged again

    def write(self, record: Record, problem: dict[str, Any]) -> None:
        if self._file is None:
            self._file = self.path.open("w", encoding="utf-8")
        line = {"line": record.line, "source": record.source, "problem": problem}
        self._file.write(json.dumps(line, ensure_ascii=False) + "\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


async def run(
    database: Database,
    policy: PointsPolicy,
    records: Iterable[Record],
    *,
    rejects: Path,
    chunk_size: int = 1000,
    advance: Callable[[int], None] = lambda n: None,
) -> Summary:
    summary = Summary()
    started = perf_counter()
    refused = _Rejects(rejects)

    async def submit(valid: list[pipeline.Item]) -> list[pipeline.Answer]:
        return await pipeline.run(database.engine, valid, policy)

    async def flush(chunk: list[Record]) -> None:
        for attempt in range(_ATTEMPTS):
            answers = await batch.run([r.event for r in chunk], submit, None)
            busy: list[Record] = []
            for record, answer in zip(chunk, answers, strict=True):
                status = answer["status"]
                if status == _UNAVAILABLE and attempt + 1 < _ATTEMPTS:
                    busy.append(record)
                elif status == 201:
                    summary.imported += 1
                elif status == 200:
                    summary.already_there += 1
                else:
                    summary.refused += 1
                    refused.write(record, answer["problem"])
            advance(len(chunk) - len(busy))
            if not busy:
                return
            chunk = busy
            await asyncio.sleep(0.5 * 2**attempt)

    chunk: list[Record] = []
    try:
        for record in records:
            if record.problem is not None:
                summary.refused += 1
                refused.write(record, record.problem)
                advance(1)
                continue
            chunk.append(record)
            if len(chunk) >= chunk_size:
                await flush(chunk)
                chunk = []
        if chunk:
            await flush(chunk)
    finally:
        refused.close()
        summary.seconds = perf_counter() - started
    return summary
