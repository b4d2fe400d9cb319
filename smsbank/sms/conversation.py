"""The SMS conversation: a pure state machine, its transition table and its parser.

Theory of operation
-------------------
A customer's conversation is always in one of six states (`ConversationState`)::

    idle
      --WITHDRAW 20 / W 20--> awaiting_withdrawal_code --code ok--> awaiting_withdrawal_selfie
      --PHONE +1...---------> awaiting_phone_code      --code ok--> awaiting_phone_selfie
    (a branch starts a number change) -----------------------------> branch_phone_change
    any state but idle --ABORT / 5 wrong codes / expiry / selfie done or failed--> idle

`branch_phone_change` is the one state the machine never enters by itself: staff start
the change at a counter (`smsbank.phone_changes`), the code goes to the new number and
is read out there, and the conversation row is pointed at the change so that the old
phone, told "text ABORT if this was not you", can stop it. In that state the old phone
can only ABORT (or look things up): it has no code to give and nothing else to start
until the change ends.

Text comes in; `parse` turns it into an `Event` (a command such as `BALANCE`, `CODE`
or `WITHDRAW` with its amount). `step(state, event)` looks the pair up in `TRANSITIONS`
and returns a `Step`: the next state, the actions the service layer must carry out
(start a withdrawal, check a code, place a call...) and the replies to text back.

The machine never does I/O and never guesses how an action went. The service layer
(`smsbank.sms.one_message_path`) carries out each action against the database and reports what
happened as a second event, an *outcome* (`WITHDRAWAL_STARTED`, `CODE_ACCEPTED`,
`CODE_REJECTED`, `REQUEST_ENDED`, `DONE`, `REFUSED`), which goes through the same
table. So every change of state, whether caused by the customer's text or by the
bank's answer to it, is a row of one literal table, and tests walk every row.

A pair that is not in the table is an *illegal event*: the state is left unchanged,
no action runs, and the customer gets a reply saying what they can do instead (a code
when nothing waits for one, `ABORT` with nothing to abort, `WITHDRAW` in the middle
of a number change...). Illegal outcomes cannot be caused by a customer; they get no
reply and the service logs them.

Replies are msgids (English, translated by `smsbank.messages` into the customer's
language, which `step` is given): `{hint}` is filled with what the current state is
waiting for. A `DETAIL` row replies with the event's own message: an outcome's text,
rendered by the service layer, or a sentence (`smsbank.i18n.Text`, such as the parser's
hint for a malformed command) that `step` renders. An empty reply is not sent.

Commands are read the same whatever the customer's language: the English words and
their Spanish twins (`SALDO`, `HISTORIAL`, `RETIRAR 20` / `R 20`, `TELEFONO`,
`ANULAR`, `LLAMAR`, `AYUDA`, `DATOS`) always work; `ESPANOL` and `ENGLISH` switch the
language the bank writes in. Amounts are read one way for everyone (see docs/sms.md).

Twilio's own keywords (STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT;
START, YES, UNSTOP; HELP, INFO), and the Spanish ones an operator may have Twilio act
on (`OPT_OUT_WORDS`), are handled by Twilio, which replies to them itself: here they
only record the customer's choice and never mean anything else, which is why
cancelling is `ABORT` (`ANULAR`), not CANCEL (CANCELAR). No command word of ours is
one of them (tests/test_conversation.py checks).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from smsbank import messages
from smsbank.i18n import DEFAULT_LANGUAGE, N_, Language, Text, localize
from smsbank.models import ConversationState
from smsbank.money import InvalidAmount, parse_amount
from smsbank.phones import InvalidPhone, normalize_phone

S = ConversationState

# Twilio never delivers more than 1,600 characters; anything longer is not a command.
MAX_COMMAND_CHARS = 1600


class Kind(StrEnum):
    """What an event is: a command from the customer, or an outcome of an action."""

    # Commands, parsed from the customer's text.
    BALANCE = "balance"
    PROFILE = "profile"  # ME
    HISTORY = "history"
    WITHDRAW = "withdraw"
    CODE = "code"
    PHONE = "phone"
    ABORT = "abort"
    CALL = "call"
    HELP = "help"
    LANGUAGE = "language"  # ESPANOL / ENGLISH
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    MALFORMED = "malformed"  # a known command with an unusable argument ("W abc")
    UNKNOWN = "unknown"
    # Outcomes, reported by the service layer after carrying out an action.
    WITHDRAWAL_STARTED = "withdrawal_started"
    PHONE_CHANGE_STARTED = "phone_change_started"
    CODE_ACCEPTED = "code_accepted"
    CODE_REJECTED = "code_rejected"
    REQUEST_ENDED = "request_ended"
    DONE = "done"
    REFUSED = "refused"


COMMANDS = frozenset(
    {
        Kind.BALANCE,
        Kind.PROFILE,
        Kind.HISTORY,
        Kind.WITHDRAW,
        Kind.CODE,
        Kind.PHONE,
        Kind.ABORT,
        Kind.CALL,
        Kind.HELP,
        Kind.LANGUAGE,
        Kind.OPT_OUT,
        Kind.OPT_IN,
        Kind.MALFORMED,
        Kind.UNKNOWN,
    }
)
OUTCOMES = frozenset(Kind) - COMMANDS


class Action(StrEnum):
    """Work for the service layer; each reports back with one outcome event."""

    SEND_BALANCE = "send_balance"
    SEND_PROFILE = "send_profile"
    SEND_HISTORY = "send_history"
    START_WITHDRAWAL = "start_withdrawal"
    CHECK_WITHDRAWAL_CODE = "check_withdrawal_code"
    CANCEL_WITHDRAWAL = "cancel_withdrawal"
    CALL_WITHDRAWAL_CODE = "call_withdrawal_code"
    START_PHONE_CHANGE = "start_phone_change"
    CHECK_PHONE_CODE = "check_phone_code"
    CANCEL_PHONE_CHANGE = "cancel_phone_change"
    CALL_PHONE_CODE = "call_phone_code"
    SET_LANGUAGE = "set_language"
    RECORD_OPT_OUT = "record_opt_out"
    RECORD_OPT_IN = "record_opt_in"


@dataclass(frozen=True)
class Event:
    kind: Kind
    amount: Decimal | None = None  # WITHDRAW
    phone: str | None = None  # PHONE, in E.164
    code: str | None = None  # CODE
    language: Language | None = None  # LANGUAGE
    detail: str = ""  # MALFORMED's hint (a Text), or an outcome's message
    request_id: int | None = None  # *_STARTED: the new withdrawal or phone change

    def __repr__(self) -> str:
        # Events end up in test output and debug logs; a code must not.
        code = "<code>" if self.code else None
        return f"Event({self.kind.value}, amount={self.amount}, phone={self.phone!r}, code={code})"


@dataclass(frozen=True)
class Transition:
    """One row of the table: where to go, what to do, what to say."""

    target: ConversationState
    action: Action | None = None
    reply: str = ""


@dataclass(frozen=True)
class Step:
    """The machine's answer to one event."""

    state: ConversationState
    actions: tuple[Action, ...] = ()
    replies: tuple[str, ...] = ()
    legal: bool = True


