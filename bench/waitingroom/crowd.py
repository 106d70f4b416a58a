"""The crowd: simulated shoppers, each its own HTTP client, in a few worker processes.

Every shopper is an ``aiohttp.ClientSession`` with a cookie jar of its own (its session
cookie, its ``csrftoken``, its queue pass), and its own client address: the generator plays
the trusted CDN hop in front of the edge and says ``X-Forwarded-For: 127.a.b.c``, which the
edge believes from 127.0.0.1 only (EDGE_TRUSTED_PROXIES, ADR 0085). The sessions of one
worker share one connection pool (keep-alive), so 10,000 shoppers do not need 10,000
sockets. The status polls carry no cookies (the document is public and the edge caches it
by URI alone), so they go through one cookie-less session per worker: the same bytes on the
wire, less of the generator's CPU. ADR 0111.

A shopper: arrives at its planned time, joins (``POST /queue/<slug>/join``), polls the status
document every ``poll_ms`` (start to start, with jitter), re-joins once the pre-queue is
frozen to learn its ticket, takes its pass when ``ticket <= admitted_through``, checks out one
unit (``POST /api/orders`` with the item in the body, an Idempotency-Key, CSRF), looks at its
order once and stops; one that sees ``sold_out`` records when and stops. Everything is
bounded: a deadline for the whole crowd, a timeout per request, a cap on every retry loop.
Loopback only: the edge URL is checked before anything is sent.
"""

from __future__ import annotations

import asyncio
import json
import random
import resource
import secrets
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
MAX_JOIN_TRIES = 4
MAX_CHECKOUT_429 = 5
MAX_RETRIES = 3  # a pass or checkout that timed out or got a 5xx is asked again (bounded)
GAP_BIN_S = 0.05  # poll gaps, document ages, loop lags: histograms of 50 ms bins
RECENT_POLLS = 8  # kept per shopper: enough to see the polls around the last unit
LAG_TICK_S = 0.1


@dataclass(frozen=True)
class CrowdConfig:
    edge: str  # http://127.0.0.1:<port>
    slug: str
    skus: tuple[str, ...]
    run: str  # a short id for the Idempotency-Keys of this run
    deadline: float  # wall clock: every shopper stops by then
    poll_ms: int = 1000
    jitter: float = 0.1  # each poll gap is poll_ms x U(1 - jitter, 1 + jitter)
    connections: int = 256  # per worker
    timeout_s: float = 10.0
    order_status_after_s: float = 1.0
    seed: int = 1


@dataclass(frozen=True)
class Arrival:
    index: int
    group: str  # "pre": before opens_at (the pre-queue), "post": after
    at: float  # wall clock
    address: str


def shopper_address(index: int) -> str:
    """A distinct loopback-range address per shopper (never .0 or .255 in the last octet)."""
    n = index + 1
    return f"127.{1 + n // 64516}.{(n // 254) % 254 + 1}.{n % 254 + 1}"


def plan_arrivals(
    *, prequeue: int, post: int, prequeue_from: float, opens_at: float, post_until: float, seed: int
) -> list[Arrival]:
    """Arrival times: ``prequeue`` shoppers uniformly over [prequeue_from, opens_at - 0.5),
    ``post`` shoppers uniformly over [opens_at, post_until). Indices follow arrival order."""
    rng = random.Random(seed)
    pre = sorted(rng.uniform(prequeue_from, opens_at - 0.5) for _ in range(prequeue))
    later = sorted(rng.uniform(opens_at, post_until) for _ in range(post))
    times = [("pre", t) for t in pre] + [("post", t) for t in later]
    return [Arrival(i, g, t, shopper_address(i)) for i, (g, t) in enumerate(times)]


def check_loopback(url: str) -> None:
    host = urlsplit(url).hostname or ""
    if host not in LOOPBACK_HOSTS and not host.startswith("127."):
        raise ValueError(f"the crowd only targets loopback addresses, not {host!r}")


@dataclass
class Record:
    """What one shopper saw; wall-clock times (time.time()), None when it did not happen."""

    index: int
    group: str
    planned_at: float
    join_sent: float | None = None
    join_at: float | None = None
    join_status: int | None = None
    join_failures: int = 0  # join answers other than 200 (each retried, at most 4 tries)
    ticket: int | None = None
    ticket_at: float | None = None  # when the shopper learnt its ticket (join or re-join)
    admitted_at: float | None = None  # first answer that admitted it
    pass_at: float | None = None
    pass_status: int | None = None
    checkout: list[tuple[float, int, str]] = field(default_factory=list)  # (t, status, code)
    accepted_at: float | None = None
    order_id: str | None = None
    sku: str | None = None
    api_429: int = 0
    sold_out_at: float | None = None
    sold_out_how: str | None = None  # "status" | "join" | "pass" | "checkout"
    polls: int = 0
    last_open_poll_sent: float | None = None  # the last poll answered "not sold out"
    # the last polls: [sent, answered, sold out?, the document's server_time]
    recent_polls: list[list] = field(default_factory=list)
    outcome: str = "unfinished"
    errors: list[str] = field(default_factory=list)


