"""Dates as ThousandEyes writes them, read as the instants they name, in any account's zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.thousandeyes import ParseOptions, parse_event
from bot.thousandeyes.dates import parse_te_datetime
from bot.thousandeyes.zones import UnknownTimezone, load_timezone
from tests.support.payloads import load_sample, load_shape

UTC = UTC
NOT_SET = None  # THOUSANDEYES_TIMEZONE left unset


def options(zone: str | None) -> ParseOptions:
    return ParseOptions() if zone is None else ParseOptions.for_timezone(zone)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# (what ThousandEyes wrote, THOUSANDEYES_TIMEZONE, the instant in UTC)
ABBREVIATIONS = [
    # the two of the issue: US Central daylight in April, US Eastern standard in February
    ("2022-04-25 17:18:00 CDT", NOT_SET, "2022-04-25 22:18:00"),
    ("2022-02-17 23:43:00 EST", NOT_SET, "2022-02-18 04:43:00"),
    # UTC and GMT
    ("2022-04-25 17:18:00 UTC", NOT_SET, "2022-04-25 17:18:00"),
    ("2022-04-25 17:18:00 GMT", NOT_SET, "2022-04-25 17:18:00"),
    # US and Canada, standard and daylight forms
    ("2022-07-04 09:00:00 EDT", NOT_SET, "2022-07-04 13:00:00"),
    ("2022-01-10 09:00:00 CST", NOT_SET, "2022-01-10 15:00:00"),
    ("2022-01-10 09:00:00 MST", NOT_SET, "2022-01-10 16:00:00"),
    ("2022-07-04 09:00:00 MDT", NOT_SET, "2022-07-04 15:00:00"),
    ("2022-01-10 09:00:00 PST", NOT_SET, "2022-01-10 17:00:00"),
    ("2022-07-04 09:00:00 PDT", NOT_SET, "2022-07-04 16:00:00"),
    ("2022-01-10 09:00:00 AKST", NOT_SET, "2022-01-10 18:00:00"),
    ("2022-07-04 09:00:00 AKDT", NOT_SET, "2022-07-04 17:00:00"),
    ("2022-01-10 09:00:00 HST", NOT_SET, "2022-01-10 19:00:00"),
    ("2022-01-10 09:00:00 AST", NOT_SET, "2022-01-10 13:00:00"),
    ("2022-07-04 09:00:00 ADT", NOT_SET, "2022-07-04 12:00:00"),
    ("2022-01-10 09:00:00 NST", NOT_SET, "2022-01-10 12:30:00"),
    ("2022-07-04 09:00:00 NDT", NOT_SET, "2022-07-04 11:30:00"),
    # Europe
    ("2022-07-04 09:00:00 BST", NOT_SET, "2022-07-04 08:00:00"),
    ("2022-01-10 09:00:00 WET", NOT_SET, "2022-01-10 09:00:00"),
    ("2022-07-04 09:00:00 WEST", NOT_SET, "2022-07-04 08:00:00"),
    ("2022-01-10 09:00:00 CET", NOT_SET, "2022-01-10 08:00:00"),
    ("2022-07-04 09:00:00 CEST", NOT_SET, "2022-07-04 07:00:00"),
    ("2022-01-10 09:00:00 EET", NOT_SET, "2022-01-10 07:00:00"),
    ("2022-07-04 09:00:00 EEST", NOT_SET, "2022-07-04 06:00:00"),
    ("2022-01-10 09:00:00 MSK", NOT_SET, "2022-01-10 06:00:00"),
    # India, East Asia
    ("2022-01-10 09:00:00 IST", NOT_SET, "2022-01-10 03:30:00"),
    ("2022-01-10 09:00:00 SGT", NOT_SET, "2022-01-10 01:00:00"),
    ("2022-01-10 09:00:00 HKT", NOT_SET, "2022-01-10 01:00:00"),
    ("2022-01-10 09:00:00 JST", NOT_SET, "2022-01-10 00:00:00"),
    ("2022-01-10 09:00:00 KST", NOT_SET, "2022-01-10 00:00:00"),
    # Australia, New Zealand
    ("2022-07-04 09:00:00 AEST", NOT_SET, "2022-07-03 23:00:00"),
    ("2022-01-10 09:00:00 AEDT", NOT_SET, "2022-01-09 22:00:00"),
    ("2022-07-04 09:00:00 ACST", NOT_SET, "2022-07-03 23:30:00"),
    ("2022-01-10 09:00:00 ACDT", NOT_SET, "2022-01-09 22:30:00"),
    ("2022-01-10 09:00:00 AWST", NOT_SET, "2022-01-10 01:00:00"),
    ("2022-07-04 09:00:00 NZST", NOT_SET, "2022-07-03 21:00:00"),
    ("2022-01-10 09:00:00 NZDT", NOT_SET, "2022-01-09 20:00:00"),
    # an ambiguous abbreviation is settled by the configured zone...
    ("2022-01-10 09:00:00 IST", "Asia/Kolkata", "2022-01-10 03:30:00"),
    ("2022-07-04 09:00:00 IST", "Europe/Dublin", "2022-07-04 08:00:00"),
    ("2022-01-10 09:00:00 IST", "Asia/Jerusalem", "2022-01-10 07:00:00"),
    ("2022-01-10 09:00:00 CST", "America/Chicago", "2022-01-10 15:00:00"),
    ("2022-01-10 09:00:00 CST", "Asia/Shanghai", "2022-01-10 01:00:00"),
    ("2022-01-10 09:00:00 CST", "America/Havana", "2022-01-10 14:00:00"),
    ("2022-07-04 09:00:00 BST", "Europe/London", "2022-07-04 08:00:00"),
    ("2022-07-04 09:00:00 BST", "Asia/Dhaka", "2022-07-04 03:00:00"),
    ("2022-01-10 09:00:00 PST", "Asia/Manila", "2022-01-10 01:00:00"),
    # ...and means its usual reading where the configured zone does not use it
    ("2022-01-10 09:00:00 CST", "UTC", "2022-01-10 15:00:00"),
    ("2022-01-10 09:00:00 IST", "America/New_York", "2022-01-10 03:30:00"),
    # an abbreviation that contradicts the configured zone still names its own offset
    ("2022-07-04 12:00:00 EDT", "America/Chicago", "2022-07-04 16:00:00"),
    ("2022-01-10 12:00:00 CST", "America/Chicago", "2022-01-10 18:00:00"),
    ("2022-07-04 12:00:00 CST", "America/Chicago", "2022-07-04 18:00:00"),
    # in the hour a clock falls back, the abbreviation says which of the two it was
    ("2022-11-06 01:30:00 CDT", "America/Chicago", "2022-11-06 06:30:00"),
    ("2022-11-06 01:30:00 CST", "America/Chicago", "2022-11-06 07:30:00"),
    # case does not matter; numeric offsets and IANA names are read as well
    ("2022-04-25 17:18:00 cdt", NOT_SET, "2022-04-25 22:18:00"),
    ("2022-01-10 09:00:00 +0530", NOT_SET, "2022-01-10 03:30:00"),
    ("2022-01-10 09:00:00 UTC+05:30", NOT_SET, "2022-01-10 03:30:00"),
    ("2022-01-10 09:00:00 GMT-3", NOT_SET, "2022-01-10 12:00:00"),
    ("2022-04-25 17:18:00 America/Chicago", NOT_SET, "2022-04-25 22:18:00"),
    ("2022-04-25T17:18:00-05:00", "Asia/Tokyo", "2022-04-25 22:18:00"),
    ("2022-04-25T22:18:00Z", "Asia/Tokyo", "2022-04-25 22:18:00"),
]


@pytest.mark.parametrize("text, zone, expected", ABBREVIATIONS)
def test_zoned_dates_are_the_instants_they_name(text, zone, expected):
    assert parse_te_datetime(text, options(zone)) == utc(expected)


# Unzoned dates are in THOUSANDEYES_TIMEZONE, on both sides of each daylight-saving change.
UNZONED = [
    ("America/Chicago", "2022-03-13 01:30:00", "2022-03-13 07:30:00"),  # CST, before
    ("America/Chicago", "2022-03-13 03:30:00", "2022-03-13 08:30:00"),  # CDT, after
    ("America/Chicago", "2022-11-06 00:30:00", "2022-11-06 05:30:00"),  # CDT, before
    ("America/Chicago", "2022-11-06 02:30:00", "2022-11-06 08:30:00"),  # CST, after
    # the hour that happens twice reads as its first pass, as ThousandEyes gives no hint
    ("America/Chicago", "2022-11-06 01:30:00", "2022-11-06 06:30:00"),
    ("Europe/Berlin", "2022-03-27 01:30:00", "2022-03-27 00:30:00"),
    ("Europe/Berlin", "2022-03-27 03:30:00", "2022-03-27 01:30:00"),
    ("Australia/Sydney", "2022-04-03 01:30:00", "2022-04-02 14:30:00"),  # AEDT
    ("Australia/Sydney", "2022-04-03 03:30:00", "2022-04-02 17:30:00"),  # AEST
    ("UTC", "2014-08-24 01:01:47", "2014-08-24 01:01:47"),
]


@pytest.mark.parametrize("zone, text, expected", UNZONED)
def test_unzoned_dates_are_in_the_configured_zone(zone, text, expected):
    assert parse_te_datetime(text, options(zone)) == utc(expected)


def test_unzoned_dates_are_utc_when_no_zone_is_configured():
    assert parse_te_datetime("2014-08-24 01:01:47") == utc("2014-08-24 01:01:47")


@pytest.mark.parametrize("zone", [NOT_SET, "America/Chicago", "Asia/Kolkata"])
def test_epoch_dates_are_the_same_instant_in_every_zone(zone):
    for value in (1650925080, "1650925080", 1650925080000):
        assert parse_te_datetime(value, options(zone)) == utc("2022-04-25 22:18:00")


def test_an_unknown_abbreviation_is_not_placed_unless_a_zone_is_configured():
    assert parse_te_datetime("2022-06-01 09:00:00 XYZT") is None
    # The operator said where the account is: the local time is read there.
    assert parse_te_datetime("2022-06-01 09:00:00 XYZT", options("America/Chicago")) == utc(
        "2022-06-01 14:00:00")


@pytest.mark.parametrize("value", ["sometime yesterday", "2022-13-45 10:00:00", "", "   ", None,
                                   True, "2022-01-10 09:00:00 GMT+99", [], {}])
def test_what_is_not_a_date_is_none(value):
    assert parse_te_datetime(value, options("America/Chicago")) is None


def test_the_classic_parser_reads_cdt_and_est_as_true_instants():
    agent = parse_event(load_shape("agent_offline_trigger")).alert
    test = parse_event(load_shape("http_server_est_trigger")).alert
    assert agent.date_start == utc("2022-04-25 22:18:00")
    assert test.date_start == utc("2022-02-18 04:43:00")
    assert test.agents[0].date_start == utc("2022-02-18 04:43:00")
    assert test.agents[1].date_start == utc("2022-02-18 04:44:00")


def test_the_classic_parser_places_unzoned_dates_in_the_configured_zone():
    payload = load_sample("trigger")  # "2014-08-24 01:01:47", no zone
    chicago = options("America/Chicago")
    assert parse_event(payload, chicago).alert.date_start == utc("2014-08-24 06:01:47")
    assert parse_event(payload).alert.date_start == utc("2014-08-24 01:01:47")


def test_a_zoned_date_that_cannot_be_placed_is_never_taken_as_utc():
    alert = parse_event(load_shape("dns_unplaceable_trigger")).alert
    # dateStart "2022-06-01 09:00:00" is in the account's zone, which "XYZT" does not tell.
    assert alert.date_start is None
    assert alert.unplaced_dates == (("dateStart", "2022-06-01 09:00:00 XYZT"),)
    configured = parse_event(load_shape("dns_unplaceable_trigger"), options("Europe/Paris")).alert
    assert configured.date_start == utc("2022-06-01 07:00:00")
    assert configured.unplaced_dates == ()


def test_an_unreadable_date_is_recorded_as_sent():
    payload = load_sample("trigger")
    payload["alert"]["dateStart"] = "sometime yesterday"
    alert = parse_event(payload).alert
    assert alert.date_start is None
    assert alert.unplaced_dates == (("dateStart", "sometime yesterday"),)


@pytest.mark.parametrize("name", ["America/Chicago", "Europe/Dublin", "UTC", "Asia/Kolkata"])
def test_timezone_names_load(name):
    assert load_timezone(name).key == name


@pytest.mark.parametrize("name, hint", [
    ("America/Chicgo", "America/Chicago"),
    ("Mars/Olympus_Mons", "IANA"),
    ("../../etc/passwd", "IANA"),
    ("America", "IANA"),
    ("EST", "America/New_York"),
    ("", "IANA"),
])
def test_wrong_timezone_names_say_what_to_write(name, hint):
    with pytest.raises(UnknownTimezone) as error:
        load_timezone(name)
    assert hint in str(error.value) and "\n" not in str(error.value)


def test_zones_load_where_the_system_has_no_zone_database():
    import zoneinfo
    from datetime import timedelta

    system_paths = zoneinfo.TZPATH
    zoneinfo.reset_tzpath(to=[])  # as on a slim image or Windows: only the tzdata package
    try:
        chicago = zoneinfo.ZoneInfo.no_cache("America/Chicago")
        assert chicago.utcoffset(datetime(2022, 7, 1)) == timedelta(hours=-5)
    finally:
        zoneinfo.reset_tzpath(to=system_paths)
