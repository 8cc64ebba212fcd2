"""Outgoing callbacks go only where they should: public addresses (unless the operator
allows private ones), checked at submission and again against what the name resolves to
when sending; one attempt costs at most the callback timeout, however the receiver
trickles. Every receiver here listens on loopback."""

import ipaddress
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlmodel import func, select

from bot.callbacks import CallbackSender
from bot.delivery import GiveUp, Retry
from bot.egress import EgressPolicy, EgressRefused, IPAddress, non_public_reason
from storage import reviews
from storage.db import Database
from storage.models import OutboxKind, OutboxMessage, ReviewItem
from tests.callback_receiver import CallbackReceiver
from tests.harness import WEBHOOK_SECRET, BotHarness, invoice

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)

REFUSED_BY_DEFAULT = [
    "http://127.0.0.1:9/hook",
    "http://localhost:8080/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/hook",
    "http://172.16.5.4/hook",
    "http://192.168.1.1/hook",
    "http://0x7f.1/hook",
    "http://2130706433/hook",
    "http://127.1/hook",
    "http://0177.0.0.1/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[::1]/hook",
    "http://[fc00::1]/hook",
    "http://[fe80::1]/hook",
    "http://224.0.0.1/hook",
    "http://0.0.0.0/hook",
    "https://100.64.0.1/hook",
]


@pytest.fixture
def bot_settings() -> dict:
    return {"callback_allow_private": False}  # the default a user gets


def test_callback_urls_on_internal_addresses_are_422_by_default(bot: BotHarness) -> None:
    for url in REFUSED_BY_DEFAULT:
        response = bot.api("POST", "/v1/reviews", json=invoice(callback_url=url))
        assert response.status_code == 422, (url, response.text)
        errors = response.json()["errors"]
        assert [error["field"] for error in errors] == ["callback_url"], (url, errors)
    with bot.runtime.db.read() as session:
        assert session.exec(select(func.count()).select_from(ReviewItem)).one() == 0
    time.sleep(0.3)
    assert bot.standin.calls_to("chat.postMessage", ok=None) == []


def test_a_public_callback_url_is_accepted(bot: BotHarness) -> None:
    # Not resolvable on a machine without DNS: accepted, and checked again when sending.
    response = bot.api(
        "POST", "/v1/reviews", json=invoice(callback_url="https://agent.example.com/hook")
    )
    assert response.status_code == 201, response.text


def test_the_policy_names_each_kind_of_internal_address() -> None:
    reasons = {
        url: non_public_reason(ipaddress.ip_address(address))
        for url, address in [
            ("loopback", "127.0.0.1"),
            ("metadata", "169.254.169.254"),
            ("private", "10.1.2.3"),
            ("mapped", "::ffff:10.0.0.1"),
            ("6to4", "2002:7f00:1::"),
            ("multicast", "239.1.1.1"),
            ("public", "93.184.215.14"),
            ("public6", "2606:4700::1111"),
        ]
    }
    assert reasons["loopback"] == "loopback" and reasons["metadata"] == "link-local"
    assert reasons["private"] == "private" and reasons["mapped"] == "private"
    assert reasons["6to4"] == "loopback" and reasons["multicast"] == "multicast"
    assert reasons["public"] is None and reasons["public6"] is None


def test_a_name_with_any_private_address_is_refused() -> None:
    policy = EgressPolicy(resolver=_Resolver({"mixed.test": ["93.184.215.14", "10.0.0.7"]}))
    with pytest.raises(EgressRefused, match=r"10\.0\.0\.7"):
        policy.check_url("https://mixed.test/hook")


# Delivery time ------------------------------------------------------------------------


class _Resolver:
    """A resolver of the test's own: names answer what the test says, now."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers

    def __call__(self, host: str, port: int) -> Sequence[IPAddress]:
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [ipaddress.ip_address(address) for address in self.answers[host]]


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    server = CallbackReceiver().start()
    yield server
    server.stop()


def _decided_item_with_callback(db: Database, callback_url: str) -> OutboxMessage:
    """An item stored as if its callback_url had passed the check at submission."""
    new = reviews.NewItem(
        agent="invoice-bot",
        workflow="auto-pay",
        title="Invoice 1",
        output="Book it",
        confidence=0.99,
        callback_url=callback_url,
    )
    routing = reviews.Routing(
        route="auto",
        route_snapshot={},
        rules_version="test",
        channel="C0AUTO",
        auto_approved=True,
        post_to_slack=False,
    )
    item = reviews.create_item(db, new, routing, now=NOW).item
    return OutboxMessage(
        delivery_id="msg_test",
        item_id=item.id,
        kind=OutboxKind.CALLBACK,
        payload={},
        created_at=NOW,
        due_at=NOW,
        attempts=1,
    )


def test_a_name_that_resolves_privately_at_delivery_is_not_called(
    db: Database, receiver: CallbackReceiver
) -> None:
    """DNS rebinding: public when submitted, loopback when the callback is sent."""
    port = receiver.url.split(":")[2].split("/")[0]
    url = f"http://rebind.test:{port}/hitl/decisions"
    resolver = _Resolver({"rebind.test": ["93.184.215.14"]})
    policy = EgressPolicy(resolver=resolver)
    policy.check_url(url)  # passes at submission
    row = _decided_item_with_callback(db, url)
    resolver.answers["rebind.test"] = ["127.0.0.1"]
    sender = CallbackSender(db=db, webhook_secret=WEBHOOK_SECRET, now=lambda: NOW, egress=policy)
    with pytest.raises(GiveUp, match=r"127\.0\.0\.1"):
        sender.send(row)
    time.sleep(0.3)
    assert receiver.deliveries == []


def test_localhost_is_not_called_at_delivery_by_default(
    db: Database, receiver: CallbackReceiver
) -> None:
    """The system resolver, as in production: `localhost` is 127.0.0.1 on this machine."""
    row = _decided_item_with_callback(db, receiver.url.replace("127.0.0.1", "localhost"))
    sender = CallbackSender(db=db, webhook_secret=WEBHOOK_SECRET, now=lambda: NOW)
    with pytest.raises(GiveUp, match="loopback"):
        sender.send(row)
    time.sleep(0.3)
    assert receiver.deliveries == []


def test_the_sender_connects_to_the_address_it_checked(
    db: Database, receiver: CallbackReceiver
) -> None:
    """`agent.test` exists only in the sender's resolver: the request reaches the address
    that resolver gave, with the URL's own name as Host."""
    port = receiver.url.split(":")[2].split("/")[0]
    row = _decided_item_with_callback(db, f"http://agent.test:{port}/hitl/decisions")
    policy = EgressPolicy(allow_private=True, resolver=_Resolver({"agent.test": ["127.0.0.1"]}))
    sender = CallbackSender(db=db, webhook_secret=WEBHOOK_SECRET, now=lambda: NOW, egress=policy)
    sender.send(row)
    [delivery] = receiver.deliveries
    assert delivery.headers["host"] == f"agent.test:{port}"
    assert delivery.json["status"] == "auto_approved"
    stored = reviews.get_item(db, row.item_id or "")
    assert stored is not None and stored.callback_status == "delivered"


