"""Prometheus metrics the product records; /metrics (ops) exposes them."""

from prometheus_client import Counter, Histogram

bookings_created = Counter("peepopay_bookings_created_total", "Bookings created (held)")
deposits = Counter("peepopay_deposits_total", "Deposit payments by outcome", ["outcome"])
webhook_events = Counter("peepopay_webhook_events_total", "Stripe webhook events", ["type", "result"])
request_latency = Histogram(
    "peepopay_request_seconds", "Request latency", ["method", "endpoint", "status"]
)
