"""The HTTP API: one router per topic under ``app/api/routes``, shared schemas and dependencies."""
