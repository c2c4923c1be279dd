"""Conversations: multi-turn runs, the prompt cache read from each server's own counters,
service-level objectives, goodput and the search for the load a box still serves."""
