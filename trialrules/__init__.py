"""Pure-Python trial rules (no Django): dose-escalation decisions and related protocol logic."""
