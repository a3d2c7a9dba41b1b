"""A seeded, labelled corpus of work snippets with planted personal data and secrets, and its key-logger variant.

Run: ``.venv/bin/python bench/corpus.py [--seed 7] [--n 2000] > corpus.jsonl``. Values come from Faker providers in
several locales (en_US, en_GB, de_DE, fr_FR, es_ES, it_IT) and sit in the kinds of text people type at work: chat,
e-mail, form fills (fields separated by Tab), shell sessions, config files, code, window titles, login forms.
Negatives (commit hashes, UUIDs, version strings, SQL, file paths, plain prose, prices, meeting dates, company and
city names) carry no label. The templates are simple and were written by the same hand as the detectors, so the
figures measure coverage of these shapes, not of everything people type. The key-logger variant
puts one typo and a Backspace inside each labelled value (what a key logger records when a person corrects a
slip); labels then cover the value from its first to its last stroke.

Each line: ``{"id", "category", "text", "context": {"app", "title"}, "labels": [{"start", "end", "type"}]}``.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import itertools
import json
import random
import string
import sys
from collections.abc import Callable
from typing import Any

from faker import Faker

# Dates come from fixed bounds, never from today, so a seed gives the same corpus on any day at any time.
FIXED_YEAR = (dt.date(2025, 1, 1), dt.date(2025, 12, 31))
FIXED_YEAR_START = FIXED_YEAR[0]
YEARS = dt.timedelta(days=365)
LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT")
Piece = str | tuple[str, str]  # plain text, or (value, TYPE)
Snippet = tuple[str, list[Piece], str, str]  # category, pieces, app, title


class Gen:
    """Snippet generators; each returns the pieces of one snippet and its window."""

    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)
        self.fakers = {loc: Faker(loc) for loc in LOCALES}
        for i, f in enumerate(self.fakers.values()):
            f.seed_instance(seed + i)
            # it_IT builds its city list from a set, whose order (so a seeded pick) changes with PYTHONHASHSEED.
            for provider in f.providers:
                if isinstance(getattr(provider, "cities", None), list):
                    provider.cities = sorted(provider.cities)

    def f(self, locales: tuple[str, ...] = LOCALES) -> Faker:
        return self.fakers[self.r.choice(locales)]

    def pick(self, *options: Any) -> Any:
        return self.r.choice(options)

    def rand(self, n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
        return "".join(self.r.choice(alphabet) for _ in range(n))

    def chat(self) -> tuple[str, str]:
        return self.pick(("Slack", "general | Acme - Slack"), ("Teams", "Chat | Microsoft Teams"),
                         ("Element", "Element | #ops")), ""  # fmt: skip

    # -- positives ---------------------------------------------------------------------------------------------
    def email(self) -> Snippet:
        e = self.f().email()
        if self.r.random() < 0.3:
            e = self.f().free_email()
        t = self.pick(
            ["can you send the contract to ", (e, "EMAIL"), " before friday?"],
            ["Contact: ", (e, "EMAIL")],
            [(e, "EMAIL")],
            ["cc ", (e, "EMAIL"), " on this please"],
            ["My email is ", (e, "EMAIL"), ", thanks"],
        )
        return (
            "email",
            t,
            *self.pick(("Thunderbird", "Write: Re: invoice"), ("firefox", "Contact form - Mozilla Firefox")),
        )

    def phone(self) -> Snippet:
        p = self.f().phone_number()
        t = self.pick(["call me at ", (p, "PHONE")], ["Tel: ", (p, "PHONE")], ["mobile ", (p, "PHONE"), " after 5pm"],
                      ["reach me on ", (p, "PHONE"), " if the build breaks"],
                      ["Phone number: ", (p, "PHONE")])  # fmt: skip
        return "phone", t, *self.pick(("Slack", "dm - Slack"), ("firefox", "Checkout - Shop"))

    def card(self) -> Snippet:
        kind = self.pick("amex", "diners", "discover", "jcb16", "maestro", "mastercard", "visa13", "visa16", "visa19")
        c = self.fakers["en_US"].credit_card_number(card_type=kind)
        if self.r.random() < 0.4 and len(c) == 16:
            c = " ".join(c[i : i + 4] for i in range(0, 16, 4))
        t = self.pick([(c, "CARD")], ["card number ", (c, "CARD"), " exp 04/27"], ["use my card ", (c, "CARD")])
        return "card", t, "firefox", self.pick("Payment - Checkout", "Billing details", "Pay invoice #3321")

    def ssn(self) -> Snippet:
        s = self.fakers["en_US"].ssn()
        t = self.pick(["SSN: ", (s, "SSN")], ["my social is ", (s, "SSN")], [(s, "SSN")], ["ssn ", (s, "SSN"), " dob?"])
        return "ssn", t, "firefox", self.pick("W-4 form", "Employee onboarding - Workday", "Tax forms")

    def iban(self) -> Snippet:
        i = self.f().iban()
        if self.r.random() < 0.4:
            i = " ".join(i[k : k + 4] for k in range(0, len(i), 4))
        t = self.pick(["IBAN: ", (i, "IBAN")], ["please wire it to ", (i, "IBAN")], [(i, "IBAN")])
        return "iban", t, "Thunderbird", "Write: bank details"

    def ip(self) -> Snippet:
        f = self.f()
        v = self.pick(f.ipv4(), f.ipv4_private(), f.ipv6(), f.ipv4_public())
        t = self.pick(["ssh admin@", (v, "IP")], ["ping ", (v, "IP")], ["the db is at ", (v, "IP"), ":5432"],
                      ["allow ", (v, "IP"), " in the firewall"])  # fmt: skip
        return "ip", t, *self.pick(("xterm", "bash"), ("Slack", "ops - Slack"))

    def mac(self) -> Snippet:
        m = self.f().mac_address()
        if self.r.random() < 0.3:
            m = m.upper().replace(":", "-")
        t = self.pick(["mac ", (m, "MAC")], ["reserve ", (m, "MAC"), " for the printer"], [(m, "MAC")])
        return "mac", t, "xterm", "dhcp config"

    def dob(self) -> Snippet:
        d = self.f().date_between(FIXED_YEAR_START - YEARS * 90, FIXED_YEAR_START - YEARS * 18)
        s = d.strftime(self.pick("%Y-%m-%d", "%m/%d/%Y", "%d/%m/%Y", "%d.%m.%Y", "%B %d, %Y", "%d %B %Y", "%b %d %Y"))
        t = self.pick(["DOB: ", (s, "DATE_OF_BIRTH")], ["date of birth ", (s, "DATE_OF_BIRTH")],
                      ["I was born on ", (s, "DATE_OF_BIRTH")], ["Birthday: ", (s, "DATE_OF_BIRTH")])  # fmt: skip
        return "dob", t, "firefox", "Patient registration"

    def address(self) -> Snippet:
        a = self.f().address()
        if self.r.random() < 0.5:
            a = a.replace("\n", ", ")
        t = self.pick(["ship to ", (a, "ADDRESS")], ["Address: ", (a, "ADDRESS")], [(a, "ADDRESS")],
                      ["we moved to ", (a, "ADDRESS"), " last month"])  # fmt: skip
        return "address", t, *self.pick(("firefox", "Shipping address"), ("Thunderbird", "Write: new address"))

    def name(self) -> Snippet:
        f = self.f()
        n, first = f.name(), f.first_name()
        t = self.pick(["Hi ", (first, "NAME"), ", the report is attached."], ["Dear ", (n, "NAME"), ","],
                      [(n, "NAME"), " will join the call at 3"], ["assigned to ", (n, "NAME")],
                      ["Thanks,\n", (n, "NAME")], ["meeting with ", (n, "NAME"), " tomorrow"],
                      ["From: ", (n, "NAME"), " <", (f.email(), "EMAIL"), ">"])  # fmt: skip
        return "name", t, *self.pick(("Thunderbird", "Write: hello"), ("Slack", "general - Slack"), ("jira", "PROJ-12"))

    def form(self) -> Snippet:
        """A sign-up or checkout form filled field by field with Tab, as a key logger sees it."""
        f = self.f()
        first, last, email, phone = f.first_name(), f.last_name(), f.email(), f.phone_number()
        t: list[Piece] = [(first, "NAME"), "\t", (last, "NAME"), "\t", (email, "EMAIL"), "\t", (phone, "PHONE"), "\n"]
        title = self.pick("Create account - Shop", "Contact details", "Registration - Conference 2026",
                          "Edit profile", "Checkout - Shipping information")  # fmt: skip
        return "form", t, "firefox", title

    def title(self) -> Snippet:
        """A window title carrying personal data; the title is its own context."""
        f = self.f()
        t = self.pick(["Chat with ", (f.name(), "NAME"), " | Microsoft Teams"],
                      ["Inbox - ", (f.email(), "EMAIL"), " - Mozilla Thunderbird"],
                      [(f.name(), "NAME"), " (DM) - Slack"],
                      ["Re: invoice for ", (f.name(), "NAME"), " - Outlook"],
                      ["ssh admin@", (f.ipv4_private(), "IP"), " - xterm"])  # fmt: skip
        return "title", t, *self.pick(("Teams", ""), ("Thunderbird", ""), ("xterm", ""))

    def token(self) -> str:
        hdr = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=").decode()
        body = base64.urlsafe_b64encode(json.dumps({"sub": self.rand(8), "iat": 1700000000}).encode()).rstrip(b"=")
        return self.pick(
            "AKIA" + self.rand(16, string.ascii_uppercase + string.digits),
            "ghp_" + self.rand(36),
            "github_pat_" + self.rand(22) + "_" + self.rand(59),
            "xoxb-" + self.rand(12, string.digits) + "-" + self.rand(13, string.digits) + "-" + self.rand(24),
            "sk-proj-" + self.rand(48, string.ascii_letters + string.digits + "_-"),
            "sk-ant-api03-" + self.rand(93, string.ascii_letters + string.digits + "_-") + "AA",
            "sk_live_" + self.rand(24),
            "rk_live_" + self.rand(24),
            hdr + "." + body.decode() + "." + self.rand(43, string.ascii_letters + string.digits + "_-"),
        )

    def secret(self) -> Snippet:
        tok = self.token()
        pw = self.fakers["en_US"].password(length=self.r.randint(10, 16))
        user = self.fakers["en_US"].user_name()
        pem_body = "\n".join(self.rand(64, string.ascii_letters + string.digits + "+/") for _ in range(4))
        aws = self.rand(40, string.ascii_letters + string.digits + "+/")
        t = self.pick(
            ["export API_TOKEN=", (tok, "SECRET")],
            ["here's the key: ", (tok, "SECRET")],
            ["Authorization: Bearer ", (tok, "SECRET")],
            ["aws_secret_access_key = ", (aws, "SECRET")],
            ["-----BEGIN RSA PRIVATE KEY-----\n" + pem_body + "\n-----END RSA PRIVATE KEY-----", "SECRET"],
            ["git clone https://", (user + ":" + pw, "SECRET"), "@github.com/acme/app.git"],
            ["DATABASE_URL=postgres://", (user + ":" + pw, "SECRET"), "@db.internal:5432/prod"],
            ['client_secret: "', (self.rand(32), "SECRET"), '"'],
        )
        if isinstance(t[0], str) and t[0].startswith("-----BEGIN"):
            t = [(t[0], "SECRET")]
        return "secret", t, *self.pick(("code", "settings.py - Visual Studio Code"), ("xterm", "bash"), ("Slack", "dm"))

    def human_password(self) -> str:
        f = self.fakers["en_US"]
        return self.pick(
            f.password(length=self.r.randint(8, 16), special_chars=self.r.random() < 0.7),
            f.word().capitalize() + str(self.r.randint(1, 2025)) + self.pick("!", "#", "", "?", "$"),
            f.user_name() + str(self.r.randint(10, 99)),
            self.rand(self.r.randint(12, 20)),
        )

    def password(self) -> Snippet:
        pw, f = self.human_password(), self.fakers["en_US"]
        user = self.pick(f.user_name(), f.email(), f.first_name().lower())
        title = self.pick("Sign in - Outlook", "Login - GitLab", "Sign in to your account", "Log in | Jira",
                          "Authentication required", "Unlock Login Keyring", "Anmelden - Nextcloud")  # fmt: skip
        kind = self.r.random()
        if kind < 0.45:
            login: Piece = (user, "EMAIL") if "@" in user else user
            return "password", [login, "\t", (pw, "PASSWORD"), "\n"], "firefox", title
        if kind < 0.6:
            return "password", [(pw, "PASSWORD"), "\n"], "gnome-keyring", self.pick("Unlock Login Keyring", "Password")
        if kind < 0.8:
            login = f.user_name()
            cmd = self.pick("sudo apt upgrade", "sudo systemctl restart nginx", f"ssh {login}@build01", "su -")
            return "password", [cmd, "\n", (pw, "PASSWORD"), "\n"], "xterm", f"{login}@laptop: ~"
        login = f.user_name()
        prompt = self.pick(f"[sudo] password for {login}: ", "Password: ", "the wifi password is ", "pw: ")
        return "password", [prompt, (pw, "PASSWORD")], self.pick("xterm", "Slack"), "bash"

    # -- negatives ---------------------------------------------------------------------------------------------
    def negative(self) -> Snippet:
        f = self.fakers["en_US"]
        t = self.pick(
            f"git cherry-pick {f.sha1()}",
            f"commit {f.sha1()[:7]} fixes the flaky test",
            f"request id {f.uuid4()}",
            f"bumped version to {self.r.randint(0, 9)}.{self.r.randint(0, 20)}.{self.r.randint(0, 40)}",
            f"pip install requests=={self.r.randint(1, 3)}.{self.r.randint(0, 32)}.{self.r.randint(0, 9)}",
            f"SELECT id, created_at FROM orders WHERE total > {self.r.randint(10, 999)} ORDER BY created_at DESC;",
            f.paragraph(nb_sentences=2),
            f.sentence(nb_words=10),
            f"meeting moved to {f.date_between(*FIXED_YEAR).isoformat()} at {self.r.randint(9, 17)}:00",
            f"total is ${self.r.randint(10, 9999)}.{self.r.randint(10, 99)} incl. VAT",
            f"cd /home/{f.user_name()}/projects/{f.word()} && make test",
            f"https://docs.python.org/3/library/{f.word()}.html",
            f"order #{self.r.randint(100000, 999999)} shipped",
            f"ERROR {f.date_time_between(*FIXED_YEAR).isoformat()} worker-{self.r.randint(1, 9)} timed out after 30s",
            f"sha256: {f.sha256()}",
            f"docker run -p 8080:80 nginx:1.{self.r.randint(19, 27)}",
            f"Build {self.r.randint(1000, 9999)} passed in {self.r.randint(2, 59)} minutes",
            f"invoice from {self.f().company()} is overdue",
            f"flight to {self.f().city()} on {f.date_between(*FIXED_YEAR).strftime('%A')}",
            f.catch_phrase(),
        )
        return "negative", [t], *self.pick(("xterm", "bash"), ("Slack", "dev - Slack"), ("code", "main.py - VS Code"))


def assemble(pieces: list[Piece], typo: random.Random | None) -> tuple[str, list[dict[str, Any]]]:
    """Join pieces; label each value; with ``typo``, put one wrong key + Backspace inside each value."""
    out, labels, pos = [], [], 0
    for p in pieces:
        if isinstance(p, str):
            out.append(p)
            pos += len(p)
            continue
        value, kind = p
        if typo is not None and len(value) >= 2:
            k = typo.randint(1, len(value) - 1)
            wrong = typo.choice([c for c in "qwertyuiopasdfghjklzxcvbnm0123456789" if c != value[k]])
            value = value[:k] + wrong + "\b" + value[k:]
        out.append(value)
        labels.append({"start": pos, "end": pos + len(value), "type": kind})
        pos += len(value)
    return "".join(out), labels


def generate(seed: int = 7, n: int = 2000, keylogger: bool = False) -> list[dict[str, Any]]:
    """The corpus: ~85 % positives spread evenly over the types, ~15 % negatives."""
    g = Gen(seed)
    typo = random.Random(seed + 1000) if keylogger else None
    makers: list[Callable[[], Snippet]] = [g.email, g.phone, g.card, g.ssn, g.iban, g.ip, g.mac, g.dob, g.address,
                                           g.name, g.secret, g.password, g.form, g.title]  # fmt: skip
    rows = []
    positives = itertools.count()
    for i in range(n):
        maker = g.negative if i % 7 == 6 else makers[next(positives) % len(makers)]
        category, pieces, app, title = maker()
        text, labels = assemble(pieces, typo)
        if category == "title":
            title = "".join(p if isinstance(p, str) else p[0] for p in pieces)  # a title is typed by no one
        rows.append({"id": i, "category": category, "text": text, "context": {"app": app, "title": title},
                     "labels": labels})  # fmt: skip
    return rows


def main() -> None:
    """Print the corpus as JSON lines."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--keylogger", action="store_true")
    a = ap.parse_args()
    for row in generate(a.seed, a.n, a.keylogger):
        sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
