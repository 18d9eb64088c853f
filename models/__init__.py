"""The domain: entities, the rules over them, and the store they live in."""