def _unix(iso: object) -> float | None:
    """The status document's server_time (ISO 8601, Z) as a Unix time."""
    if not isinstance(iso, str):
        return None
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _retryable(status: int) -> bool:
    return status == 0 or status >= 500


class Shopper:
    def __init__(
        self,
        arrival: Arrival,
        cfg: CrowdConfig,
        pool: aiohttp.TCPConnector,
        poller: aiohttp.ClientSession,
        stats: Stats,
    ):
        self.arrival = arrival
        self.cfg = cfg
        self.pool = pool
        self.poller = poller
        self.stats = stats
        self.rec = Record(arrival.index, arrival.group, arrival.at)
        self.csrf = secrets.token_hex(16)  # 32 characters: a token of the client's own
        self.rng = random.Random(cfg.seed * 1_000_003 + arrival.index)
        self.http: aiohttp.ClientSession | None = None
        self.queue = f"{cfg.edge}/queue/{cfg.slug}"

    def headers(self, **extra: str) -> dict[str, str]:
        return {"X-Forwarded-For": self.arrival.address, "Accept": "application/json", **extra}

    def unsafe_headers(self, **extra: str) -> dict[str, str]:
        return self.headers(
            **{"Content-Type": "application/json", "X-CSRFToken": self.csrf}, **extra
        )

    async def request(
        self,
        method: str,
        url: str,
        *,
        session: aiohttp.ClientSession | None = None,
        headers: dict[str, str],
        body: Any = None,
    ) -> tuple[int, dict]:
        """(status, JSON body or {}); status 0 on a socket error or time-out."""
        http = session or self.http
        assert http is not None
        data = None if body is None else json.dumps(body)
        try:
            async with http.request(method, url, headers=headers, data=data) as resp:
                raw = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.rec.errors.append(f"{method} {urlsplit(url).path}: {type(exc).__name__}")
            self.stats.count("socket_errors")
            return 0, {}
        if status >= 500:
            self.stats.count("answers_5xx")
        try:
            answer = json.loads(raw) if raw else {}
        except ValueError:
            answer = {}
        return status, answer if isinstance(answer, dict) else {}

    async def run(self) -> Record:
        await asyncio.sleep(max(0.0, self.arrival.at - time.time()))
        jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1, an address
        jar.update_cookies({"csrftoken": self.csrf}, URL(self.cfg.edge))
        self.http = aiohttp.ClientSession(
            connector=self.pool, connector_owner=False, cookie_jar=jar, timeout=self.poller.timeout
        )
        try:
            self.rec.outcome = await self.shop()
        finally:
            await self.http.close()
        self.stats.count(self.rec.outcome)
        return self.rec

    async def shop(self) -> str:
        answer = await self.join()
        if answer is None:
            return "join_failed"
        while time.time() < self.cfg.deadline:
            outcome = await self.wait()
            if outcome != "admitted":
                return outcome
            outcome = "passed" if self.rec.pass_at is not None else await self.take_pass()
            if outcome == "not_yet":
                continue
            if outcome != "passed":
                return outcome
            return await self.checkout()
        return "deadline"

    def sold_out(self, how: str, at: float) -> str:
        if self.rec.sold_out_at is None:
            self.rec.sold_out_at, self.rec.sold_out_how = at, how
        return "told_sold_out"

    async def join(self) -> dict | None:
        for attempt in range(MAX_JOIN_TRIES):
            sent = time.time()
            status, answer = await self.request(
                "POST", f"{self.queue}/join", headers=self.unsafe_headers(), body={}
            )
            if status == 200:
                if self.rec.join_sent is None:
                    self.rec.join_sent, self.rec.join_at = sent, time.time()
                    self.rec.join_status = status
                    self.stats.count("joined")
                self.note_join(answer)
                return answer
            self.rec.join_failures += 1
            self.rec.errors.append(f"join {status} {answer.get('code', '')}")
            await asyncio.sleep(min(4.0, 0.5 * 2**attempt))
        self.rec.join_status = status
        return None

    def note_join(self, answer: dict) -> None:
        now = time.time()
        if answer.get("ticket") is not None and self.rec.ticket is None:
            self.rec.ticket, self.rec.ticket_at = int(answer["ticket"]), now
        if answer.get("admitted") and self.rec.admitted_at is None:
            self.rec.admitted_at = now
        if answer.get("expires_at") and self.rec.pass_at is None:
            self.rec.pass_at = now  # admitted at once: the pass came with the answer
        if answer.get("state") == "sold_out":
            self.sold_out("join", now)

    async def wait(self) -> str:
        """Poll the status document until admitted or sold out (or the deadline)."""
        if self.rec.sold_out_at is not None:
            return "told_sold_out"
        if self.rec.admitted_at is not None:
            return "admitted"
        period = self.cfg.poll_ms / 1000
        next_at = time.time() + self.rng.uniform(0, period)
        previous = None
        while time.time() < self.cfg.deadline:
            await asyncio.sleep(max(0.0, next_at - time.time()))
            sent = time.time()
            if previous is not None:
                self.stats.gaps[int((sent - previous) / GAP_BIN_S)] += 1
            previous = sent
            next_at = max(next_at, sent - period) + period * self.rng.uniform(
                1 - self.cfg.jitter, 1 + self.cfg.jitter
            )
            status, doc = await self.request(
                "GET", f"{self.queue}/status", session=self.poller, headers=self.headers()
            )
            answered = time.time()
            self.stats.poll(sent, status, doc.get("server_time"))
            self.rec.polls += 1
            if status != 200:
                continue
            sold_out = doc.get("state") == "sold_out"
            self.note_poll(sent, answered, sold_out, doc.get("server_time"))
            if sold_out:
                return self.sold_out("status", answered)
            self.rec.last_open_poll_sent = sent
            if await self.admitted_by(doc):
                return "admitted"
        return "deadline"

    def note_poll(self, sent: float, answered: float, sold_out: bool, server_time: object) -> None:
        rendered = _unix(server_time)
        if rendered is not None:
            self.stats.ages[int(max(0.0, answered - rendered) / GAP_BIN_S)] += 1
        self.rec.recent_polls.append([round(sent, 3), round(answered, 3), sold_out, rendered])
        del self.rec.recent_polls[:-RECENT_POLLS]

    async def admitted_by(self, doc: dict) -> bool:
        if self.rec.ticket is None and doc.get("state") not in ("prequeue", None):
            # The pre-queue is frozen: re-joining returns the place it was given.
            answer = await self.join()
            if answer is None or self.rec.sold_out_at is not None:
                return False
            if self.rec.admitted_at is not None:
                return True
        through = doc.get("admitted_through")
        if self.rec.ticket is not None and through is not None and self.rec.ticket <= through:
            self.rec.admitted_at = self.rec.admitted_at or time.time()
            return True
        return False

    async def take_pass(self) -> str:
        status, answer = 0, {}
        for attempt in range(MAX_RETRIES + 1):
            status, answer = await self.request(
                "POST", f"{self.queue}/pass", headers=self.unsafe_headers(), body={}
            )
            if not _retryable(status):
                break
            await asyncio.sleep(0.5 * 2**attempt)  # a time-out or 5xx: ask again, as a page would
        now = time.time()
        self.rec.pass_status = status
        if status == 200:
            self.rec.pass_at = now
            return "passed"
        code = answer.get("code", "")
        if status == 409 and code == "SOLD_OUT":
            return self.sold_out("pass", now)
        if status == 409 and code == "QUEUE_NOT_YET":
            self.rec.admitted_at = None  # seen admitted too early (a stale document)
            return "not_yet"
        self.rec.errors.append(f"pass {status} {code}")
        return "place_lost" if status == 410 else "pass_refused"

    async def checkout(self) -> str:
        """One unit of any sku of the room: the next sku when one is out of stock."""
        skus = list(self.cfg.skus)
        self.rng.shuffle(skus)
        for sku in skus:
            status, answer = await self.checkout_one(sku)
            if status == 202:
                self.rec.accepted_at, self.rec.sku = time.time(), sku
                self.rec.order_id = answer.get("order_id")
                await self.order_status(answer.get("status_url"))
                return "bought"
            if status != 409:
                return f"checkout_{status}_{answer.get('code', '')}".rstrip("_")
        return self.sold_out("checkout", time.time())

    async def checkout_one(self, sku: str) -> tuple[int, dict]:
        body = {"items": [{"sku": sku, "quantity": 1}]}
        key = f"wr-{self.cfg.run}-{self.arrival.index}-{sku}"
        status, answer, retries = 0, {}, 0
        for _ in range(MAX_CHECKOUT_429 + MAX_RETRIES + 1):
            status, answer = await self.request(
                "POST",
                f"{self.cfg.edge}/api/orders",
                body=body,
                headers=self.unsafe_headers(**{"Idempotency-Key": key}),
            )
            self.rec.checkout.append((time.time(), status, str(answer.get("code", ""))))
            if status == 429:
                self.rec.api_429 += 1
                await asyncio.sleep(float(answer.get("retry_after", 1)))
            elif _retryable(status) and retries < MAX_RETRIES:
                retries += 1  # the same Idempotency-Key: a retry never buys twice
                await asyncio.sleep(0.5 * 2**retries)
            else:
                break
        return status, answer

    async def order_status(self, url: str | None) -> None:
        if not url:
            return
        await asyncio.sleep(self.cfg.order_status_after_s)
        path = urlsplit(url).path
        status, _ = await self.request("GET", f"{self.cfg.edge}{path}", headers=self.headers())
        if status == 429:
            self.rec.api_429 += 1


