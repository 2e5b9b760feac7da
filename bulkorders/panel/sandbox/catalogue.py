"""The sandbox panel's service catalogue, as the panel sends it (numbers as strings).

Every type of SPEC's type table is here at least once, with and without refill and
cancel. samples/ and the tests rely on these ids: change them only with both.
"""

from __future__ import annotations

from typing import Any


def _svc(sid: int, name: str, stype: str, category: str, rate: str, lo: int, hi: int,
         refill: bool, cancel: bool) -> dict[str, Any]:
    return {
        "service": sid, "name": name, "type": stype, "category": category, "rate": rate,
        "min": str(lo), "max": str(hi), "refill": refill, "cancel": cancel,
    }  # fmt: skip


SERVICES: list[dict[str, Any]] = [
    _svc(1001, "Instagram Followers [Real, 30-day refill]", "Default", "Instagram Followers", "0.90", 10, 100000, True, True),
    _svc(1002, "Instagram Likes [Fast]", "Default", "Instagram Likes", "0.25", 10, 50000, False, True),
    _svc(1003, "Instagram Likes [Refill 60 days]", "Default", "Instagram Likes", "0.40", 10, 50000, True, False),
    _svc(1004, "Instagram Reel Views", "Default", "Instagram Views", "0.015", 100, 1000000, False, False),
    _svc(1005, "TikTok Followers [Refill 30 days]", "Default", "TikTok", "1.95", 50, 50000, True, True),
    _svc(1006, "YouTube Views [Non-drop]", "Default", "YouTube", "1.20", 500, 1000000, True, False),
    _svc(1007, "Instagram Custom Comments", "Custom Comments", "Instagram Comments", "12.00", 5, 500, False, False),
    _svc(1008, "Instagram Custom Comments Package [10 comments]", "Custom Comments Package", "Instagram Comments", "25.00", 1, 100, False, False),
    _svc(1009, "Instagram Profile Boost Package", "Package", "Instagram Packages", "15.00", 1, 1, False, False),
    _svc(1010, "Instagram Mentions", "Mentions", "Instagram Mentions", "3.00", 100, 10000, False, True),
    _svc(1011, "Instagram Mentions with Hashtags", "Mentions with Hashtags", "Instagram Mentions", "3.50", 100, 10000, False, False),
    _svc(1012, "Instagram Mentions [Custom List]", "Mentions Custom List", "Instagram Mentions", "8.00", 10, 1000, False, False),
    _svc(1013, "Instagram Mentions [Hashtag]", "Mentions Hashtag", "Instagram Mentions", "2.50", 100, 10000, False, False),
    _svc(1014, "Instagram Mentions [User Followers]", "Mentions User Followers", "Instagram Mentions", "2.80", 100, 10000, False, False),
    _svc(1015, "Instagram Mentions [Media Likers]", "Mentions Media Likers", "Instagram Mentions", "2.90", 100, 10000, False, False),
    _svc(1016, "Instagram Comment Likes", "Comment Likes", "Instagram Comments", "4.00", 20, 5000, True, False),
    _svc(1017, "Instagram Comment Replies", "Comment Replies", "Instagram Comments", "15.00", 1, 100, False, False),
    _svc(1018, "Telegram Poll Votes", "Poll", "Telegram", "1.10", 50, 50000, False, True),
    _svc(1019, "Telegram Group Invites", "Invites from Groups", "Telegram", "6.00", 100, 10000, False, False),
    _svc(1020, "Instagram Auto Likes [Subscription]", "Subscriptions", "Instagram Auto", "0.30", 50, 10000, False, False),
    _svc(1021, "Website Traffic [Worldwide]", "Web Traffic", "Website Traffic", "0.50", 100, 1000000, False, True),
    _svc(1022, "Twitter Retweets", "Default", "Twitter", "2.20", 20, 20000, True, True),
]
