"""The ``/__admin`` control interface both emulators share (outside the real API paths).

``reset``, ``load``, ``dump``, ``faults`` and ``stats``: acceptance tests outside this repository drive the
emulators through these, so their shapes are documented in the README and must stay stable.
"""

from __future__ import annotations

from typing import Any, Protocol

from fastapi import APIRouter, Body, HTTPException
from pydantic import ValidationError

from emulators.common.faults import ADMIN_PREFIX, CallStats, FaultInjector


class EmulatorStore(Protocol):
    """What an emulator's in-memory state must offer to the admin routes."""

    def reset(self) -> None: ...

    def load(self, payload: dict[str, Any]) -> dict[str, int]:
        """Add records; return how many of each kind were loaded. Raise ValueError on bad input."""
        ...

    def dump(self) -> dict[str, Any]: ...


def admin_router(store: EmulatorStore, faults: FaultInjector, stats: CallStats) -> APIRouter:
    router = APIRouter(prefix=ADMIN_PREFIX, tags=["admin"])

    @router.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @router.post("/reset")
    async def reset() -> dict[str, str]:
        store.reset()
        faults.reset()
        stats.reset()
        return {"status": "reset"}

    @router.post("/load")
    async def load(payload: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
        try:
            return {"loaded": store.load(payload)}
        except (ValueError, KeyError, TypeError) as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from exc

    @router.get("/dump")
    async def dump() -> dict[str, Any]:
        return store.dump()

    @router.get("/faults")
    async def get_faults() -> dict[str, Any]:
        return faults.config.model_dump()

    @router.post("/faults")
    async def set_faults(changes: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
        try:
            return faults.update(changes).model_dump()
        except ValidationError as exc:
            raise HTTPException(status_code=400, detail=exc.errors(include_url=False)) from exc

    @router.get("/stats")
    async def get_stats() -> dict[str, Any]:
        return stats.as_dict()

    @router.post("/stats/reset")
    async def reset_stats() -> dict[str, str]:
        stats.reset()
        return {"status": "reset"}

    return router
