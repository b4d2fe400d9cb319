"""The tables that tell `request_lifecycle` which kind of request a step works on.

Its steps are exercised through withdrawals and phone changes (tests/test_withdrawals.py,
tests/test_expiry.py, the webhook tests); a slip in a kind's table would show there only
as a wrong audit row or a conversation left waiting, so it is checked here, where it is
written.
"""

from __future__ import annotations

import pytest

from smsbank import phone_changes, request_lifecycle, withdrawals
from smsbank.models import CaptureToken, Conversation

KINDS = [withdrawals.KIND, phone_changes.KIND]


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.name)
def test_a_kind_uses_its_own_model_s_statuses(kind: request_lifecycle.RequestKind) -> None:
    statuses = kind.model._meta.fields_map["status"].enum_type
    named = (*kind.open_statuses, kind.awaiting_code, kind.cancelled, kind.failed, kind.expired)
    assert all(isinstance(status, statuses) for status in named)
    assert kind.awaiting_code in kind.open_statuses
    assert set(kind.waiting_statuses) <= set(kind.open_statuses)
    assert not {kind.cancelled, kind.failed, kind.expired} & set(kind.open_statuses)


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.name)
def test_a_kind_s_id_field_is_its_column_on_conversations_and_capture_links(
    kind: request_lifecycle.RequestKind,
) -> None:
    for table in (Conversation, CaptureToken):
        link = table._meta.fields_map[kind.id_field.removesuffix("_id")]
        assert getattr(link, "model_name") == f"models.{kind.model.__name__}"  # noqa: B009 (a ForeignKeyField's, untyped)
    assert kind.code_purpose.value == kind.capture_purpose.value == kind.name
