"""What keeps production safe from the checks: secret redaction, fake users and their leases,
the cleanup of fake data and its journal, SIGTERM handling. Change here to change a guarantee."""
