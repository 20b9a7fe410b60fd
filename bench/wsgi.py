"""The app as gunicorn serves it in production, with rate limits off for load generation."""

from peepopay import create_app

app = create_app(overrides={"RATELIMIT_ENABLED": False})
