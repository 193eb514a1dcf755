"""A tiny app for the forwarded-headers probe: answers the client address uvicorn reports."""

from fastapi import FastAPI, Request


def create_app() -> FastAPI:
    app = FastAPI()

    @app.get("/whoami")
    async def whoami(request: Request) -> dict:
        return {"client": request.client.host if request.client else None}

    return app
