"""The pure conversation machine and its parser: every (state, event) pair, legal and
illegal, against an expectation written out here independently of the table; and the
parser under hypothesis (never raises, whatever arrives)."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsbank.i18n import Language
from smsbank.models import ConversationState
from smsbank.sms.conversation import (
    COMMANDS,
    HELP_WORDS,
    LANGUAGE_WORDS,
    OPT_IN_WORDS,
    OPT_OUT_WORDS,
    OUTCOMES,
    PHONE_WORDS,
    SINGLE_WORDS,
    TRANSITIONS,
    WITHDRAW_WORDS,
    Action,
    Event,
    Kind,
    parse,
    pending_request,
    step,
)

S = ConversationState
IDLE = S.IDLE
WC = S.AWAITING_WITHDRAWAL_CODE
WS = S.AWAITING_WITHDRAWAL_SELFIE
PC = S.AWAITING_PHONE_CODE
PS = S.AWAITING_PHONE_SELFIE
BP = S.BRANCH_PHONE_CHANGE

# Commands every state answers without moving: look-ups, help, keywords, bad text.
ANYTIME = {
    Kind.BALANCE: Action.SEND_BALANCE,
    Kind.PROFILE: Action.SEND_PROFILE,
    Kind.HISTORY: Action.SEND_HISTORY,
    Kind.HELP: None,
    Kind.LANGUAGE: Action.SET_LANGUAGE,
    Kind.OPT_OUT: Action.RECORD_OPT_OUT,
    Kind.OPT_IN: Action.RECORD_OPT_IN,
    Kind.MALFORMED: None,
    Kind.UNKNOWN: None,
}
# The flow commands: (state, command) -> action; a pair missing here is illegal.
FLOW = {
    (IDLE, Kind.WITHDRAW): Action.START_WITHDRAWAL,
    (IDLE, Kind.PHONE): Action.START_PHONE_CHANGE,
    (WC, Kind.WITHDRAW): Action.START_WITHDRAWAL,
    (WC, Kind.CODE): Action.CHECK_WITHDRAWAL_CODE,
    (WC, Kind.ABORT): Action.CANCEL_WITHDRAWAL,
    (WC, Kind.CALL): Action.CALL_WITHDRAWAL_CODE,
    (WS, Kind.WITHDRAW): Action.START_WITHDRAWAL,
    (WS, Kind.ABORT): Action.CANCEL_WITHDRAWAL,
    (PC, Kind.PHONE): Action.START_PHONE_CHANGE,
    (PC, Kind.CODE): Action.CHECK_PHONE_CODE,
    (PC, Kind.ABORT): Action.CANCEL_PHONE_CHANGE,
    (PC, Kind.CALL): Action.CALL_PHONE_CODE,
    (PS, Kind.PHONE): Action.START_PHONE_CHANGE,
    (PS, Kind.ABORT): Action.CANCEL_PHONE_CHANGE,
    (BP, Kind.ABORT): Action.CANCEL_PHONE_CHANGE,  # the old phone stops a branch's change
}
# Outcomes: (state, outcome) -> next state; DONE and REFUSED never move.
MOVES = {
    (IDLE, Kind.WITHDRAWAL_STARTED): WC,
    (IDLE, Kind.PHONE_CHANGE_STARTED): PC,
    (WC, Kind.WITHDRAWAL_STARTED): WC,
    (WC, Kind.CODE_ACCEPTED): WS,
    (WC, Kind.CODE_REJECTED): WC,
    (WC, Kind.REQUEST_ENDED): IDLE,
    (WS, Kind.WITHDRAWAL_STARTED): WC,
    (WS, Kind.REQUEST_ENDED): IDLE,
    (PC, Kind.PHONE_CHANGE_STARTED): PC,
    (PC, Kind.CODE_ACCEPTED): PS,
    (PC, Kind.CODE_REJECTED): PC,
    (PC, Kind.REQUEST_ENDED): IDLE,
    (PS, Kind.PHONE_CHANGE_STARTED): PC,
    (PS, Kind.REQUEST_ENDED): IDLE,
    (BP, Kind.REQUEST_ENDED): IDLE,
}


def sample_event(kind: Kind) -> Event:
    return Event(
        kind,
        amount=Decimal("20.00") if kind == Kind.WITHDRAW else None,
        phone="+15557654321" if kind == Kind.PHONE else None,
        code="123456" if kind == Kind.CODE else None,
        language=Language.ES if kind == Kind.LANGUAGE else None,
        detail="the outcome's own message",
        request_id=7 if kind.name.endswith("STARTED") else None,
    )


ALL_PAIRS = list(itertools.product(list(S), list(Kind)))


@pytest.mark.parametrize(
    ("state", "kind"), ALL_PAIRS, ids=[f"{s.value}-{k.value}" for s, k in ALL_PAIRS]
)
def test_every_state_and_event(state: ConversationState, kind: Kind) -> None:
    result = step(state, sample_event(kind))
    if kind in ANYTIME:
        expected_action = ANYTIME[kind]
        assert result.legal
        assert result.state == state
        assert result.actions == ((expected_action,) if expected_action else ())
        if expected_action is None:
            assert result.replies, "help, hints and malformed commands are answered"
    elif kind in COMMANDS and (state, kind) in FLOW:
        assert result.legal
        assert result.state == state, "a flow command moves only once its outcome is known"
        assert result.actions == (FLOW[(state, kind)],)
        assert result.replies == ()
    elif kind in (Kind.DONE, Kind.REFUSED):
        assert result.legal and result.state == state and result.actions == ()
        assert result.replies == ("the outcome's own message",)
    elif (state, kind) in MOVES:
        assert result.legal
        assert result.state == MOVES[(state, kind)]
        assert result.actions == (), "outcomes never cause further actions"
    else:
        # Illegal: nothing moves, nothing runs; a customer is told what to do instead.
        assert not result.legal
        assert result.state == state
        assert result.actions == ()
        if kind in COMMANDS:
            assert len(result.replies) == 1 and result.replies[0].strip()
        else:
            assert result.replies == ()


def test_the_table_has_no_row_the_expectations_do_not_know() -> None:
    expected = {(s, k) for s in S for k in ANYTIME} | set(FLOW) | set(MOVES)
    expected |= {(s, k) for s in S for k in (Kind.DONE, Kind.REFUSED)}
    actual = {(s, k) for s, row in TRANSITIONS.items() for k in row}
    assert actual == expected


@pytest.mark.parametrize(
    ("state", "kind", "says"),
    [
        (IDLE, Kind.CODE, "No code is waiting"),
        (IDLE, Kind.ABORT, "nothing to cancel"),
        (IDLE, Kind.CALL, "nothing to call you about"),
        (WC, Kind.PHONE, "Finish or ABORT your withdrawal"),
        (WS, Kind.CODE, "already accepted"),
        (WS, Kind.CALL, "already accepted"),
        (PC, Kind.WITHDRAW, "Finish or ABORT your number change"),
        (PS, Kind.WITHDRAW, "Finish or ABORT your number change"),
        (PS, Kind.CODE, "already accepted"),
        (BP, Kind.CODE, "given at the branch"),
        (BP, Kind.CALL, "given at the branch"),
        (BP, Kind.PHONE, "started at a branch is waiting"),
        (BP, Kind.WITHDRAW, "Finish or ABORT your number change"),
    ],
)
def test_illegal_commands_get_a_reply_that_helps(
    state: ConversationState, kind: Kind, says: str
) -> None:
    result = step(state, sample_event(kind))
    assert not result.legal
    assert says in result.replies[0]


def test_unknown_text_gets_the_hint_of_the_current_state() -> None:
    assert "HELP" in step(IDLE, Event(Kind.UNKNOWN)).replies[0]
    assert "6-digit code" in step(WC, Event(Kind.UNKNOWN)).replies[0]
    assert "link" in step(WS, Event(Kind.UNKNOWN)).replies[0]
    assert "ABORT if it was not you" in step(BP, Event(Kind.UNKNOWN)).replies[0]


def test_replies_are_in_the_language_asked_for_with_its_command_words() -> None:
    assert "AYUDA" in step(IDLE, Event(Kind.UNKNOWN), "es").replies[0]
    assert "6 digitos" in step(WC, Event(Kind.UNKNOWN), "es").replies[0]
    assert "ANULAR" in step(PC, Event(Kind.UNKNOWN), "es").replies[0]
    assert "ANULAR" in step(WC, parse("PHONE +15557654321"), "es").replies[0]
    assert "R 20" in step(IDLE, parse("W lots"), "es").replies[0]
    assert "SALDO" in step(IDLE, parse("AYUDA"), "es").replies[0]


def test_every_reply_of_the_table_starts_with_the_bank_and_ends_a_sentence() -> None:
    for state, kind, language in itertools.product(S, COMMANDS, ("en", "es")):
        event = parse("W lots") if kind == Kind.MALFORMED else Event(kind)
        for reply in step(state, event, language).replies:
            assert reply.startswith("SMS Bank: "), reply
            assert reply.rstrip()[-1] in ".!?", reply


def test_an_outcome_without_a_message_sends_nothing() -> None:
    assert step(WC, Event(Kind.REQUEST_ENDED)).replies == ()
    assert step(IDLE, Event(Kind.DONE)).replies == ()


def test_pending_request_names_the_flow_of_each_state() -> None:
    assert pending_request(IDLE) is None
    assert pending_request(WC) == pending_request(WS) == "withdrawal"
    assert pending_request(PC) == pending_request(PS) == pending_request(BP) == "phone_change"


def test_outcomes_and_commands_split_the_kinds() -> None:
    assert set(Kind) == COMMANDS | OUTCOMES and not COMMANDS & OUTCOMES


# --- the parser ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("BAL", Kind.BALANCE),
        ("bal", Kind.BALANCE),
        ("  Balance  ", Kind.BALANCE),
        ("me", Kind.PROFILE),
        ("History", Kind.HISTORY),
        ("abort", Kind.ABORT),
        ("Call", Kind.CALL),
        ("help", Kind.HELP),
        ("INFO", Kind.HELP),
        ("Ayuda", Kind.HELP),
        ("saldo", Kind.BALANCE),
        ("Datos", Kind.PROFILE),
        ("historial", Kind.HISTORY),
        ("anular", Kind.ABORT),
        ("Llamar", Kind.CALL),
        ("ESPAÑOL", Kind.LANGUAGE),
        ("espanol", Kind.LANGUAGE),
        ("Español", Kind.LANGUAGE),
        ("english", Kind.LANGUAGE),
        ("inglés", Kind.LANGUAGE),
        *[(word, Kind.OPT_OUT) for word in ("PARAR", "detener", "Cancelar", "baja", "ARRET")],
        *[(word, Kind.OPT_IN) for word in ("COMENZAR", "inicio", "sí", "Si")],
        ("R", Kind.MALFORMED),
        ("retirar", Kind.MALFORMED),
        ("R 20,50", Kind.MALFORMED),
        ("W 20,50", Kind.MALFORMED),
        ("WHAT", Kind.UNKNOWN),
        ("RAIN", Kind.UNKNOWN),
        ("W123456", Kind.MALFORMED),
        ("W 123456", Kind.MALFORMED),
        ("R 654321", Kind.MALFORMED),
        *[(word, Kind.OPT_OUT) for word in ("STOP", "stopall", "Unsubscribe", "cancel")],
        *[(word, Kind.OPT_OUT) for word in ("END", "quit")],
        *[(word, Kind.OPT_IN) for word in ("START", "yes", "Unstop")],
        ("", Kind.UNKNOWN),
        ("   ", Kind.UNKNOWN),
        ("hello", Kind.UNKNOWN),
        ("BAL please", Kind.UNKNOWN),
        ("stop it", Kind.UNKNOWN),  # Twilio's keywords count only as the whole message
        ("1234567", Kind.UNKNOWN),
        ("12345", Kind.UNKNOWN),
        ("W", Kind.MALFORMED),
        ("withdraw", Kind.MALFORMED),
        ("W abc", Kind.MALFORMED),
        ("W -20", Kind.MALFORMED),
        ("W 0", Kind.MALFORMED),
        ("W 20.001", Kind.MALFORMED),
        ("PHONE", Kind.MALFORMED),
        ("PHONE 12", Kind.MALFORMED),
        ("PHONE call me", Kind.MALFORMED),
    ],
)
def test_parse_kinds(text: str, kind: Kind) -> None:
    assert parse(text).kind == kind


def test_cancel_is_twilios_keyword_never_ours() -> None:
    """Cancelling a withdrawal is ABORT: CANCEL is an opt-out Twilio acts on itself."""
    for state in S:
        assert step(state, parse("CANCEL")).actions == (Action.RECORD_OPT_OUT,)


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("WITHDRAW 20", "20.00"),
        ("W 20", "20.00"),
        ("w   20", "20.00"),
        ("  withdraw 20.5 ", "20.50"),
        ("W $1,000.00", "1000.00"),
        ("W\t$20", "20.00"),
        ("ＷＩＴＨＤＲＡＷ　２０", "20.00"),  # full-width, as some keyboards send
        ("W\u200b20", "20.00"),  # a zero-width space between
        ("W20", "20.00"),
        ("w20.50", "20.50"),
        ("W$1,000", "1000.00"),
        ("WITHDRAW20", "20.00"),
        ("R 20", "20.00"),
        ("r20", "20.00"),
        ("RETIRAR 20.5", "20.50"),
        ("W 100,000", "100000.00"),  # six figures, written with a separator
        ("W 12345", "12345.00"),
    ],
)
def test_parse_withdraw_amounts(text: str, amount: str) -> None:
    event = parse(text)
    assert event.kind == Kind.WITHDRAW
    assert event.amount == Decimal(amount)


@pytest.mark.parametrize("text", ["123456", " 123456 ", "123 456", "１２３４５６"])
def test_parse_codes(text: str) -> None:
    event = parse(text)
    assert event.kind == Kind.CODE and event.code == "123456"


@pytest.mark.parametrize(
    "text",
    [
        "PHONE +15557654321",
        "phone +1 555 765 4321",
        "Phone (555) 765-4321",
        "TELEFONO +15557654321",
        "teléfono +1 555 765 4321",
    ],
)
def test_parse_phone_numbers_into_e164(text: str) -> None:
    event = parse(text)
    assert event.kind == Kind.PHONE and event.phone == "+15557654321"


def test_malformed_commands_say_how_to_write_them() -> None:
    assert "W 20" in parse("W lots").detail
    assert "point before the cents" in parse("W 20,50").detail
    assert "PHONE +15557654321" in parse("PHONE 12").detail


def test_six_digits_after_w_are_taken_for_a_code_never_for_an_amount() -> None:
    for text in ("W 123456", "W123456", "R 123456", "withdraw 123456"):
        event = parse(text)
        assert event.kind == Kind.MALFORMED and event.amount is None
        assert "6 digits" in event.detail
    assert parse("123456").kind == Kind.CODE


def test_amounts_read_the_same_whatever_the_words_language() -> None:
    for english, spanish in (("W 20", "R 20"), ("W 1,000", "R 1,000"), ("W 20,50", "R 20,50")):
        assert parse(english) == parse(spanish)


# Twilio's own keywords (help.twilio.com "Twilio support for opt-out keywords", the
# Advanced Opt-Out docs; docs/sms.md) and the Spanish ones an operator may configure.
TWILIO_KEYWORDS = {
    "STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT",
    "START", "YES", "UNSTOP", "HELP", "INFO", "ARRET", "ARRETE", "ARRETT",
    "PARAR", "DETENER", "CANCELAR", "BAJA", "ALTO", "FIN", "AYUDA", "COMENZAR", "INICIO",
    "INICIAR", "SI", "ALTA", "REANUDAR",
}  # fmt: skip


def test_no_command_word_of_ours_is_one_of_twilios_keywords() -> None:
    ours = set(WITHDRAW_WORDS) | set(PHONE_WORDS) | set(LANGUAGE_WORDS)
    ours |= {word for word, kind in SINGLE_WORDS.items() if kind not in (Kind.OPT_OUT, Kind.OPT_IN)}
    ours -= HELP_WORDS  # HELP, INFO, AYUDA: Twilio's help words, answered by us as HELP
    assert not ours & TWILIO_KEYWORDS
    assert TWILIO_KEYWORDS - HELP_WORDS <= OPT_OUT_WORDS | OPT_IN_WORDS, "all honoured"


def test_an_event_never_shows_its_code() -> None:
    assert "123456" not in repr(parse("123456"))


bodies = st.one_of(
    st.text(max_size=1600),
    st.text(
        alphabet=st.characters(codec="utf-8", categories=("Cc", "Cf", "So", "Zs", "Nd", "Lu")),
        max_size=1600,
    ),
    st.builds(
        lambda prefix, middle, suffix: prefix + middle + suffix,
        st.sampled_from(["W ", "WITHDRAW ", "PHONE ", "", " stop", "12"]),
        st.text(max_size=40),
        st.sampled_from(["", "😀", "\x00", "\u202e", "\r\n", " 20"]),
    ),
)


@given(body=bodies)
def test_the_parser_never_raises(body: str) -> None:
    event = parse(body)
    assert isinstance(event.kind, Kind)
    assert event.kind in COMMANDS
    if event.kind == Kind.CODE:
        assert event.code is not None and len(event.code) == 6 and event.code.isdigit()
    if event.kind == Kind.WITHDRAW:
        assert event.amount is not None and event.amount > 0
    if event.kind == Kind.PHONE:
        assert event.phone is not None and event.phone.startswith("+")
    for state in S:
        result = step(state, event)
        assert all(isinstance(reply, str) and reply for reply in result.replies)


CANONICAL = [
    "BAL",
    "BALANCE",
    "ME",
    "HISTORY",
    "W 20",
    "WITHDRAW 20.50",
    "123456",
    "ABORT",
    "CALL",
    "HELP",
    "PHONE +15557654321",
    "STOP",
    "START",
    "UNSUBSCRIBE",
]


@given(
    command=st.sampled_from(CANONICAL),
    upper=st.lists(st.booleans(), min_size=30, max_size=30),
    gaps=st.lists(st.sampled_from([" ", "  ", "\t", " \n "]), min_size=3, max_size=3),
)
def test_case_and_extra_spaces_never_change_the_meaning(
    command: str, upper: list[bool], gaps: list[str]
) -> None:
    cased = "".join(c.upper() if up else c.lower() for c, up in zip(command, upper, strict=False))
    mangled = gaps[0] + gaps[1].join(cased.split(" ")) + gaps[2]
    assert parse(mangled) == parse(command)


def test_non_text_is_unknown() -> None:
    assert parse(None).kind == Kind.UNKNOWN
    assert parse(b"BAL").kind == Kind.UNKNOWN