class Stats:
    """Counters a worker shares with the parent (progress lines) and keeps for its result."""

    NAMES = ("joined", "bought", "told_sold_out", "polls", "socket_errors", "answers_5xx")

    def __init__(self, shared=None, slot: int = 0):
        self.shared = shared  # multiprocessing Array('q', workers * len(NAMES)) or None
        self.base = slot * len(self.NAMES)
        self.local: Counter[str] = Counter()
        self.gaps: Counter[int] = Counter()  # poll start-to-start gaps, per shopper
        self.ages: Counter[int] = Counter()  # status document age when answered
        self.lags: Counter[int] = Counter()  # event-loop lag: the generator's own CPU
        self.poll_times: list[float] = []
        self.documents: set[str] = set()  # distinct server_time values: origin renders served

    def count(self, name: str) -> None:
        self.local[name] += 1
        if self.shared is not None and name in self.NAMES:
            self.shared[self.base + self.NAMES.index(name)] += 1

    def poll(self, sent: float, status: int, server_time: object) -> None:
        self.count("polls")
        self.poll_times.append(sent)
        if server_time is not None:
            self.documents.add(str(server_time))
        if status != 200:
            self.local[f"poll_{status}"] += 1


async def crowd(cfg: CrowdConfig, arrivals: list[Arrival], stats: Stats) -> list[Record]:
    check_loopback(cfg.edge)
    timeout = aiohttp.ClientTimeout(total=cfg.timeout_s)
    # Two pools: the polls' and the shoppers' own requests, so that joins queued at a busy
    # origin do not hold the connections the polls need (the edge answers those at once).
    pool = aiohttp.TCPConnector(limit=cfg.connections, limit_per_host=0, ttl_dns_cache=None)
    polls = aiohttp.TCPConnector(limit=cfg.connections, limit_per_host=0, ttl_dns_cache=None)
    poller = aiohttp.ClientSession(
        connector=polls, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar()
    )
    shoppers = [Shopper(a, cfg, pool, poller, stats) for a in arrivals]
    tasks = [asyncio.create_task(s.run()) for s in shoppers]
    lag = asyncio.create_task(loop_lag(stats, deadline=cfg.deadline))
    try:
        await asyncio.wait(tasks, timeout=max(1.0, cfg.deadline - time.time() + cfg.timeout_s))
    finally:
        for task in [*tasks, lag]:
            task.cancel()
        await asyncio.gather(*tasks, lag, return_exceptions=True)
        await poller.close()  # and its pool
        await pool.close()
    return [s.rec for s in shoppers]


