"""Digest emails: what is new on each topic, delivered exactly once over SMTP.

`options` declares `[smtp]` and `[[digests]]`, `compose` selects and shapes the owed articles (with
`stories` folding copies of one story, `excerpts` cutting text, `highlight` marking matched terms and
`health` naming the sources that need a look), `message` turns them into one RFC 5322 message, `send`
hands it to the SMTP server and marks the articles delivered (`send_digest`). When a digest is sent,
by whom, and `kuroshio digest` itself are the scheduler's (`kuroshio.scheduler.digests`,
`kuroshio.scheduler.digest_command`).
"""
