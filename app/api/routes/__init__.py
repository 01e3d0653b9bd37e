"""One router per topic, each with prefix /api/<topic>."""
