"""Face checks in `GET /metrics`: real photos through the real engine, counted by
result, timed by outcome."""

from __future__ import annotations

from typing import Any

from smsbank.core.models import Customer
from tests.faces.test_api import photo
from tests.metrics_scrape import delta, scrape


async def test_face_checks_are_counted_by_result_and_timed_by_outcome(
    face_client: Any,
    staff: dict[str, str],
    make_customer: Any,
    enrol: Any,
    astronaut_jpeg: bytes,
    grace_jpeg: bytes,
    no_face_jpeg: bytes,
) -> None:
    customer: Customer = await enrol(await make_customer(name="Eileen Collins"), astronaut_jpeg)
    before = await scrape(face_client, staff)
    answers = []
    for picture in (astronaut_jpeg, grace_jpeg, grace_jpeg, no_face_jpeg):
        response = await face_client.post(
            "/verify_face",
            headers=staff,
            form={"customer_id": str(customer.id)},
            files=photo(picture),
        )
        answers.append(response.status_code)
    assert answers == [200, 200, 200, 422]
    after = await scrape(face_client, staff)

    def checks(result: str) -> float:
        return delta(
            before, after, "smsbank_face_checks_total", purpose="staff_check", result=result
        )

    assert (checks("match"), checks("no_match")) == (1, 2)
    timed = "smsbank_face_analysis_seconds_count"
    assert delta(before, after, timed, outcome="ok") == 3
    assert delta(before, after, timed, outcome="rejected") == 1
    assert delta(before, after, "smsbank_face_analysis_seconds_sum", outcome="ok") > 0
