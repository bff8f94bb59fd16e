"""Realistic Segment-spec messages for one slice of time, with a share of trouble mixed in.

A *part* is a time slice of the day written as one file. Users are a fixed pool (the same user
index always has the same ids, platform and traits); each starts anonymous and is identified at a
fixed moment, so their journeys go anonymous -> identify -> identified. Sessions are runs of
page/screen and track calls a few seconds to minutes apart; mobile SDKs send ``{"batch": [...]}``
envelopes, the web sends single messages. The collector in front of the landing folder stamps
``receivedAt`` (batch level for envelopes), as Segment's does.
"""

from __future__ import annotations

import copy
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from lakehouse.synthetic import catalog as cat

# Trouble that must land in quarantine, and trouble that is valid input with a quirk.
QUARANTINE_TROUBLE = ("invalid_json", "truncated", "missing_type", "missing_ids", "missing_message_id",
                      "oversized")
VALID_TROUBLE = ("wrong_types", "duplicate", "clock_skew", "late", "hostile_keys", "numeric_user_id")
LINE_TROUBLE = ("invalid_json", "truncated")
MESSAGE_TROUBLE = tuple(t for t in QUARANTINE_TROUBLE + VALID_TROUBLE if t not in LINE_TROUBLE)

HOSTILE_KEYS = ['"; drop table users; --', "k" * 300, "prix_€", "user.id", "Größe", "with space",
                "日本語キー", "123abc"]


@dataclass(frozen=True)
class User:
    index: int
    anonymous_id: str
    user_id: str
    platform: str
    identified_at: float  # fraction of the day at which the user identifies (> 1: never)
    locale: tuple[str, str]
    user_agent: str
    city: tuple[str, str]


def make_user(seed: int, index: int) -> User:
    """The user with this index: the same for every part and run with the same seed."""
    r = random.Random(f"{seed}:user:{index}")
    platform = r.choices(["web", "ios", "android"], [0.6, 0.25, 0.15])[0]
    return User(
        index=index,
        anonymous_id=str(uuid.UUID(int=r.getrandbits(128), version=4)),
        user_id=f"u_{index:07d}",
        platform=platform,
        identified_at=r.random() * 1.6,
        locale=r.choice(cat.LOCALES),
        user_agent=cat.USER_AGENTS[3] if platform != "web" else r.choice(cat.USER_AGENTS[:3]),
        city=r.choice(cat.CITIES),
    )


def iso(moment: datetime, millis: bool = True) -> str:
    """ISO-8601 in UTC with a ``Z``; SDKs send both with and without milliseconds."""
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if millis:
        text += f".{moment.microsecond // 1000:03d}"
    return text + "Z"


@dataclass
class Line:
    """One line of a landing file: a message or a batch envelope, and its trouble."""

    payload: dict[str, Any] | None
    messages: list[dict[str, Any]]
    text: str | None = None  # set for line-level trouble (invalid JSON, truncation)
    trouble: list[str] = field(default_factory=list)


@dataclass
class PartSpec:
    seed: int
    part: int
    events: int
    users: int
    day_start: datetime
    part_start: float  # fraction of the day
    part_end: float
    trouble_rate: float
    batch_share: float
    write_keys: dict[str, str]


