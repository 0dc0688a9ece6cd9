"""The pure domain: sequences, timelines, templates and segments. No I/O, no clock."""
