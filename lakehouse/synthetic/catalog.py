"""The vocabulary of the synthetic clickstream: event names, properties, pages, devices.

Everything here is fixed data or a pure function of a name, so the same seed always gives the
same traffic. Event popularity follows a Zipf-like long tail, as real tracking plans do.
"""

from __future__ import annotations

import random
import zlib
from typing import Any, Callable

ECOMMERCE_EVENTS = [
    "Product Viewed", "Products Searched", "Product List Viewed", "Product Clicked", "Product Added",
    "Cart Viewed", "Checkout Started", "Order Completed", "Product Removed", "Checkout Step Viewed",
    "Checkout Step Completed", "Payment Info Entered", "Coupon Entered", "Coupon Applied",
    "Promotion Viewed", "Promotion Clicked", "Product Shared", "Product Reviewed",
    "Wishlist Product Added", "Order Refunded",
]
LIFECYCLE_EVENTS = [
    "Signed Up", "Signed In", "Signed Out", "Account Created", "Trial Started",
    "Subscription Started", "Subscription Cancelled", "Invite Sent", "Password Reset", "Email Opened",
]
_OBJECTS = ["Video", "Article", "Report", "Dashboard", "Project", "File", "Comment", "Message",
            "Playlist", "Search", "Filter", "Notification", "Survey", "Tutorial", "Webinar",
            "Integration", "Widget", "Team", "Invoice", "Chart"]
_ACTIONS = ["Viewed", "Created", "Shared", "Opened", "Completed", "Exported", "Updated", "Starred",
            "Downloaded"]
EVENT_NAMES = (ECOMMERCE_EVENTS + LIFECYCLE_EVENTS + [f"{o} {a}" for a in _ACTIONS for o in _OBJECTS])[:200]
# Zipf-like weights: a few events make most of the traffic, a long tail is rare.
EVENT_WEIGHTS = [1.0 / (rank + 1) ** 1.1 for rank in range(len(EVENT_NAMES))]

PAGES = [
    ("/", "Home"), ("/pricing", "Pricing"), ("/features", "Features"), ("/blog", "Blog"),
    ("/blog/streaming-lakehouse", "Streaming into a lakehouse"), ("/docs", "Docs"),
    ("/docs/getting-started", "Getting started"), ("/signup", "Sign up"), ("/login", "Log in"),
    ("/products", "All products"), ("/products/p-00042", "Trail shoe"), ("/cart", "Cart"),
    ("/checkout", "Checkout"), ("/account", "Account"), ("/about", "About us"), ("/careers", "Careers"),
]
PAGE_WEIGHTS = [1.0 / (rank + 1) ** 0.8 for rank in range(len(PAGES))]
SCREENS = ["Home", "Feed", "Search", "Product", "Cart", "Checkout", "Profile", "Settings", "Onboarding"]
REFERRERS = ["https://www.google.com/", "https://news.ycombinator.com/", "https://t.co/x1", "", "",
             "https://www.bing.com/", "https://duckduckgo.com/"]
CAMPAIGNS = [
    {"name": "black_friday", "source": "newsletter", "medium": "email", "term": "shoes", "content": "hero"},
    {"name": "spring_sale", "source": "google", "medium": "cpc", "term": "trail running", "content": "ad_a"},
    {"name": "retargeting", "source": "facebook", "medium": "social", "term": "", "content": "carousel"},
]
LOCALES = [("en-US", "America/New_York"), ("en-GB", "Europe/London"), ("de-DE", "Europe/Berlin"),
           ("fr-FR", "Europe/Paris"), ("ja-JP", "Asia/Tokyo"), ("pt-BR", "America/Sao_Paulo")]
USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
]
PLATFORMS = {
    "web": {"library": {"name": "analytics.js", "version": "5.2.1"}},
    "ios": {"library": {"name": "analytics-ios", "version": "4.1.8"},
            "os": {"name": "iOS", "version": "18.1"},
            "device": {"manufacturer": "Apple", "model": "iPhone15,2", "type": "ios"},
            "app": {"name": "Shop", "version": "3.12.0", "build": "3120"}},
    "android": {"library": {"name": "analytics-android", "version": "4.11.3"},
                "os": {"name": "Android", "version": "15"},
                "device": {"manufacturer": "Google", "model": "Pixel 9", "type": "android"},
                "app": {"name": "Shop", "version": "3.12.1", "build": "3121"}},
}
PLANS = ["free", "starter", "pro", "enterprise"]
CATEGORIES = ["shoes", "apparel", "outdoor", "electronics", "books", "home"]
CITIES = [("Berlin", "DE"), ("London", "GB"), ("New York", "US"), ("Tokyo", "JP"), ("São Paulo", "BR")]


def _price(r: random.Random) -> float:
    return round(r.uniform(3, 400), 2)


# Property name -> value maker. Keys mix conventions on purpose (camelCase, spaces), as
# tracking plans written by several teams do.
PROPERTY_MAKERS: dict[str, Callable[[random.Random], Any]] = {
    "product_id": lambda r: f"p-{r.randrange(5000):05d}",
    "sku": lambda r: f"SKU-{r.randrange(10**6):06d}",
    "name": lambda r: r.choice(["Trail shoe", "Rain jacket", "Headlamp", "Water bottle", "Tent"]),
    "price": _price,
    "quantity": lambda r: r.randint(1, 5),
    "category": lambda r: r.choice(CATEGORIES),
    "currency": lambda r: r.choice(["USD", "EUR", "GBP"]),
    "revenue": _price,
    "coupon": lambda r: r.choice(["SAVE10", "WELCOME", "FREESHIP"]),
    "position": lambda r: r.randint(1, 40),
    "query": lambda r: r.choice(["trail shoes", "tent 2 person", "rain jacket women", "lamp"]),
    "plan": lambda r: r.choice(PLANS),
    "method": lambda r: r.choice(["email", "google", "apple", "sso"]),
    "duration": lambda r: r.randint(1, 3600),
    "success": lambda r: r.random() < 0.9,
    "tags": lambda r: r.sample(["new", "sale", "eco", "bestseller", "limited"], r.randint(0, 3)),
    "item": lambda r: {"id": f"i-{r.randrange(999)}", "name": "Widget",
                       "attributes": {"color": r.choice(["red", "blue"]), "size": r.choice(["S", "M", "L"])}},
    "order_id": lambda r: f"o-{r.randrange(10**8):08d}",
    "total": _price,
    "products": lambda r: [{"product_id": f"p-{r.randrange(5000):05d}", "price": _price(r),
                            "quantity": r.randint(1, 3)} for _ in range(r.randint(1, 3))],
    "isNew": lambda r: r.random() < 0.3,
    "Plan Type": lambda r: r.choice(PLANS),
    "step": lambda r: r.randint(1, 4),
    "label": lambda r: r.choice(["primary", "secondary", "footer"]),
    "rating": lambda r: r.randint(1, 5),
    "file_size_kb": lambda r: r.randint(1, 50_000),
    "share_via": lambda r: r.choice(["email", "link", "slack"]),
    "score": lambda r: round(r.random() * 100, 1),
}
_PROPERTY_KEYS = sorted(PROPERTY_MAKERS)


def _name_rng(name: str) -> random.Random:
    # zlib.crc32, not hash(): str hashes are salted per process and would break determinism.
    return random.Random(zlib.crc32(name.encode("utf-8")))


def property_keys(event: str) -> list[str]:
    """The stable set of property keys an event carries (3 to 8, fixed per event name)."""
    r = _name_rng(event)
    return r.sample(_PROPERTY_KEYS, r.randint(3, 8))


def late_property(event: str) -> tuple[str, float]:
    """A property this event only starts carrying part-way through the data: (key, start fraction).

    Models a team adding a property to its tracking plan; silver must turn it into a new column.
    """
    r = _name_rng(event + "#late")
    return f"experiment_{r.randrange(40)}_variant", r.random()
