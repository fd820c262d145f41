"""Deterministic synthetic subscribers and usage in the import format (see fixtures/README.md).

    synthetic_dataset(count, period, seed=0) -> {"plans": [...], "subscribers": [...], "charges": [...]}

The same (count, period, seed) always gives an equal dict: the only randomness is one
`random.Random(seed)`, and nothing reads the clock or the environment. Every subscriber is
billable in `period` (a few start or end inside it), and every charge is in `period`.
Amounts, quantities and tax rates are strings made from Decimal, never floats.

Self-contained (standard library only) so it can run anywhere, e.g. to make a load-test file:

    python -m invoicing.synthetic 100000 2026-10 --seed 1 -o /tmp/subscribers.json
    python -m invoicing.synthetic 300 2026-10 --countries JP -o /tmp/japan.json

25 countries in 16 scripts and languages (addresses.py and people.py in this package hold the
tables of the first 13, countries.py those of the ones added with the invoice's
translations: Arabic, Hebrew, Hindi, Bengali, Thai, Tamil, Spanish, Italian, Dutch,
Portuguese, Swedish, Turkish).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

from invoicing.billing.period import Period
from invoicing.errors import BillingError
from invoicing.synthetic.addresses import ADDRESS
from invoicing.synthetic.addresses import US_TAX as _US_TAX
from invoicing.synthetic.countries import ADDRESS as _MORE_ADDRESS
from invoicing.synthetic.countries import COUNTRY_DATA as _MORE_COUNTRIES
from invoicing.synthetic.countries import FEES as _MORE_FEES
from invoicing.synthetic.countries import RATES as _MORE_RATES
from invoicing.synthetic.people import COUNTRY_DATA
from invoicing.synthetic.people import names as names_of
from invoicing.synthetic.people import surnames as surnames_of

__all__ = ["synthetic_dataset", "synthetic_chunks", "country_codes", "PLANS", "COUNTRIES"]


# --------------------------------------------------------------------------- plans

_TIERS = (("basic", "Basic 5 GB"), ("plus", "Plus 20 GB"), ("max", "Max Unlimited"))
# Monthly fee per tier (basic, plus, max), in each currency's usual price points.
_FEES = {
    "EUR": ("9.90", "19.90", "39.90"),
    "GBP": ("8.00", "18.00", "35.00"),
    "USD": ("15.00", "30.00", "55.00"),
    "CHF": ("19.90", "39.90", "69.00"),
    "PLN": ("29.99", "49.99", "89.99"),
    "RUB": ("350.00", "650.00", "1200.00"),
    "UAH": ("150.00", "275.00", "450.00"),
    "JPY": ("1480", "2980", "5980"),
    "CNY": ("39.00", "79.00", "129.00"),
    "KRW": ("19800", "39000", "69000"),
    **_MORE_FEES,
}
PLANS: tuple[dict[str, str], ...] = tuple(
    {"code": f"{tier}-{cur.lower()}", "name": name, "monthly_fee": fees[i], "currency": cur}
    for cur, fees in _FEES.items()
    for i, (tier, name) in enumerate(_TIERS)
)
_PLAN_CODES = {cur: tuple(f"{tier}-{cur.lower()}" for tier, _ in _TIERS) for cur in _FEES}
# basic 50 %, plus 35 %, max 15 %
_TIER_PICK = (0,) * 10 + (1,) * 7 + (2,) * 3

# Rough EUR rates, only to derive plausible per-currency usage prices below.
_RATE = {
    "EUR": Decimal("1"),
    "GBP": Decimal("0.85"),
    "USD": Decimal("1.10"),
    "CHF": Decimal("0.95"),
    "PLN": Decimal("4.30"),
    "RUB": Decimal("100"),
    "UAH": Decimal("45"),
    "JPY": Decimal("160"),
    "CNY": Decimal("7.8"),
    "KRW": Decimal("1450"),
    **{currency: Decimal(rate) for currency, rate in _MORE_RATES.items()},
}
_ZERO_DECIMALS = {"JPY", "KRW"}

# ----------------------------------------------------------------------- usage prices

# key: (EUR price, kind). kind: "price" (shelf price, x.x9 / round tens), "exact"
# (instalment: plain rounding), "rate" (per minute/SMS: 4 decimals), "micro" (6 decimals).
_BASE_PRICES = {
    "data_eu": ("2.49", "price"),
    "data_z1": ("7.50", "price"),
    "data_us": ("9.90", "price"),
    "data_apac": ("12.00", "price"),
    "data_row": ("19.90", "price"),
    "rcall_eu": ("0.1900", "rate"),
    "rcall_z1": ("0.2900", "rate"),
    "rcall_us": ("0.2900", "rate"),
    "rcall_apac": ("0.9900", "rate"),
    "rcall_row": ("1.4900", "rate"),
    "pass_eu": ("2.29", "price"),
    "pass_z1": ("3.99", "price"),
    "pass_us": ("5.99", "price"),
    "pass_apac": ("7.99", "price"),
    "pass_row": ("9.99", "price"),
    "call_t1": ("0.0450", "rate"),
    "call_t2": ("0.1900", "rate"),
    "call_t3": ("0.3500", "rate"),
    "call_t4": ("0.9900", "rate"),
    "sms_intl": ("0.1900", "rate"),
    "premium": ("1.9900", "rate"),
    "sms_bundle": ("2.99", "price"),
    "data_5": ("4.99", "price"),
    "data_10": ("7.99", "price"),
    "per_mb": ("0.002450", "micro"),
}
_DEVICES = (  # (model, months, EUR per month)
    ("Apple iPhone 16 128 GB", 24, "37.46"),
    ("Apple iPhone 16 Pro 256 GB", 36, "34.99"),
    ("Samsung Galaxy S25 128 GB", 24, "35.79"),
    ("Samsung Galaxy S25 Ultra 512 GB", 24, "64.96"),
    ("Samsung Galaxy A55 128 GB", 24, "17.04"),
    ("Google Pixel 9 128 GB", 24, "33.29"),
    ("Fairphone 5 256 GB", 24, "29.13"),
    ("Xiaomi 14T 256 GB", 24, "24.99"),
    ('Apple iPad Air 11" Wi-Fi + Cellular 128 GB', 24, "34.16"),
    ("Apple Watch Series 10 GPS + Cellular", 24, "24.96"),
)


def _convert(eur: str, kind: str, currency: str) -> str:
    value = Decimal(eur) * _RATE[currency]
    zero = currency in _ZERO_DECIMALS
    if kind == "micro":
        return str(value.quantize(Decimal("0.000001"), ROUND_HALF_UP))
    if kind == "rate":
        step = Decimal("0.1") if zero else Decimal("0.001")
        value = value.quantize(step, ROUND_HALF_UP)
        return str(value if zero else value.quantize(Decimal("0.0001")))
    if zero:
        step = Decimal("100") if currency == "KRW" else Decimal("10")
        if kind == "exact":
            step = Decimal("1")
        return str((value / step).quantize(Decimal("1"), ROUND_HALF_UP) * step)
    if currency == "EUR" or kind == "exact":
        return str(value.quantize(Decimal("0.01"), ROUND_HALF_UP))
    if _RATE[currency] >= 20:  # RUB, UAH: whole units
        return str(value.quantize(Decimal("1"), ROUND_HALF_UP).quantize(Decimal("0.01")))
    # x.x9 shelf price just above the converted value
    tenths = (value * 10).to_integral_value(rounding=ROUND_CEILING)
    return str((tenths / 10 - Decimal("0.01")).quantize(Decimal("0.01")))


_PRICE: dict[str, dict[str, str]] = {
    cur: {key: _convert(eur, kind, cur) for key, (eur, kind) in _BASE_PRICES.items()} for cur in _FEES
}
_DEVICE_PRICE: dict[str, tuple[str, ...]] = {
    cur: tuple(_convert(eur, "exact", cur) for _, _, eur in _DEVICES) for cur in _FEES
}

# ------------------------------------------------------------------------ countries


@dataclass(frozen=True)
class Country:
    code: str  # ISO 3166 alpha-2
    locale: str
    currency: str
    tax_rate: str  # default; an address may carry its own (US sales tax)
    weight: int  # share of generated subscribers, percent
    male: tuple[tuple[str, str], ...]
    female: tuple[tuple[str, str], ...]
    surnames_m: tuple[tuple[str, str], ...]
    surnames_f: tuple[tuple[str, str], ...]
    family_first: bool  # CJK order
    name_sep: str
    address: Callable[[random.Random], list[str]]
    companies: tuple[str, ...]  # templates with {a} and {b} (surnames)
    home: str  # destination name as used in "International calls to ..."
    eu: bool


_ADDRESS = {**ADDRESS, **_MORE_ADDRESS}
_COUNTRY_DATA = {**COUNTRY_DATA, **_MORE_COUNTRIES}


def _build_countries() -> tuple[Country, ...]:
    out = []
    for code, (
        locale,
        cur,
        tax,
        weight,
        male,
        female,
        surnames,
        table,
        companies,
        home,
        eu,
    ) in _COUNTRY_DATA.items():
        sm, sf = surnames_of(surnames, table)
        cjk = code in ("JP", "CN", "KR")
        out.append(
            Country(
                code=code,
                locale=locale,
                currency=cur,
                tax_rate=tax,
                weight=weight,
                male=names_of(male, table),
                female=names_of(female, table),
                surnames_m=sm,
                surnames_f=sf,
                family_first=cjk,
                name_sep=" " if code == "JP" or not cjk else "",
                address=_ADDRESS[code],
                companies=companies,
                home=home,
                eu=eu,
            )
        )
    return tuple(out)


COUNTRIES: tuple[Country, ...] = _build_countries()
_COUNTRY_PICK: tuple[Country, ...] = tuple(c for c in COUNTRIES for _ in range(c.weight))
_BY_CODE = {c.code: c for c in COUNTRIES}
assert len(_COUNTRY_PICK) == 100
assert {c.currency for c in COUNTRIES} <= set(_FEES)

# ------------------------------------------------------------------------ usage lines

_INTL_DESTS = (
    ("United States", "call_t1"),
    ("Canada", "call_t1"),
    ("United Kingdom", "call_t1"),
    ("China", "call_t1"),
    ("Japan", "call_t1"),
    ("South Korea", "call_t1"),
    ("Germany", "call_t2"),
    ("France", "call_t2"),
    ("Poland", "call_t2"),
    ("Italy", "call_t2"),
    ("Spain", "call_t2"),
    ("Austria", "call_t2"),
    ("Greece", "call_t2"),
    ("Türkiye", "call_t2"),
    ("Switzerland", "call_t2"),
    ("Ukraine", "call_t3"),
    ("Kazakhstan", "call_t3"),
    ("Morocco", "call_t3"),
    ("India", "call_t3"),
    ("Brazil", "call_t3"),
    ("Nigeria", "call_t3"),
    ("Russia", "call_t3"),
    ("Cuba", "call_t4"),
)
_ZONES: tuple[tuple[str, str, set[str]], ...] = (  # (name, price suffix, excluded home countries)
    ("EU", "eu", {"DE", "AT", "FR", "PL", "GR", "ES", "IT", "NL", "PT", "SE"}),
    ("Switzerland", "z1", {"CH"}),
    ("United Kingdom", "z1", {"GB"}),
    ("Türkiye", "z1", {"TR"}),
    ("USA & Canada", "us", {"US"}),
    ("Asia-Pacific", "apac", set()),
    ("Rest of world", "row", set()),
)
_DESTS_FOR = {c.code: tuple(d for d in _INTL_DESTS if d[0] != c.home) for c in COUNTRIES}
_ZONES_FOR = {c.code: tuple((z, s) for z, s, ex in _ZONES if c.code not in ex) for c in COUNTRIES}


def _dec(units: int, places: int) -> str:
    return str(Decimal(units).scaleb(-places))


def _roaming_data(rng, country, prices):
    zone, sfx = rng.choice(_ZONES_FOR[country.code])
    return f"Roaming data {zone}", _dec(rng.randint(10, 6000), 3), prices["data_" + sfx]


def _roaming_calls(rng, country, prices):
    zone, sfx = rng.choice(_ZONES_FOR[country.code])
    return f"Roaming calls {zone}", str(rng.randint(1, 180)), prices["rcall_" + sfx]


def _day_pass(rng, country, prices):
    zone, sfx = rng.choice(_ZONES_FOR[country.code])
    return f"Roaming day pass {zone}", str(rng.randint(1, 14)), prices["pass_" + sfx]


def _intl_calls(rng, country, prices):
    dest, key = rng.choice(_DESTS_FOR[country.code])
    return f"International calls to {dest}", str(rng.randint(1, 300)), prices[key]


def _intl_sms(rng, country, prices):
    return "International SMS", str(rng.randint(1, 60)), prices["sms_intl"]


def _sms_bundle(rng, country, prices):
    return "SMS bundle 100", "1", prices["sms_bundle"]


def _extra_data(rng, country, prices):
    if rng.random() < 0.7:
        return "Extra data 5 GB", str(rng.randint(1, 3)), prices["data_5"]
    return "Extra data 10 GB", str(rng.randint(1, 2)), prices["data_10"]


def _premium(rng, country, prices):
    return "Calls to premium-rate numbers", str(rng.randint(1, 45)), prices["premium"]


def _per_mb(rng, country, prices):
    return "Data outside bundle (per MB)", _dec(rng.randint(1, 99999), 1), prices["per_mb"]


def _device(rng, country, prices):
    i = rng.randrange(len(_DEVICES))
    model, months, _ = _DEVICES[i]
    text = f"Device instalment {rng.randint(1, months)} of {months} – {model}"
    if rng.random() < 0.1:
        text += (
            f" (contract MV-{rng.randint(2023, 2026)}-{rng.randint(1, 9999):04d}; "
            "early payoff possible at any time, free of charge)"
        )
    return text, "1", _DEVICE_PRICE[country.currency][i]


_CHARGE_KINDS = (
    (_roaming_data, 18),
    (_roaming_calls, 10),
    (_day_pass, 8),
    (_intl_calls, 22),
    (_intl_sms, 6),
    (_sms_bundle, 8),
    (_extra_data, 14),
    (_device, 8),
    (_premium, 3),
    (_per_mb, 3),
)
_CHARGE_PICK = tuple(fn for fn, weight in _CHARGE_KINDS for _ in range(weight))
# 0: 30 %, 1: 30 %, 2: 20 %, 3: 10 %, 4: 10 %
_CHARGE_COUNT = (0, 0, 0, 1, 1, 1, 2, 2, 3, 4)

_DOMAINS = ("example.org", "example.com", "example.net")
_COMPANY_MAILBOX = ("billing", "accounts", "invoices", "office", "finance")

# ------------------------------------------------------------------------ generation


def synthetic_dataset(count: int, period: str, seed: int = 0, countries: Iterable[str] | None = None) -> dict:
    """`count` subscribers billable in `period` ("YYYY-MM") with 0-4 usage charges each.

    Plans cover every currency (three tiers each) whatever the count; accounts are
    S-000001, S-000002, ... `countries` (ISO codes such as "JP", "SA") keeps the
    subscribers to those countries, in their usual proportions; None: all of them.
    """
    return next(synthetic_chunks(count, period, seed, countries, size=max(count, 1)))


def synthetic_chunks(
    count: int, period: str, seed: int = 0, countries: Iterable[str] | None = None, size: int = 50_000
) -> Iterator[dict]:
    """`synthetic_dataset(count, ...)` as data sets of at most `size` subscribers each (their
    charges with them, the plans in every one), in account order: together the same
    subscribers and charges. Importing them one by one keeps a million subscribers out of
    memory (the whole set at once held ~650 MB)."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"count must be a non-negative int, got {count!r}")
    if size < 1:
        raise ValueError(f"size must be positive, got {size!r}")
    pick = _country_pick(countries)
    parsed = Period.parse(period)
    period, first, last = str(parsed), parsed.start, parsed.end
    rng = random.Random(seed)
    choice, rand, randint = rng.choice, rng.random, rng.randint

    first_ord = first.toordinal()
    # active_from: mostly up to six years before the period, 6 % inside it (never the 1st).
    before = tuple(date.fromordinal(first_ord - k).isoformat() for k in range(1, 6 * 365))
    inside = tuple(date.fromordinal(first_ord + k).isoformat() for k in range(1, last.day))
    all_days = tuple(date.fromordinal(first_ord + k).isoformat() for k in range(last.day))
    later = tuple(date.fromordinal(last.toordinal() + k).isoformat() for k in range(1, 731))

    subscribers: list[dict] = []
    charges: list[dict] = []
    add_sub, add_charge = subscribers.append, charges.append

    for n in range(1, count + 1):
        if len(subscribers) == size:
            yield {"plans": [dict(p) for p in PLANS], "subscribers": subscribers, "charges": charges}
            subscribers, charges = [], []
            add_sub, add_charge = subscribers.append, charges.append
        account = f"S-{n:06d}"
        country = choice(pick)

        if rand() < 0.04:
            a = choice(country.surnames_m)
            b = choice(country.surnames_m)
            name = choice(country.companies).format(a=a[0], b=b[0])
            email = f"{choice(_COMPANY_MAILBOX)}.{a[1]}@{choice(_DOMAINS)}"
        else:
            if rand() < 0.5:
                given, family = choice(country.male), choice(country.surnames_m)
            else:
                given, family = choice(country.female), choice(country.surnames_f)
            if country.family_first:
                name = f"{family[0]}{country.name_sep}{given[0]}"
            else:
                name = f"{given[0]} {family[0]}"
            style = rand()
            if style < 0.5:
                local = f"{given[1]}.{family[1]}"
            elif style < 0.75:
                local = f"{given[1][0]}.{family[1]}"
            else:
                local = f"{given[1]}{family[1]}"
            if rand() < 0.3:
                local += str(randint(1, 99))
            email = f"{local}@{choice(_DOMAINS)}"

        address = country.address(rng)
        tax_rate = _US_TAX[address[-1][:-6]] if country.code == "US" else country.tax_rate

        currency = country.currency
        plan = _PLAN_CODES[currency][choice(_TIER_PICK)]

        r = rand()
        if r < 0.06:
            day = randint(1, len(inside))
            active_from = inside[day - 1]
        else:
            day = 0
            active_from = choice(before)
        r = rand()
        if r < 0.04:  # leaves during the period (still billable)
            active_to = all_days[randint(day, len(all_days) - 1)]
        elif r < 0.07:  # fixed-term contract ending later
            active_to = choice(later)
        else:
            active_to = None

        add_sub(
            {
                "account": account,
                "name": name,
                "email": email,
                "address": address,
                "country": country.code,
                "locale": country.locale,
                "currency": currency,
                "tax_rate": tax_rate,
                "plan": plan,
                "active_from": active_from,
                "active_to": active_to,
            }
        )

        prices = _PRICE[currency]
        for _ in range(choice(_CHARGE_COUNT)):
            description, quantity, unit_price = choice(_CHARGE_PICK)(rng, country, prices)
            add_charge(
                {
                    "account": account,
                    "period": period,
                    "description": description,
                    "quantity": quantity,
                    "unit_price": unit_price,
                }
            )

    yield {"plans": [dict(p) for p in PLANS], "subscribers": subscribers, "charges": charges}


