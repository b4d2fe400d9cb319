"""The baseline: a bare Quart endpoint that answers empty TwiML, served the same way."""

from __future__ import annotations

from quart import Quart, Response


def create_bare_app() -> Quart:
    app = Quart("bare")

    @app.post("/webhooks/twilio/sms")
    async def sms() -> Response:
        return Response(
            "<?xml version='1.0' encoding='UTF-8'?><Response/>", content_type="text/xml"
        )

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
