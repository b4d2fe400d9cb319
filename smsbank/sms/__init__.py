"""Banking by text (and the voice menu beside it): an inbound SMS from the webhook to
the replies it queues.

- `router`: which path a text takes (the one module that decides).
- `one_message_path`: one transaction a text, every gate, any command.
- `group_commit`: read-only texts arriving together, written in one transaction.
- `gates`: flood, stranger, opted out; written once for both paths.
- `inbound`: the text and what became of it (`InboundSms`, `Handled`, `Result`).
- `turn`: one turn of the conversation: the machine and the actions it asks for.
- `conversation`: the pure state machine and the parser (no I/O).
- `conversation_row`: the conversation row's one writer.
- `pending_request`: what a text does to a pending withdrawal or number change, once
  for both kinds.
- `replies`: balance, profile and history texts.
- `voice_menu`: what a caller hears after pressing a key.
"""
