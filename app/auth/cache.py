"""Recently verified API keys, so that most requests authenticate without a query.

Every request used to look its key up (an indexed read, a tenth of an event's cost). A key
verified less than ``ttl`` seconds ago is taken from here instead. Only keys that matched
are kept, so a guessed secret always costs a lookup. A revocation through this process
drops its key at once; one made elsewhere (another worker, ``reinforce keys revoke``)
takes effect here within ``ttl`` (``REINFORCE_API_KEY_CACHE_SECONDS``, 0 turns this off).
"""

import time
import uuid
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")

_MAX_KEYS = 10_000


@dataclass
class KeyCache(Generic[T]):
    ttl: float
    _keys: dict[str, tuple[float, uuid.UUID, T]] = field(default_factory=dict)

    def get(self, digest: str) -> T | None:
        found = self._keys.get(digest)
        if found is None:
            return None
        if found[0] < time.monotonic():
            del self._keys[digest]
            return None
        return found[2]

    def put(self, digest: str, key_id: uuid.UUID, value: T) -> None:
        if self.ttl <= 0:
            return
        if len(self._keys) >= _MAX_KEYS:
            self._keys.clear()
        self._keys[digest] = (time.monotonic() + self.ttl, key_id, value)

    def forget(self, key_id: uuid.UUID) -> None:
        for digest in [d for d, (_, kid, _) in self._keys.items() if kid == key_id]:
            del self._keys[digest]