# --- replies -------------------------------------------------------------------------
# Texts about the conversation itself live here, beside the states they describe, as
# msgids (`N_`): `step` renders them in the customer's language through
# `smsbank.messages`, which holds every other text the bank sends.

DETAIL = "{detail}"  # the reply is the event's own message
# What each state waits for: the hint for text we do not understand.
HINTS: dict[ConversationState, str] = {
    S.IDLE: N_("Text HELP for the commands."),
    S.AWAITING_WITHDRAWAL_CODE: N_(
        "Reply with the 6-digit code we texted you, CALL to hear a new one, or ABORT."
    ),
    S.AWAITING_WITHDRAWAL_SELFIE: N_(
        "Open the link we texted to take your selfie, or text ABORT to cancel."
    ),
    S.AWAITING_PHONE_CODE: N_(
        "Reply here with the 6-digit code we sent to your new number, CALL for a call, or ABORT."
    ),
    S.AWAITING_PHONE_SELFIE: N_(
        "Open the link we texted to take your selfie, or text ABORT to cancel the change."
    ),
    S.BRANCH_PHONE_CHANGE: N_(
        "A change of your number was started at a branch. Text ABORT if it was not you."
    ),
}
# What an illegal command is told, per command (then the state's hint where useful).
ILLEGAL_REPLIES: dict[Kind, str] = {
    Kind.CODE: N_("No code is waiting for an answer (it may have expired). {hint}"),
    Kind.ABORT: N_("There is nothing to cancel. {hint}"),
    Kind.CALL: N_("No code is waiting, so there is nothing to call you about. {hint}"),
    Kind.WITHDRAW: N_("Finish or ABORT your number change before starting a withdrawal."),
    Kind.PHONE: N_("Finish or ABORT your withdrawal before changing your number."),
}
# Where a state needs its own answer to an illegal command.
_AFTER_CODE: dict[Kind, str] = {
    Kind.CODE: N_("Your code was already accepted. {hint}"),
    Kind.CALL: N_("Your code was already accepted. {hint}"),
}
_AT_BRANCH = N_("The code for this change is given at the branch, not by text. {hint}")
ILLEGAL_IN_STATE: dict[ConversationState, dict[Kind, str]] = {
    S.AWAITING_WITHDRAWAL_SELFIE: _AFTER_CODE,
    S.AWAITING_PHONE_SELFIE: _AFTER_CODE,
    S.BRANCH_PHONE_CHANGE: {
        Kind.CODE: _AT_BRANCH,
        Kind.CALL: _AT_BRANCH,
        Kind.PHONE: N_("A change of your number started at a branch is waiting. {hint}"),
    },
}
NOT_UNDERSTOOD = N_("Sorry, we did not understand that. {hint}")

