"""The bare baseline: the same event validated by the same pydantic model, and nothing else.

Served by uvicorn exactly like the service, so the ratio of the two throughputs is what
reinforce's own work (auth, the database, the rules, the ledger) costs per event.
"""

from fastapi import FastAPI, status

from app.events.schemas import EventIn

app = FastAPI()


@app.get("/readyz")
async def ready() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/v1/events", status_code=status.HTTP_201_CREATED)
async def post_event(event: EventIn) -> dict[str, str]:
    return {"event_id": event.id}
