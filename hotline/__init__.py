"""The call centre: branches, queues, doctors' presence, routing and the telephony webhooks."""
