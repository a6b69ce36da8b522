"""The resident's journey: attract -> service item -> form -> submitted."""
