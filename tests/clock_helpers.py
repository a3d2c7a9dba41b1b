"""Test data is dated in the past (fixed wall times such as 2023-11-14, reproducible run to run), while the server
takes consent from when a receipt reaches it (less ``clock_tolerance_s``). Servers that ingest such data in tests
not about timing are given this tolerance; the consent-timing tests run with the default."""

HISTORIC = 10 * 365 * 86400.0  # seconds: wide enough for every fixed test date
HISTORIC_ENV = {"WORKPRINT_CLOCK_TOLERANCE_S": str(int(HISTORIC))}  # the same for a server run as a process
