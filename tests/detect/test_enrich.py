"""ArticleEnricher against a real loopback article server, the real fetcher and parse workers.

What must hold: a thin candidate's article is fetched and its main text (boilerplate removed)
comes back; robots.txt, the skip list and the budgets stop requests before they are made;
every failure (500, timeout, gzip bomb, nested-HTML bomb, no text) leaves the story out of
the answer instead of raising; a Google News link is used only through a plain redirect.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import pytest

from monitor.detect.enrich import ArticleEnricher, EnrichPolicy
from monitor.detect.fetch import FeedFetcher, build_client
from monitor.detect.netpolicy import NetworkPolicy, parse_networks
from monitor.detect.parse_pool import ProcessParser
from monitor.detect.robots import RobotsCache
from monitor.models import FeedSpec, Hit, Story
from tests.servers.article_server import ArticleServer, article_server, nested_bomb
from tests.support import FakeClock

__all__ = ["article_server"]

UA = "sanctions-monitor-test/1 (+https://example.org/contact)"
FEED = FeedSpec(id="wire", url="http://127.0.0.1/feed.xml")
PARAGRAPHS = [
    "A Russian-flagged cargo ship delivered containers of artillery shells from North Korea "
    "to the port of Dunai last month, satellite images show.",
    "Officials in Seoul said the shipments breach UN Security Council resolutions that ban "
    "arms transfers to and from the DPRK.",
    "The ministry in Moscow declined to comment on the report.",
]
DPRK_HIT = Hit("entity", "north-korea", "North Korea", "title", 0, 11, side="dprk")


@dataclass
class Counts:
    """An ``EnrichObserver`` that remembers what it was told."""

    articles: list[tuple[str, str]] = field(default_factory=list)
    extractions: list[float] = field(default_factory=list)

    def observe_article(self, outcome: str, reason: str) -> None:
        self.articles.append((outcome, reason))

    def observe_extraction(self, seconds: float) -> None:
        self.extractions.append(seconds)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with build_client(user_agent=UA, timeout_s=5.0) as c:
        yield c


@pytest.fixture(scope="module")
def parser() -> Iterator[ProcessParser]:
    pool = ProcessParser(time_limit_s=10.0)
    yield pool
    pool.close()


def story(url: str, key: str = "s1", summary: str = "") -> Story:
    return Story(
        feed_id="wire",
        title="North Korea and Russia: new shipment",
        url=url,
        fetched_at=datetime(2026, 3, 1, 12, tzinfo=UTC),
        summary=summary,
        key=key,
    )


def enricher(
    client: httpx.AsyncClient,
    parser: ProcessParser,
    *,
    counts: Counts | None = None,
    timeout_s: float = 3.0,
    max_bytes: int = 500_000,
    **policy: object,
) -> ArticleEnricher:
    clock = FakeClock()
    fetcher = FeedFetcher(client=client, clock=clock, timeout_s=timeout_s, max_bytes=max_bytes)
    return ArticleEnricher(
        fetcher=fetcher,
        extractor=parser,
        clock=clock,
        robots=RobotsCache(fetcher=fetcher, clock=clock, user_agent=UA),
        policy=EnrichPolicy(**policy),  # type: ignore[arg-type]
        observe=counts,
    )


# --- who is asked ----------------------------------------------------------------------------


def test_only_thin_candidates_with_web_links_are_wanted(
    client: httpx.AsyncClient, parser: ProcessParser
) -> None:
    e = enricher(client, parser, min_summary_words=10)
    thin = story("https://news.example/a")
    assert e.wants(thin, [DPRK_HIT])
    assert not e.wants(thin, [])  # no DPRK or Russia hit: never fetched
    assert not e.wants(thin, [DPRK_HIT._replace(weak=True)])
    assert not e.wants(story("ftp://news.example/a"), [DPRK_HIT])
    long_summary = story("https://news.example/a", summary=" ".join(["word"] * 10))
    assert not e.wants(long_summary, [DPRK_HIT])


def test_a_partial_match_makes_a_candidate_without_a_side_hit(
    client: httpx.AsyncClient, parser: ProcessParser
) -> None:
    asked: list[str] = []

    def one_part_short(s: Story, hits: object) -> bool:
        asked.append(s.key)
        return s.key == "close"

    e = enricher(client, parser)
    e.partial = one_part_short
    term = Hit("term", "arms", "shells", "title", 0, 6)
    assert e.wants(story("https://news.example/a", key="close"), [term])
    assert not e.wants(story("https://news.example/a", key="far"), [term])
    assert not e.wants(story("https://news.example/a", key="none"), [])  # no hit: not asked
    assert e.wants(story("https://news.example/a", key="side"), [DPRK_HIT])  # not asked either
    assert asked == ["close", "far"]


# --- fetch and extract -----------------------------------------------------------------------


async def test_the_article_text_is_extracted_without_boilerplate(
    article_server: ArticleServer, client: httpx.AsyncClient, parser: ProcessParser
) -> None:
    url = article_server.set_article("/world/ship", "Shells shipped", PARAGRAPHS)
    counts = Counts()
    found = await enricher(client, parser, counts=counts).enrich(FEED, [story(url)])
    article = found["s1"]
    assert article.url == url and article.status == 200
    body = article_server.route("/world/ship").body  # type: ignore[union-attr]
    assert article.body_sha256 == hashlib.sha256(body).hexdigest()
    assert article.text.splitlines()[-3:] == PARAGRAPHS
    assert "cookies" not in article.text and "Most read" not in article.text
    assert counts.articles == [("fetched", "ok")] and len(counts.extractions) == 1
    request = article_server.requests_for("/world/ship")[0]
    assert request.headers["user-agent"] == UA


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"behaviour": "status", "status": 500}, "http_5xx"),
        ({"behaviour": "slow", "delay_s": 5}, "timeout"),
        ({"behaviour": "gzip_bomb"}, "too_large"),
    ],
)
async def test_a_failing_fetch_leaves_the_story_out(
    article_server: ArticleServer,
    client: httpx.AsyncClient,
    parser: ProcessParser,
    options: dict[str, object],
    reason: str,
) -> None:
    url = article_server.set_article("/a", "T", PARAGRAPHS, **options)
    counts = Counts()
    e = enricher(client, parser, counts=counts, timeout_s=1.0)
    assert await e.enrich(FEED, [story(url)]) == {}
    assert counts.articles == [("failed", reason)]


async def test_an_html_bomb_fails_extraction_and_the_worker_is_replaced(
    article_server: ArticleServer, client: httpx.AsyncClient
) -> None:
    url = article_server.set_page("/bomb", nested_bomb())
    pool = ProcessParser(time_limit_s=10.0)
    counts = Counts()
    try:
        e = enricher(client, pool, counts=counts, extract_time_limit_s=2.0, max_bytes=5_000_000)
        assert await e.enrich(FEED, [story(url)]) == {}
        assert counts.articles[0][0] == "failed"
        assert counts.articles[0][1] in ("extraction", "no_text")
        # the pool still works afterwards
        good = article_server.set_article("/good", "T", PARAGRAPHS)
        assert "s2" in await e.enrich(FEED, [story(good, key="s2")])
    finally:
        pool.close()


async def test_a_page_without_main_text_counts_as_no_text(
    article_server: ArticleServer, client: httpx.AsyncClient, parser: ProcessParser
) -> None:
    url = article_server.set_page("/empty", b"<html><body><nav>Home</nav></body></html>")
    counts = Counts()
    assert await enricher(client, parser, counts=counts).enrich(FEED, [story(url)]) == {}
    assert counts.articles == [("failed", "no_text")]


# --- what stops a request before it is made --------------------------------------------------


async def test_robots_disallow_means_no_article_request(
    article_server: ArticleServer, client: httpx.AsyncClient, parser: ProcessParser
) -> None:
    article_server.set_robots("User-agent: sanctions-monitor-test\nDisallow: /private/\n")
    private = article_server.set_article("/private/a", "T", PARAGRAPHS)
    public = article_server.set_article("/public/b", "T", PARAGRAPHS)
    counts = Counts()
    e = enricher(client, parser, counts=counts)
    found = await e.enrich(FEED, [story(private, key="p"), story(public, key="q")])
    assert set(found) == {"q"}
    assert [r.path for r in article_server.article_requests()] == ["/public/b"]
    assert len(article_server.robots_requests()) == 1  # cached per host
    assert ("skipped", "robots") in counts.articles


async def test_an_unreachable_robots_txt_disallows_everything(
    article_server: ArticleServer, client: httpx.AsyncClient, parser: ProcessParser
) -> None:
    article_server.set_robots("", behaviour="status", status=503)
    url = article_server.set_article("/a", "T", PARAGRAPHS)
    assert await enricher(client, parser).enrich(FEED, [story(url)]) == {}
    assert article_server.article_requests() == []


async def test_skip_list_and_budgets_bound_the_requests(
    article_server: ArticleServer, client: httpx.AsyncClient, parser: ProcessParser
) -> None:
    urls = [article_server.set_article(f"/a{i}", "T", PARAGRAPHS) for i in range(4)]
    counts = Counts()
    e = enricher(client, parser, counts=counts, max_per_poll=2, max_per_host_per_hour=3)
    first = await e.enrich(FEED, [story(u, key=f"k{i}") for i, u in enumerate(urls)])
    assert set(first) == {"k0", "k1"}
    second = await e.enrich(FEED, [story(urls[2], key="k2"), story(urls[3], key="k3")])
    assert set(second) == {"k2"}  # the host's hourly budget (3) is spent
    assert counts.articles.count(("skipped", "budget")) == 3
    assert len(article_server.article_requests()) == 3

    skipping = enricher(client, parser, counts=counts, domains_skip=("0.1",))
    assert await skipping.enrich(FEED, [story(urls[3], key="k3")]) == {}  # 127.0.0.1 ends .0.1
    assert ("skipped", "domain") in counts.articles
    assert len(article_server.article_requests()) == 3


async def test_google_news_links_are_read_only_through_a_plain_redirect(
    article_server: ArticleServer, client: httpx.AsyncClient, parser: ProcessParser
) -> None:
    target = article_server.set_article("/publisher/a", "T", PARAGRAPHS)
    article_server.set_feed("/rss/articles/1", behaviour="redirect", status=302, location=target)
    article_server.set_page("/rss/articles/2", b"<html><script>location='x'</script></html>")
    counts = Counts()
    e = enricher(client, parser, counts=counts, redirect_hosts=("localhost",))
    local = f"http://localhost:{article_server.port}"
    found = await e.enrich(
        FEED,
        [story(f"{local}/rss/articles/1", key="r"), story(f"{local}/rss/articles/2", key="js")],
    )
    assert set(found) == {"r"} and found["r"].url == target
    assert ("skipped", "google_news") in counts.articles


async def test_a_redirect_to_a_private_address_is_refused_by_the_network_policy(
    parser: ProcessParser,
) -> None:
    """The article's host resolves to an allowed address (127.0.0.2 stands in for a public
    one); its redirect goes to a name that resolves to loopback, which the policy refuses."""
    with ArticleServer("127.0.0.2") as outlet, ArticleServer("127.0.0.1") as internal:
        internal.set_article("/secret", "T", PARAGRAPHS)
        target = f"http://intranet.test:{internal.port}/secret"
        outlet.set_feed("/a", behaviour="redirect", status=302, location=target)
        table = {"news.test": ["127.0.0.2"], "intranet.test": ["127.0.0.1"]}

        async def resolve(host: str, port: int) -> list[str]:
            return table[host]

        policy = NetworkPolicy(allow_networks=parse_networks(["127.0.0.2/32"]), resolver=resolve)
        counts = Counts()
        async with build_client(user_agent=UA, timeout_s=5.0, policy=policy) as guarded:
            e = enricher(guarded, parser, counts=counts)
            found = await e.enrich(FEED, [story(f"http://news.test:{outlet.port}/a")])
        assert found == {}
        assert counts.articles == [("skipped", "policy")]
        assert internal.requests == []
        assert [r.path for r in outlet.article_requests()] == ["/a"]


async def test_the_poll_budget_drops_what_is_still_running(
    article_server: ArticleServer, client: httpx.AsyncClient, parser: ProcessParser
) -> None:
    quick = article_server.set_article("/quick", "T", PARAGRAPHS)
    slow = article_server.set_article("/slow", "T", PARAGRAPHS, behaviour="slow", delay_s=4)
    counts = Counts()
    e = enricher(client, parser, counts=counts, timeout_s=10.0, poll_budget_s=1.5)
    found = await e.enrich(FEED, [story(quick, key="q"), story(slow, key="s")])
    assert set(found) == {"q"}
    assert ("skipped", "budget") in counts.articles and ("fetched", "ok") in counts.articles