class _TricklingReceiver:
    """Answers its status line, then one header byte every 0.2 s for a minute."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:  # closed by the test
                return
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                for _ in range(300):
                    if self.stop.wait(0.2):
                        return
                    conn.sendall(b"z")
            except OSError:
                return  # the sender hung up, as it should

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


def test_a_trickling_receiver_costs_at_most_the_callback_timeout(db: Database) -> None:
    trickler = _TricklingReceiver()
    try:
        row = _decided_item_with_callback(db, f"http://127.0.0.1:{trickler.port}/hook")
        sender = CallbackSender(
            db=db,
            webhook_secret=WEBHOOK_SECRET,
            now=lambda: NOW,
            egress=EgressPolicy(allow_private=True),
            timeout_seconds=1.0,
        )
        finished, outcome = _attempt_in_background(sender, row)
        # The receiver would keep the attempt busy for a minute; the limit is 1 s.
        assert finished.wait(30), "the attempt outlived its total time limit"
        [error] = outcome
        assert isinstance(error, Retry) and "within 1 s" in str(error)
    finally:
        trickler.close()


class _Redirector:
    """Answers every POST with 307 to another URL."""

    def __init__(self, location: str) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(307)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_redirects_are_not_followed(db: Database, receiver: CallbackReceiver) -> None:
    redirector = _Redirector(receiver.url)
    try:
        row = _decided_item_with_callback(db, redirector.url)
        sender = CallbackSender(
            db=db,
            webhook_secret=WEBHOOK_SECRET,
            now=lambda: NOW,
            egress=EgressPolicy(allow_private=True),
        )
        with pytest.raises(Retry, match="307"):
            sender.send(row)
        time.sleep(0.3)
        assert receiver.deliveries == []
    finally:
        redirector.close()


def test_closing_the_sender_ends_an_attempt_under_way(db: Database) -> None:
    """Shutdown does not wait out a hung receiver: the attempt ends and is retried later."""
    trickler = _TricklingReceiver()
    try:
        row = _decided_item_with_callback(db, f"http://127.0.0.1:{trickler.port}/hook")
        sender = CallbackSender(
            db=db,
            webhook_secret=WEBHOOK_SECRET,
            now=lambda: NOW,
            egress=EgressPolicy(allow_private=True),
            timeout_seconds=120,
        )
        finished, outcome = _attempt_in_background(sender, row)
        deadline = time.monotonic() + 10
        while not sender.attempts_under_way and time.monotonic() < deadline:
            time.sleep(0.05)
        sender.close()
        assert finished.wait(30), "the attempt went on after close()"
        [error] = outcome
        assert isinstance(error, Retry) and "shutting down" in str(error)
        with pytest.raises(Retry, match="shutting down"):
            sender.send(row)  # no new attempt once closed
    finally:
        trickler.close()


def test_a_resolver_that_hangs_costs_at_most_the_callback_timeout(db: Database) -> None:
    released = threading.Event()

    def hanging_resolver(host: str, port: int) -> Sequence[IPAddress]:
        released.wait(60)  # a DNS server that never answers
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    row = _decided_item_with_callback(db, "https://slow-dns.test/hook")
    sender = CallbackSender(
        db=db,
        webhook_secret=WEBHOOK_SECRET,
        now=lambda: NOW,
        egress=EgressPolicy(resolver=hanging_resolver),
        timeout_seconds=0.5,
    )
    finished, outcome = _attempt_in_background(sender, row)
    try:
        assert finished.wait(30), "the attempt waited for the resolver"
        [error] = outcome
        assert isinstance(error, Retry) and "within 0.5 s" in str(error)
    finally:
        released.set()
        sender.close()


def _attempt_in_background(
    sender: CallbackSender, row: OutboxMessage
) -> tuple[threading.Event, list[BaseException]]:
    """One delivery attempt on its own thread: set when it ends, with what it raised."""
    finished = threading.Event()
    outcome: list[BaseException] = []

    def attempt() -> None:
        try:
            sender.send(row)
        except (Retry, GiveUp) as error:
            outcome.append(error)
        finally:
            finished.set()

    threading.Thread(target=attempt, daemon=True).start()
    return finished, outcome