# --- the transition table ------------------------------------------------------------


def _always(state: ConversationState) -> dict[Kind, Transition]:
    """Rows every state has: look-ups, help, opt-out/in, text we cannot use, and the
    outcomes of those actions (which leave the state alone)."""
    return {
        Kind.BALANCE: Transition(state, Action.SEND_BALANCE),
        Kind.PROFILE: Transition(state, Action.SEND_PROFILE),
        Kind.HISTORY: Transition(state, Action.SEND_HISTORY),
        Kind.HELP: Transition(state, reply=messages.HELP),
        Kind.LANGUAGE: Transition(state, Action.SET_LANGUAGE),
        # Twilio answers STOP and START itself; a second reply would be noise (and
        # after STOP, Twilio would refuse to deliver it anyway).
        Kind.OPT_OUT: Transition(state, Action.RECORD_OPT_OUT),
        Kind.OPT_IN: Transition(state, Action.RECORD_OPT_IN),
        Kind.MALFORMED: Transition(state, reply=DETAIL),
        Kind.UNKNOWN: Transition(state, reply=NOT_UNDERSTOOD),
        Kind.DONE: Transition(state, reply=DETAIL),
        Kind.REFUSED: Transition(state, reply=DETAIL),
    }


TRANSITIONS: dict[ConversationState, dict[Kind, Transition]] = {
    S.IDLE: {
        **_always(S.IDLE),
        Kind.WITHDRAW: Transition(S.IDLE, Action.START_WITHDRAWAL),
        Kind.PHONE: Transition(S.IDLE, Action.START_PHONE_CHANGE),
        # The code itself is the reply: the bank texted it while starting the request.
        Kind.WITHDRAWAL_STARTED: Transition(S.AWAITING_WITHDRAWAL_CODE),
        Kind.PHONE_CHANGE_STARTED: Transition(S.AWAITING_PHONE_CODE),
    },
    S.AWAITING_WITHDRAWAL_CODE: {
        **_always(S.AWAITING_WITHDRAWAL_CODE),
        # A new WITHDRAW replaces the pending request (the old code dies with it).
        Kind.WITHDRAW: Transition(S.AWAITING_WITHDRAWAL_CODE, Action.START_WITHDRAWAL),
        Kind.CODE: Transition(S.AWAITING_WITHDRAWAL_CODE, Action.CHECK_WITHDRAWAL_CODE),
        Kind.ABORT: Transition(S.AWAITING_WITHDRAWAL_CODE, Action.CANCEL_WITHDRAWAL),
        Kind.CALL: Transition(S.AWAITING_WITHDRAWAL_CODE, Action.CALL_WITHDRAWAL_CODE),
        Kind.WITHDRAWAL_STARTED: Transition(S.AWAITING_WITHDRAWAL_CODE),
        # The capture link is the reply; the withdrawal module texts it.
        Kind.CODE_ACCEPTED: Transition(S.AWAITING_WITHDRAWAL_SELFIE),
        Kind.CODE_REJECTED: Transition(S.AWAITING_WITHDRAWAL_CODE, reply=DETAIL),
        Kind.REQUEST_ENDED: Transition(S.IDLE, reply=DETAIL),
    },
    S.AWAITING_WITHDRAWAL_SELFIE: {
        **_always(S.AWAITING_WITHDRAWAL_SELFIE),
        Kind.WITHDRAW: Transition(S.AWAITING_WITHDRAWAL_SELFIE, Action.START_WITHDRAWAL),
        Kind.ABORT: Transition(S.AWAITING_WITHDRAWAL_SELFIE, Action.CANCEL_WITHDRAWAL),
        Kind.WITHDRAWAL_STARTED: Transition(S.AWAITING_WITHDRAWAL_CODE),
        Kind.REQUEST_ENDED: Transition(S.IDLE, reply=DETAIL),
    },
    S.AWAITING_PHONE_CODE: {
        **_always(S.AWAITING_PHONE_CODE),
        Kind.PHONE: Transition(S.AWAITING_PHONE_CODE, Action.START_PHONE_CHANGE),
        Kind.CODE: Transition(S.AWAITING_PHONE_CODE, Action.CHECK_PHONE_CODE),
        Kind.ABORT: Transition(S.AWAITING_PHONE_CODE, Action.CANCEL_PHONE_CHANGE),
        Kind.CALL: Transition(S.AWAITING_PHONE_CODE, Action.CALL_PHONE_CODE),
        Kind.PHONE_CHANGE_STARTED: Transition(S.AWAITING_PHONE_CODE),
        Kind.CODE_ACCEPTED: Transition(S.AWAITING_PHONE_SELFIE),
        Kind.CODE_REJECTED: Transition(S.AWAITING_PHONE_CODE, reply=DETAIL),
        Kind.REQUEST_ENDED: Transition(S.IDLE, reply=DETAIL),
    },
    S.AWAITING_PHONE_SELFIE: {
        **_always(S.AWAITING_PHONE_SELFIE),
        Kind.PHONE: Transition(S.AWAITING_PHONE_SELFIE, Action.START_PHONE_CHANGE),
        Kind.ABORT: Transition(S.AWAITING_PHONE_SELFIE, Action.CANCEL_PHONE_CHANGE),
        Kind.PHONE_CHANGE_STARTED: Transition(S.AWAITING_PHONE_CODE),
        Kind.REQUEST_ENDED: Transition(S.IDLE, reply=DETAIL),
    },
    S.BRANCH_PHONE_CHANGE: {
        **_always(S.BRANCH_PHONE_CHANGE),
        # The old phone stops a change someone started at a branch in its name.
        Kind.ABORT: Transition(S.BRANCH_PHONE_CHANGE, Action.CANCEL_PHONE_CHANGE),
        Kind.REQUEST_ENDED: Transition(S.IDLE, reply=DETAIL),
    },
}


