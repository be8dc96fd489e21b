"""Conversations that outlive a request: the session protocol, stores, escalation, webhooks.

``protocol`` defines a session and the ``SessionStore`` interface; ``store`` keeps sessions
in memory or in SQLite (with migrations as a list); ``escalation`` holds the hand-off rules
and the webhook notifier. Only the server and the ``history`` command use this package.
"""
