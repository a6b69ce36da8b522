"""The shared vocabulary of kiosk and central: topics, envelopes, sealing, ids, masking."""
