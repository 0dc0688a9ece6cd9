"""The engine: enrollment, the dispatcher, reply handling. Orchestrates core, store, provider."""
