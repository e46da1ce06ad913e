"""Login throttle: doubling waits per (username, address), known addresses spared, one attack alert."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from core import audit
from core.models import AuditEvent
from core.throttle import ATTACK, alert_if_attacked, delay_after, remaining_wait, verdict


def test_no_wait_below_the_threshold():
    assert delay_after(2, slow_after=3, base=1, cap=300) == 0


def test_the_wait_doubles_from_the_threshold():
    assert [delay_after(n, 3, 1, 300) for n in range(3, 8)] == [1, 2, 4, 8, 16]


def test_the_wait_is_capped():
    assert delay_after(40, 3, 1, 300) == 300


def test_a_huge_failure_count_does_not_overflow():
    assert delay_after(10**9, 3, 1, 300) == 300


def test_remaining_wait_counts_from_the_latest_failure():
    now = timezone.now()
    assert remaining_wait(now - timedelta(seconds=3), 10, now) == pytest.approx(7)


def test_remaining_wait_is_zero_once_past():
    now = timezone.now()
    assert remaining_wait(now - timedelta(seconds=30), 10, now) == 0


def test_remaining_wait_without_failures_is_zero():
    assert remaining_wait(None, 10, timezone.now()) == 0


def _event(username: str, address: str, outcome: str = audit.DENIED, ago: float = 0) -> None:
    AuditEvent.objects.create(
        action="auth.login",
        target=username,
        outcome=outcome,
        client_address=address,
        created_at=timezone.now() - timedelta(seconds=ago),
    )


@pytest.fixture
def throttle(settings):
    settings.LOGIN_THROTTLE_WINDOW_SECONDS = 900
    settings.LOGIN_THROTTLE_SLOW_AFTER = 3
    settings.LOGIN_THROTTLE_USER_SLOW_AFTER = 5
    settings.LOGIN_THROTTLE_ADDRESS_SLOW_AFTER = 5
    settings.LOGIN_THROTTLE_DELAY_SECONDS = 60
    settings.LOGIN_THROTTLE_MAX_DELAY_SECONDS = 600
    settings.LOGIN_KNOWN_ADDRESS_DAYS = 30
    settings.LOGIN_ATTACK_AFTER = 8
    return settings


def test_failures_of_one_pair_make_that_pair_wait(db, throttle):
    for _ in range(3):
        _event("amy", "10.0.0.1")
    assert verdict("amy", "10.0.0.1").wait == pytest.approx(60, abs=2)


def test_each_further_failure_of_the_pair_doubles_its_wait(db, throttle):
    for _ in range(5):
        _event("amy", "10.0.0.1")
    assert verdict("amy", "10.0.0.1").wait == pytest.approx(240, abs=2)


def test_failures_of_one_pair_do_not_hold_up_another_address(db, throttle):
    for _ in range(3):
        _event("amy", "10.0.0.1")
    assert verdict("amy", "10.0.0.2").wait == 0


def test_failures_age_out_of_the_window(db, throttle):
    for _ in range(4):
        _event("amy", "10.0.0.1", ago=1000)
    assert verdict("amy", "10.0.0.1").wait == 0


def test_a_distributed_attack_slows_unknown_addresses(db, throttle):
    for n in range(6):
        _event("amy", f"192.0.2.{n}")
    assert verdict("amy", "192.0.2.99").wait > 0


def test_a_distributed_attack_spares_an_address_with_a_recent_good_login(db, throttle):
    _event("amy", "10.0.0.7", outcome=audit.OK, ago=3600)
    for n in range(20):
        _event("amy", f"192.0.2.{n}")
    assert verdict("amy", "10.0.0.7").wait == 0


def test_a_good_login_long_ago_is_not_a_known_address(db, throttle):
    _event("amy", "10.0.0.7", outcome=audit.OK, ago=31 * 86400)
    assert verdict("amy", "10.0.0.7").known_address is False


def test_spraying_from_one_address_slows_that_address_for_other_users(db, throttle):
    for n in range(6):
        _event(f"user{n}", "198.51.100.1")
    assert verdict("bob", "198.51.100.1").wait > 0


def test_spraying_spares_a_user_who_logged_in_from_that_address(db, throttle):
    _event("bob", "198.51.100.1", outcome=audit.OK, ago=60)
    for n in range(6):
        _event(f"user{n}", "198.51.100.1")
    assert verdict("bob", "198.51.100.1").wait == 0


def test_a_good_login_resets_the_pair_count(db, throttle):
    for _ in range(3):
        _event("amy", "10.0.0.1", ago=30)
    _event("amy", "10.0.0.1", outcome=audit.OK, ago=10)
    assert verdict("amy", "10.0.0.1").failures_for_pair == 0


def test_an_attack_is_alerted_once_per_window(db, throttle):
    for n in range(8):
        _event("amy", f"192.0.2.{n}")
    alert_if_attacked({}, "amy")
    alert_if_attacked({}, "amy")
    assert AuditEvent.objects.filter(action=ATTACK, target="amy").count() == 1


def test_the_alert_names_the_count_and_the_addresses(db, throttle):
    for n in range(8):
        _event("amy", f"192.0.2.{n}")
    event = alert_if_attacked({}, "amy")
    assert event.message.startswith("8 failed or throttled logins for this username from 8 address(es)")


def test_no_alert_below_the_threshold(db, throttle):
    for n in range(7):
        _event("amy", f"192.0.2.{n}")
    assert alert_if_attacked({}, "amy") is None
