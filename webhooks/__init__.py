"""Twilio-facing blueprints: inbound SMS, voice, status callbacks, signature check."""