async def loop_lag(stats: Stats, *, deadline: float) -> list:
    """How late a 100 ms sleep wakes up: when the worker lacks CPU, every shopper's timing
    slips by as much (the generator's limit, not the room's)."""
    while time.time() < deadline:
        before = time.monotonic()
        await asyncio.sleep(LAG_TICK_S)
        stats.lags[int(max(0.0, time.monotonic() - before - LAG_TICK_S) / GAP_BIN_S)] += 1
    return []


def worker_main(cfg: CrowdConfig, arrivals: list[Arrival], out: Path, shared, slot: int) -> None:
    """One worker process: its share of the crowd, then its records and CPU to ``out``."""
    stats = Stats(shared, slot)
    started, wall = resource.getrusage(resource.RUSAGE_SELF), time.time()
    records = asyncio.run(crowd(cfg, arrivals, stats))
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (used.ru_utime - started.ru_utime) + (used.ru_stime - started.ru_stime)
    out.write_text(
        json.dumps(
            {
                "slot": slot,
                "records": [asdict(r) for r in records],
                "counts": dict(stats.local),
                "poll_times": stats.poll_times,
                "documents": sorted(stats.documents),
                "poll_gaps": {str(k): v for k, v in sorted(stats.gaps.items())},
                "document_ages": {str(k): v for k, v in sorted(stats.ages.items())},
                "loop_lags": {str(k): v for k, v in sorted(stats.lags.items())},
                "cpu_s": round(cpu, 2),
                "wall_s": round(time.time() - wall, 2),
            }
        )
    )