def step(state: ConversationState, event: Event, language: str = DEFAULT_LANGUAGE) -> Step:
    """The next state, actions and replies (in `language`) for `event` in `state`.

    An event with no row in the table is illegal: the state stays as it is and the
    reply (for a command) says what the customer can do instead.
    """
    row = TRANSITIONS[state].get(event.kind)
    if row is None:
        return Step(state, (), _nonempty(_illegal_reply(state, event, language)), legal=False)
    actions = (row.action,) if row.action is not None else ()
    return Step(row.target, actions, _nonempty(_render(row.reply, state, event, language)))


def _render(template: str, state: ConversationState, event: Event, language: str) -> str:
    if not template:
        return ""
    if template == DETAIL:
        detail = event.detail
        return messages.notice(language, detail) if isinstance(detail, Text) else detail
    return messages.sms(language, template, hint=localize(HINTS[state], language))


def _illegal_reply(state: ConversationState, event: Event, language: str) -> str:
    if event.kind in OUTCOMES:
        return ""
    template = ILLEGAL_IN_STATE.get(state, {}).get(event.kind) or ILLEGAL_REPLIES.get(
        event.kind, HINTS[state]
    )
    return _render(template, state, event, language)


def _nonempty(*replies: str) -> tuple[str, ...]:
    return tuple(r for r in replies if r.strip())


