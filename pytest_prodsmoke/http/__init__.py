"""Every request to a production target passes through here: the client (read-only refusal,
version pinning, traffic tags, the request record) whatever sends it, the shared rate limit and
the request log a failed check shows. Change here to change how traffic is sent or recorded."""
