"""The outbox: every SMS and call the bank sends is first a row of `outbound_message`.

Theory of operation
-------------------
Every SMS and call is first a row of `outbound_message` (`smsbank.outbox.enqueue`), written
in the transaction of the change that caused it. Workers, one per app process and any
number of processes or hosts sharing the database, repeat one pass (`deliver_due`):

1. **Claim.** A row is due when it is `queued` and its `next_attempt_at` has come, or
   when it is `sending` but its claim ran out (`claimed_until` passed: the worker that
   claimed it died mid-send). Claiming sets `sending`, `claimed_by`, `claimed_until`
   (now + `CLAIM_SECONDS`) and counts the attempt. On PostgreSQL the due rows are
   locked with `SELECT ... FOR UPDATE SKIP LOCKED` inside a transaction, so concurrent
   workers take disjoint rows without waiting for each other. SQLite has a single
   writer, so one `UPDATE ... WHERE id IN (SELECT <due> ... LIMIT n)` is enough: the
   statement runs whole under the write lock, and of two workers racing for a row
   exactly one changes it (the other's subquery no longer finds it due).
2. **Send** through the backend (`smsbank.sms_backends`), concurrently within a batch,
   each send bounded by the backend's timeout (far shorter than the claim).
3. **Record.** Accepted: `sent` with the provider's sid (a pass records all its
   accepted messages in one statement, once its sends have returned). Retryable error
   (network, timeout, Twilio 5xx or 429): back to `queued` with `next_attempt_at`
   pushed out by exponential backoff with jitter, or `failed` once
   `outbox_max_attempts` attempts were made. Permanent error (other 4xx): `failed` at
   once. `last_error` keeps the reason (phone numbers masked).

Guarantee: **at-least-once**. A message is never lost: it stays in the table until a
provider accepted it or the attempts ran out. It can be sent twice when a worker dies
(or its request times out) after the provider took the message but before the row was
marked sent; the claim then runs out and another worker sends it again. Twilio's status
callback carries the outbox id (`?outbox_id=`), so a callback that arrives before the
worker recorded the sid still finds its row and settles it.

Opted-out customers' messages are stored `suppressed` and never claimed.

Secrets at rest
---------------
A text that carries a live secret (a code, a capture or enrolment link; a call that
reads a code) is marked when it is queued: `secret_expires_at` says until when the
secret works. The secret is then scrubbed out of the stored body (`scrub`, with
`smsbank.logs.mask_text`, the one function that knows what a secret looks like) as
soon as the text needs no sending any more or its secret has expired, whichever comes
first: when the provider took it (`claims.record_sent`), when it failed for good, when it
is stored suppressed (it is never sent), or, for what is left (the dev phone's texts,
which its page reads from this table while they live; a send cut short by a crash),
by the expiry sweep once `secret_expires_at` has passed. Scrubbing sets
`secret_expires_at` back to NULL and `scrubbed_at`; a scrubbed row is never sent
again, and a row whose secret expired before it was sent fails without being sent.

The modules
-----------
- `enqueue`: `enqueue_sms` / `enqueue_call`, called inside the transaction of the
  change that caused the message (re-exported here: `from smsbank.outbox import
  enqueue_sms`).
- `claims`: the outbox's hand-written SQL: claiming due rows, recording what became
  of a send, scrubbing secrets; the claim types (`Claimed`, `ClaimingWorker`).
- `worker`: one delivery pass (`deliver_due`) and the app component that runs them
  (`OutboxWorker`).
- `status`: the provider's status callbacks, which move a message forward, never back.
"""

from smsbank.outbox.enqueue import enqueue_call, enqueue_sms, sender_address

__all__ = ["enqueue_call", "enqueue_sms", "sender_address"]