def pending_request(state: ConversationState) -> str | None:
    """Which kind of request a state is tied to: "withdrawal", "phone_change" or None."""
    if state in (S.AWAITING_WITHDRAWAL_CODE, S.AWAITING_WITHDRAWAL_SELFIE):
        return "withdrawal"
    if state in (S.AWAITING_PHONE_CODE, S.AWAITING_PHONE_SELFIE, S.BRANCH_PHONE_CHANGE):
        return "phone_change"
    return None


# --- the parser ----------------------------------------------------------------------

# Twilio's opt-out and opt-in keywords (it acts on them before we see them): its English
# list (help.twilio.com, "Twilio support for opt-out keywords"), and the French ones its
# Proxy docs name. Spanish ones are Twilio's only where an operator adds them (Advanced
# Opt-Out); we honour the common ones anyway. Reading a word as opt-out only ever sends
# less. docs/sms.md lists them with their sources.
OPT_OUT_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"}
    | {"ARRET", "ARRETE", "ARRETT"}
    | {"PARAR", "DETENER", "CANCELAR", "BAJA", "ALTO", "FIN"}
)
OPT_IN_WORDS = frozenset(
    {"START", "YES", "UNSTOP"} | {"COMENZAR", "INICIAR", "INICIO", "ALTA", "SI", "REANUDAR"}
)
HELP_WORDS = frozenset({"HELP", "INFO", "AYUDA"})  # INFO, AYUDA: Twilio's help keywords
LANGUAGE_WORDS: dict[str, Language] = {
    "ENGLISH": Language.EN,
    "INGLES": Language.EN,
    "ESPANOL": Language.ES,  # ESPAÑOL too: accents are folded before words are read
}
SINGLE_WORDS: dict[str, Kind] = {
    "BAL": Kind.BALANCE,
    "BALANCE": Kind.BALANCE,
    "SALDO": Kind.BALANCE,
    "ME": Kind.PROFILE,
    "DATOS": Kind.PROFILE,
    "HISTORY": Kind.HISTORY,
    "HISTORIAL": Kind.HISTORY,
    "ABORT": Kind.ABORT,
    "ANULAR": Kind.ABORT,
    "CALL": Kind.CALL,
    "LLAMAR": Kind.CALL,
    **dict.fromkeys(HELP_WORDS, Kind.HELP),
    **dict.fromkeys(LANGUAGE_WORDS, Kind.LANGUAGE),
    **dict.fromkeys(OPT_OUT_WORDS, Kind.OPT_OUT),
    **dict.fromkeys(OPT_IN_WORDS, Kind.OPT_IN),
}
WITHDRAW_WORDS = ("WITHDRAW", "RETIRAR", "W", "R")
PHONE_WORDS = ("PHONE", "TELEFONO")
# "W 20", and "W20": glued to the word, only an amount (a digit or a currency sign), so
# "WHAT" stays a word we do not know rather than a withdrawal of "HAT".
_WITHDRAW_RE = re.compile(
    rf"^(?:{'|'.join(WITHDRAW_WORDS)})(?:\s+(?P<amount>.+)|(?P<glued>[$€£₦0-9].*))?$"
)
_PHONE_RE = re.compile(rf"^(?:{'|'.join(PHONE_WORDS)})(?:\s+(?P<number>.+))?$")
_CODE_RE = re.compile(r"^[0-9]{6}$", re.ASCII)
_CODE_CHARS_RE = re.compile(r"^[0-9 ]+$", re.ASCII)

