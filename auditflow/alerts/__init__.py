"""Alert routing: deliver alerts from audit.alerts to Slack, PagerDuty and JSON webhooks.

``destinations`` is pure logic (destinations, filters, payloads, backoff, idempotency keys),
``deliver`` the HTTP layer, ``router`` the Kafka layer, ``tail`` the readable view.
"""