class PartGenerator:
    """Builds the lines of one part. Deterministic given its :class:`PartSpec`."""

    def __init__(self, spec: PartSpec):
        self.spec = spec
        self.r = random.Random(f"{spec.seed}:part:{spec.part}")
        self.sent: list[dict[str, Any]] = []

    def lines(self) -> list[Line]:
        out: list[Line] = []
        produced = 0
        while produced < self.spec.events:
            session = self._session(min(self.r.randint(3, 40), self.spec.events - produced))
            produced += len(session)
            out.extend(self._pack(session))
        out.sort(key=lambda line: line.payload.get("receivedAt") or "")
        for line in out:
            if self.r.random() < self.spec.trouble_rate * len(LINE_TROUBLE) / (len(LINE_TROUBLE) + len(MESSAGE_TROUBLE)):
                self._break_line(line)
        return out

    # -- sessions -------------------------------------------------------------------------
    def _session(self, size: int) -> list[dict[str, Any]]:
        s, r = self.spec, self.r
        user = make_user(s.seed, int(r.paretovariate(1.2) * 7) % s.users)
        fraction = r.uniform(s.part_start, s.part_end)
        now = s.day_start + timedelta(days=fraction)
        identified = fraction >= user.identified_at
        messages = []
        campaign = r.choice(cat.CAMPAIGNS) if r.random() < 0.25 else None
        for position in range(size):
            now += timedelta(seconds=r.expovariate(1 / 25.0))
            if not identified and r.random() < 0.05:
                identified = True  # signs up or logs in now: identify, maybe alias
                messages.append(self._identify(user, now, campaign, identified))
                if r.random() < 0.3:
                    messages.append(self._alias(user, now, campaign))
                continue
            kind = r.choices(["view", "track", "group"], [0.45, 0.53, 0.02])[0]
            if kind == "view":
                messages.append(self._view(user, now, campaign, identified))
            elif kind == "group" and identified:
                messages.append(self._group(user, now, campaign))
            else:
                messages.append(self._track(user, now, campaign, identified, fraction))
        return messages[:size]  # identify + alias can add one message past the size

    def _base(self, kind: str, user: User, now: datetime, campaign, identified: bool) -> dict[str, Any]:
        r = self.r
        page_path, page_title = r.choices(cat.PAGES, cat.PAGE_WEIGHTS)[0]
        context: dict[str, Any] = {
            "ip": f"198.51.100.{user.index % 250 + 1}",
            "locale": user.locale[0],
            "timezone": user.locale[1],
            "userAgent": user.user_agent,
            **copy.deepcopy(cat.PLATFORMS[user.platform]),
        }
        if user.platform == "web":
            context["page"] = {"path": page_path, "referrer": r.choice(cat.REFERRERS), "search": "",
                               "title": page_title, "url": f"https://shop.example.com{page_path}"}
        else:
            context["screen"] = {"width": 1179, "height": 2556, "density": 3}
        if campaign:
            context["campaign"] = dict(campaign)
        sent = now + timedelta(milliseconds=r.randint(5, 3000))
        message: dict[str, Any] = {
            "type": kind,
            "messageId": str(uuid.UUID(int=r.getrandbits(128), version=4)),
            "anonymousId": user.anonymous_id,
            "timestamp": iso(now, millis=r.random() < 0.8),
            "context": context,
            "integrations": {},
            "channel": "client",
            "sentAt": iso(sent),
            "receivedAt": iso(sent + timedelta(milliseconds=r.randint(20, 400))),
            "writeKey": self.spec.write_keys[user.platform],
        }
        if identified:
            message["userId"] = user.user_id
            if r.random() < 0.3:
                message["anonymousId"] = None  # real SDKs send null beside a userId
        if user.platform != "web":
            message["originalTimestamp"] = message["timestamp"]
        return message

    def _view(self, user, now, campaign, identified):
        message = self._base("page" if user.platform == "web" else "screen", user, now, campaign, identified)
        if user.platform == "web":
            page = message["context"]["page"]
            message["name"] = page["title"]
            message["properties"] = {k: page[k] for k in ("path", "referrer", "title", "url", "search")}
        else:
            name = self.r.choice(cat.SCREENS)
            message["name"] = name
            message["properties"] = {"name": name, "previous_screen": self.r.choice(cat.SCREENS)}
        return message

    def _track(self, user, now, campaign, identified, fraction):
        event = self.r.choices(cat.EVENT_NAMES, cat.EVENT_WEIGHTS)[0]
        message = self._base("track", user, now, campaign, identified)
        message["event"] = event
        properties = {key: cat.PROPERTY_MAKERS[key](self.r) for key in cat.property_keys(event)}
        late_key, late_from = cat.late_property(event)
        if fraction >= late_from:
            properties[late_key] = self.r.choice(["control", "treatment"])
        message["properties"] = properties
        return message

    def _identify(self, user, now, campaign, identified):
        message = self._base("identify", user, now, campaign, identified)
        r = self.r
        message["traits"] = {
            "email": f"{user.user_id}@example.com",
            "name": f"User {user.index}",
            "plan": r.choice(cat.PLANS),
            "createdAt": iso(self.spec.day_start - timedelta(days=user.index % 900)),
            "logins": r.randint(1, 300),
            "address": {"city": user.city[0], "country": user.city[1]},
            "company": {"name": f"Company {user.index % 97}", "employees": (user.index % 97) * 13 + 1},
        }
        return message

    def _alias(self, user, now, campaign):
        message = self._base("alias", user, now, campaign, True)
        message["previousId"] = user.anonymous_id
        return message

    def _group(self, user, now, campaign):
        message = self._base("group", user, now, campaign, True)
        message["groupId"] = f"g_{user.index % 97:03d}"
        message["traits"] = {"name": f"Company {user.index % 97}", "industry": "retail",
                             "employees": (user.index % 97) * 13 + 1}
        return message

    # -- packing into lines and trouble ---------------------------------------------------
    def _pack(self, session: list[dict[str, Any]]) -> list[Line]:
        for message in session:
            if self.r.random() < self.spec.trouble_rate * len(MESSAGE_TROUBLE) / (len(LINE_TROUBLE) + len(MESSAGE_TROUBLE)):
                kind = self.r.choice(MESSAGE_TROUBLE)
                message["_trouble"] = kind
        platform_batches = session and session[0]["context"]["library"]["name"] != "analytics.js"
        lines: list[Line] = []
        if platform_batches and self.r.random() < self.spec.batch_share * 2:
            for start in range(0, len(session), 20):
                chunk = [self._apply(m) for m in session[start:start + 20]]
                lines.append(self._batch_line(chunk))
        else:
            lines.extend(Line(payload=m, messages=[m]) for m in (self._apply(m) for m in session))
        for line in lines:
            line.trouble = [m.pop("_trouble") for m in line.messages if "_trouble" in m]
        return lines

    def _batch_line(self, chunk: list[dict[str, Any]]) -> Line:
        last = chunk[-1]
        payload = {"batch": chunk, "sentAt": last.get("sentAt"), "writeKey": chunk[0].get("writeKey"),
                   "receivedAt": last.get("receivedAt")}
        for message in chunk:  # batch members inherit these from the envelope
            for key in ("sentAt", "writeKey", "receivedAt"):
                message.pop(key, None)
        return Line(payload=payload, messages=chunk)

    def _apply(self, message: dict[str, Any]) -> dict[str, Any]:
        """Make the message's trouble real (the marker stays until packing reads it)."""
        kind = message.get("_trouble")
        r = self.r
        if kind == "missing_type":
            message.pop("type")
        elif kind == "missing_ids":
            message.pop("anonymousId", None)
            message.pop("userId", None)
        elif kind == "missing_message_id":
            message.pop("messageId")
        elif kind == "oversized":
            message.setdefault("properties", {})["blob"] = "x" * 40_000
        elif kind == "wrong_types":
            props = message.setdefault("properties", {})
            props["price"] = r.choice(["12.50 USD", "free", True])
            props["quantity"] = r.choice(["three", 2.5, None])
        elif kind == "duplicate" and self.sent:
            duplicate = copy.deepcopy(r.choice(self.sent[-200:]))
            duplicate["_trouble"] = "duplicate"
            return duplicate
        elif kind == "clock_skew":
            skew = timedelta(hours=r.choice([-7, -2, 3, 26]), seconds=r.randint(0, 600))
            for key in ("timestamp", "sentAt", "originalTimestamp"):
                if message.get(key):
                    message[key] = iso(datetime.fromisoformat(message[key]) + skew)
        elif kind == "late":
            delay = timedelta(hours=r.randint(2, 72))
            for key in ("timestamp", "originalTimestamp"):
                if message.get(key):
                    message[key] = iso(datetime.fromisoformat(message[key]) - delay)
        elif kind == "hostile_keys":
            message.setdefault("properties", {})[r.choice(HOSTILE_KEYS)] = r.choice(["x", 1, 2.5, None])
        elif kind == "numeric_user_id":
            message["userId"] = 10_000_000 + r.randrange(10_000)
        if kind not in QUARANTINE_TROUBLE and kind != "duplicate":
            self.sent.append({k: v for k, v in message.items() if k != "_trouble"})
        return message

    def _break_line(self, line: Line) -> None:
        import orjson

        text = orjson.dumps(line.payload).decode()
        if self.r.random() < 0.5:
            line.text = text[: self.r.randint(1, max(1, len(text) - 1))]
            line.trouble = ["truncated"]
        else:
            line.text = self.r.choice(["not json at all", "{'single': 'quotes'}", '{"type": "track", "event": ',
                                       "<html>502 Bad Gateway</html>", '{"type":"track",,}'])
            line.trouble = ["invalid_json"]


def default_day_start() -> datetime:
    """Midnight UTC of yesterday: generated traffic covers the last full day."""
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=1)
