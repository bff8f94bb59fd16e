"""Gold models on small inline silver rows (chispa)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from chispa import assert_df_equality

from gold import models

T0 = datetime(2026, 11, 1, 9, 0)
M = timedelta(minutes=1)
EVENTS = ("source_id string, id string, user_id string, anonymous_id string, timestamp timestamp, "
          "received_at timestamp")


def tracks(spark, rows):
    return spark.createDataFrame(rows, EVENTS + ", event string, context_campaign_name string")


def pages(spark, rows):
    return spark.createDataFrame(rows, EVENTS + ", name string, context_page_path string")


def screens(spark, rows=()):
    return spark.createDataFrame(list(rows), EVENTS + ", name string")


def identity_map(spark, rows=()):
    return spark.createDataFrame(list(rows), "source_id string, anonymous_id string, user_id string, "
                                             "first_seen_at timestamp, last_seen_at timestamp, via string")


def person_activity(spark, track_rows, page_rows, pairs=()):
    activity_df = models.activity(tracks(spark, track_rows), pages(spark, page_rows), screens(spark))
    return models.with_person(activity_df, models.stitched_identities(identity_map(spark, pairs)))


def test_sessions_split_after_30_minutes_and_keep_entry_exit_and_campaign(spark):
    page_rows = [
        ("s", "p1", None, "a1", T0, T0, "Home", "/"),
        ("s", "p2", None, "a1", T0 + 10 * M, T0, "Pricing", "/pricing"),
        ("s", "p3", None, "a1", T0 + 71 * M, T0, "Docs", "/docs"),  # 61 minutes later: a new session
        ("s", "p4", "u1", "a1", T0 + 72 * M, T0, "Account", "/account"),  # identified: the user's own session
        ("s", "bad", None, "a1", None, T0, "No time", "/x"),  # no timestamp: not sessionised
    ]
    track_rows = [("s", "t1", None, "a1", T0 + 5 * M, T0, "Signed Up", "spring")]
    sessions_df = models.sessions(person_activity(spark, track_rows, page_rows)).select(
        "person_id", "user_id", "anonymous_id", "started_at", "ended_at", "duration_s", "events", "pages",
        "entry_page", "exit_page", "campaign_name", "session_date")
    expected = spark.createDataFrame([
        ("a:a1", None, "a1", T0, T0 + 10 * M, 600, 3, 2, "/", "/pricing", "spring", date(2026, 11, 1)),
        ("a:a1", None, "a1", T0 + 71 * M, T0 + 71 * M, 0, 1, 1, "/docs", "/docs", None, date(2026, 11, 1)),
        ("u:u1", "u1", "a1", T0 + 72 * M, T0 + 72 * M, 0, 1, 1, "/account", "/account", None, date(2026, 11, 1)),
    ], "person_id string, user_id string, anonymous_id string, started_at timestamp, ended_at timestamp, "
       "duration_s bigint, events bigint, pages bigint, entry_page string, exit_page string, campaign_name string, "
       "session_date date")
    assert_df_equality(sessions_df, expected, ignore_row_order=True, ignore_nullable=True)


def test_session_ids_are_stable_across_rebuilds(spark):
    page_rows = [("s", "p1", None, "a1", T0, T0, "Home", "/"), ("s", "p2", None, "a2", T0, T0, "Home", "/")]
    first = {r[0] for r in models.sessions(person_activity(spark, [], page_rows)).select("session_id").collect()}
    second = {r[0] for r in models.sessions(person_activity(spark, [], list(reversed(page_rows)))).select("session_id").collect()}
    assert first == second and len(first) == 2


def test_identity_stitching_counts_an_anonymous_visitor_and_their_login_as_one_person(spark):
    page_rows = [("s", "p1", None, "a1", T0, T0, "Home", "/"),
                 ("s", "p2", "u1", "a1", T0 + M, T0, "Home", "/"),
                 ("s", "p3", None, "a2", T0 + 24 * 60 * M, T0, "Home", "/")]
    pairs = [("s", "a1", "u1", T0 + M, T0 + M, "identify")]
    person_df = person_activity(spark, [("s", "t1", None, "a1", T0, T0, "Viewed", None)], page_rows, pairs)
    dau_df = models.daily_active_users(person_df)
    expected = spark.createDataFrame([("s", date(2026, 11, 1), 1, 1, 3), ("s", date(2026, 11, 2), 1, 0, 1)],
                                     "source_id string, day date, active_users bigint, identified_users bigint, events bigint")
    assert_df_equality(dau_df, expected, ignore_row_order=True, ignore_nullable=True)
    counts_df = models.event_counts_daily(person_df).filter("day = '2026-11-01'").select("type", "event", "events", "distinct_users")
    assert sorted(tuple(r) for r in counts_df.collect()) == [("page", "Home", 2, 1), ("track", "Viewed", 1, 1)]


def test_users_join_activity_traits_and_anonymous_ids(spark):
    page_rows = [("s", "p1", None, "a1", T0, T0, "Home", "/"), ("s", "p2", "u1", None, T0 + M, T0, "Home", "/"),
                 ("s", "p3", None, "a7", T0 + 2 * M, T0, "Home", "/")]
    pairs = [("s", "a1", "u1", T0, T0, "identify"), ("s", "a5", "u1", T0, T0, "alias")]
    silver_users_df = spark.createDataFrame([("s", "u1", T0, T0, "a@x"), ("s", "u9", T0, T0, None)],
                                            "source_id string, id string, updated_at timestamp, loaded_at timestamp, email string")
    users_df = models.users(person_activity(spark, [], page_rows, pairs), silver_users_df, identity_map(spark, pairs))
    expected = spark.createDataFrame([
        ("s", "u:u1", "u1", True, T0, T0 + M, 2, 2, T0, "a@x"),
        ("s", "u:u9", "u9", True, None, None, 0, 0, T0, None),  # known from traits only
        ("s", "a:a7", None, False, T0 + 2 * M, T0 + 2 * M, 1, 0, None, None),
    ], "source_id string, person_id string, user_id string, is_identified boolean, first_seen_at timestamp, "
       "last_seen_at timestamp, events bigint, anonymous_ids bigint, traits_updated_at timestamp, email string")
    assert_df_equality(users_df, expected, ignore_row_order=True, ignore_nullable=True)