SAY_HOW_MUCH = N_("Say how much to withdraw, for example W 20.")
AMOUNT_NOT_VALID = N_(
    "That amount is not valid. Write it in digits, with a point before the cents, "
    "for example W 20 or W 20.50."
)
LOOKS_LIKE_A_CODE = N_(
    "That looks like a code. To answer a code, send only its 6 digits. To withdraw, "
    "write the amount, for example W 20."
)
PHONE_EXAMPLE = N_("Write the new number with its country code, for example PHONE +15557654321.")
PHONE_NOT_VALID = N_(
    "That phone number is not valid. Write it with its country code, for example "
    "PHONE +15557654321."
)


def normalize_text(body: object) -> str:
    """Upper case, compatibility forms folded (full-width digits), accents dropped
    (ESPAÑOL reads ESPANOL, TELÉFONO reads TELEFONO), control and format characters
    dropped, runs of spaces collapsed."""
    if not isinstance(body, str):
        return ""
    text = unicodedata.normalize("NFKC", body[:MAX_COMMAND_CHARS])
    # Control characters (Cc) and invisible format characters (Cf, e.g. zero-width
    # joiners some keyboards insert) become spaces, so "W\u200b20" still reads "W 20".
    cleaned = "".join(" " if unicodedata.category(ch) in ("Cc", "Cf") else ch for ch in text)
    if not cleaned.isascii():
        decomposed = unicodedata.normalize("NFD", cleaned)
        cleaned = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(cleaned.split()).upper()


def parse(body: object, *, default_region: str = "US") -> Event:
    """Turn an SMS body into an event. Never raises, whatever the text."""
    text = normalize_text(body)
    if not text:
        return Event(Kind.UNKNOWN)
    if text in SINGLE_WORDS:
        kind = SINGLE_WORDS[text]
        return Event(kind, language=LANGUAGE_WORDS.get(text))
    if _CODE_CHARS_RE.match(text):
        digits = text.replace(" ", "")
        # Keyboards and people split codes as "123 456"; any other digits are not one.
        if _CODE_RE.match(digits):
            return Event(Kind.CODE, code=digits)
        return Event(Kind.UNKNOWN)
    withdraw = _WITHDRAW_RE.match(text)
    if withdraw:
        return _parse_withdraw(withdraw.group("amount") or withdraw.group("glued"))
    phone = _PHONE_RE.match(text)
    if phone:
        return _parse_phone(phone.group("number"), default_region)
    return Event(Kind.UNKNOWN)


def _parse_withdraw(amount_text: str | None) -> Event:
    if not amount_text:
        return Event(Kind.MALFORMED, detail=Text(SAY_HOW_MUCH))
    if _CODE_RE.match(amount_text.strip()):
        # Six bare digits after W are more likely a code typed after the wrong word
        # than six figures: no withdrawal is started for them (write "W 100,000").
        return Event(Kind.MALFORMED, detail=Text(LOOKS_LIKE_A_CODE))
    try:
        amount = parse_amount(amount_text)
    except InvalidAmount:
        return Event(Kind.MALFORMED, detail=Text(AMOUNT_NOT_VALID))
    return Event(Kind.WITHDRAW, amount=amount)


def _parse_phone(number_text: str | None, default_region: str) -> Event:
    if not number_text:
        return Event(Kind.MALFORMED, detail=Text(PHONE_EXAMPLE))
    try:
        phone = normalize_phone(number_text, default_region)
    except InvalidPhone:
        return Event(Kind.MALFORMED, detail=Text(PHONE_NOT_VALID))
    return Event(Kind.PHONE, phone=phone)
