"""Digest emails: what is new on each topic, delivered exactly once over SMTP.

`compose` selects and shapes the owed articles, `message` turns them into one RFC 5322 message,
`send` hands it to the SMTP server and marks the articles delivered (`send_due_digest`, which the
daemon calls on each digest's schedule); `cli` is `kuroshio digest`.
"""
