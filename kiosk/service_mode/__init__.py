"""The technician's service mode: provisioning, self-test, configuration."""