def country_codes(text: str) -> tuple[str, ...]:
    """ "JP,sa" -> ("JP", "SA"); ValueError naming any code that has no synthetic data."""
    codes = tuple(dict.fromkeys(code.strip().upper() for code in text.split(",") if code.strip()))
    unknown = [code for code in codes if code not in _BY_CODE]
    if not codes or unknown:
        raise ValueError(
            f"unknown country {', '.join(unknown) or '(none given)'}; known: {', '.join(sorted(_BY_CODE))}"
        )
    return codes


def _country_pick(countries: Iterable[str] | None) -> tuple[Country, ...]:
    if countries is None:
        return _COUNTRY_PICK
    codes = country_codes(",".join(countries))
    return tuple(c for c in _COUNTRY_PICK if c.code in codes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m invoicing.synthetic",
        description="Write a deterministic synthetic import file (JSON) to stdout or a file.",
    )
    parser.add_argument("count", type=int)
    parser.add_argument("period", help="YYYY-MM")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--countries", help="comma-separated ISO codes, e.g. JP,SA (default: all)")
    parser.add_argument("-o", "--output", help="file to write (default: stdout)")
    args = parser.parse_args(argv)
    try:
        countries = country_codes(args.countries) if args.countries else None
        data = synthetic_dataset(args.count, args.period, args.seed, countries)
    except (ValueError, BillingError) as exc:
        parser.error(str(exc))
    text = json.dumps(data, ensure_ascii=False, indent=1)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    else:
        sys.stdout.write(text + "\n")
    return 0
