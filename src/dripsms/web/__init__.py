"""The HTTP side: the /v1 enrollment API, Twilio's webhooks, health and metrics."""
