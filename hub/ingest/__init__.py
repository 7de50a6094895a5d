"""Ingest: an inbound message becomes a contact, a conversation, a message and events, in the
writer's transaction. One entry point, `do_ingest_many` (hub.ingest.entry), and three paths."""
