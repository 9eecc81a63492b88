"""``Provider``: the dependency overrides one or more containers share."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from torchsystem._injection.analysis import Analyses
from torchsystem._watched import WatchedDict

__all__ = ["Overrides", "Provider"]

Override = Callable[..., Any]


class _Watcher(Protocol):
    def invalidate(self) -> None: ...


class Overrides(WatchedDict[Override, Override]):
    """A dict (original dependency -> replacement) that tells its watchers when it changes.

    Injected functions compile their resolution code against a ``snapshot`` of the
    overrides; any change here marks them stale, so the next call recompiles. Nothing is
    checked per call. A replacement's signature is read when it is set (``on_set``),
    never at a call. Assigning a whole dict (``replace``) and ``update`` change all their
    items at once: a snapshot sees all of them or none.
    """

    __slots__ = ("_lock", "_on_set", "_watchers", "generation")

    def __init__(
        self,
        initial: Mapping[Override, Override] | None = None,
        on_set: Callable[[Override], None] | None = None,
    ) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._watchers: weakref.WeakSet[Any] = weakref.WeakSet()
        self._on_set = on_set
        self.generation = 0
        self.update(initial or {})

    def watch(self, watcher: _Watcher) -> None:
        """Call ``watcher.invalidate()`` whenever the overrides change."""
        with self._lock:
            self._watchers.add(watcher)

    def snapshot(self) -> tuple[int, dict[Override, Override]]:
        """``(generation, a copy of the overrides)``, taken between changes."""
        with self._lock:
            return self.generation, dict.copy(self)

    def _check(self, key: Override, value: Override) -> None:
        if not callable(value):
            raise TypeError(
                f"override for {getattr(key, '__qualname__', key)!r} must be callable, "
                f"got {value!r}"
            )
        if self._on_set is not None:
            self._on_set(value)

    def _changed(self) -> None:
        with self._lock:
            self.generation += 1
            watchers = list(self._watchers)
        for watcher in watchers:
            watcher.invalidate()

    def update(self, *args: Any, **kwargs: Any) -> None:
        pairs = dict(*args, **kwargs)
        for key, value in pairs.items():
            self._check(key, value)
        with self._lock:
            dict.update(self, pairs)
        self._changed()

    def replace(
        self, items: Iterable[tuple[Override, Override]] | Mapping[Override, Override]
    ) -> None:
        """Replace every override at once (used when a new dict is assigned)."""
        pairs = dict(items)
        for key, value in pairs.items():
            self._check(key, value)
        with self._lock:
            dict.clear(self)
            dict.update(self, pairs)
        self._changed()


class Provider:
    """Holds ``dependency_overrides`` for the containers (and ``inject`` calls) that share it.

    Example:
        >>> provider = Provider()
        >>> def device() -> str:
        ...     raise NotImplementedError
        >>> provider.override(device, lambda: "cpu")
        >>> provider.dependency_overrides[device]()
        'cpu'
    """

    def __init__(self) -> None:
        self.analyses = Analyses()
        self._overrides = Overrides(on_set=self.analyses.preload)

    @property
    def dependency_overrides(self) -> Overrides:
        """Original dependency -> replacement; changes take effect on the next call."""
        return self._overrides

    @dependency_overrides.setter
    def dependency_overrides(self, value: Mapping[Override, Override]) -> None:
        self._overrides.replace(value)

    def override(self, dependency: Override, implementation: Override) -> None:
        """Use ``implementation`` wherever ``dependency`` is asked for."""
        self._overrides[dependency] = implementation

    def __reduce__(self) -> tuple[Any, ...]:
        # copies (copy.deepcopy, pickle) are new providers with the same overrides
        return (_rebuild, (dict(self._overrides),))

    def __repr__(self) -> str:
        names = [getattr(key, "__qualname__", repr(key)) for key in self._overrides]
        return f"Provider(overrides={names})"


def _rebuild(overrides: dict[Override, Override]) -> Provider:
    provider = Provider()
    provider.dependency_overrides = overrides
    return provider
