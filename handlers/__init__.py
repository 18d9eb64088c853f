"""Conversation flows, once for every transport: neutral events in, neutral replies out."""
