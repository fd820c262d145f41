"""Deterministic synthetic subscribers and usage in the import format (see fixtures/README.md).

    synthetic_dataset(count, period, seed=0) -> {"plans": [...], "subscribers": [...], "charges": [...]}

The same (count, period, seed) always gives an equal dict: the only randomness is one
`random.Random(seed)`, and nothing reads the clock or the environment. Every subscriber is
billable in `period` (a few start or end inside it), and every charge is in `period`.
Amounts, quantities and tax rates are strings made from Decimal, never floats.

Self-contained (standard library only) so it can run anywhere, e.g. to make a load-test file:

    python -m invoicing.synthetic 100000 2026-10 --seed 1 -o /tmp/subscribers.json
    python -m invoicing.synthetic 300 2026-10 --countries JP -o /tmp/japan.json

25 countries in 16 scripts and languages (synthetic_countries.py holds the tables of the
ones added with the invoice's translations: Arabic, Hebrew, Hindi, Bengali, Thai, Tamil,
Spanish, Italian, Dutch, Portuguese, Swedish, Turkish).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

from invoicing.billing.period import Period
from invoicing.errors import BillingError
from invoicing.synthetic_countries import ADDRESS as _MORE_ADDRESS
from invoicing.synthetic_countries import COUNTRY_DATA as _MORE_COUNTRIES
from invoicing.synthetic_countries import FEES as _MORE_FEES
from invoicing.synthetic_countries import RATES as _MORE_RATES

__all__ = ["synthetic_dataset", "country_codes", "PLANS", "COUNTRIES"]


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


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_CYRILLIC_RU = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
        "a b v g d e e zh z i y k l m n o p r s t u f kh ts ch sh shch - y - e yu ya".split(),
        strict=True,
    )
)
_CYRILLIC_UK = dict(
    zip(
        "абвгґдеєжзиіїйклмнопрстуфхцчшщьюя'’",
        "a b v h g d e ye zh z y i i y k l m n o p r s t u f kh ts ch sh shch - yu ya - -".split(),
        strict=True,
    )
)
_GREEK = dict(
    zip(
        "αάβγδεέζηήθιίϊΐκλμνξοόπρσςτυύϋΰφχψωώ",
        "a a v g d e e z i i th i i i i k l m n x o o p r s s t y y y y f ch ps o o".split(),
        strict=True,
    )
)
_LATIN_EXTRA = {
    "ß": "ss",
    "ł": "l",
    "ø": "o",
    "æ": "ae",
    "œ": "oe",
    "đ": "d",
    "ı": "i",
    "'": "",
    "’": "",
    " ": "",
}
_GERMAN = {"ä": "ae", "ö": "oe", "ü": "ue"}


def _ascii(name: str, table: str) -> str:
    """Lower-case ASCII spelling of a name, for e-mail addresses."""
    text = name.lower()
    if table == "de":
        text = "".join(_GERMAN.get(ch, ch) for ch in text)
    if table in ("ru", "uk", "el"):
        mapping = {"ru": _CYRILLIC_RU, "uk": _CYRILLIC_UK, "el": _GREEK}[table]
        if table == "el":
            text = text.replace("ου", "ou").replace("ού", "ou")
        text = "".join(mapping.get(ch, ch) for ch in text).replace("-", "")
    text = "".join(_LATIN_EXTRA.get(ch, ch) for ch in text)
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text if ch.isascii() and (ch.isalnum() or ch == "-"))


def _names(text: str, table: str) -> tuple[tuple[str, str], ...]:
    """'Name' or 'Name:romaji' words -> ((native, ascii), ...); "_" joins a name of
    several words ("van_den_Berg")."""
    out = []
    for word in text.split():
        native, _, roman = word.replace("_", " ").partition(":")
        out.append((native, roman.lower() if roman else _ascii(native, table)))
    return tuple(out)


def _surnames(text: str, table: str) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    """'Male/Female' (or one form for both) -> (male forms, female forms)."""
    male, female = [], []
    for word in text.split():
        m, _, f = word.partition("/")
        male.append(m)
        female.append(f or m)
    return _names(" ".join(male), table), _names(" ".join(female), table)


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


def _pick_code(rng: random.Random, lo: int, hi: int, step: int = 1) -> int:
    return lo + step * rng.randint(0, (hi - lo) // step)


def _house(rng: random.Random) -> str:
    n = rng.randint(1, 160)
    return f"{n}{rng.choice('ab')}" if rng.random() < 0.08 else str(n)


# Street + number / postcode + city formats ---------------------------------------

_DE_STREETS = (
    "Hauptstraße",
    "Bahnhofstraße",
    "Gartenstraße",
    "Schulstraße",
    "Lindenstraße",
    "Kirchstraße",
    "Waldstraße",
    "Ringstraße",
    "Mühlenweg",
    "Goethestraße",
    "Schillerstraße",
    "Friedrich-Ebert-Straße",
    "Rosenstraße",
    "Birkenweg",
    "Am Markt",
    "Weißdornweg",
    "Brückenstraße",
    "Königsallee",
    "Lessingstraße",
    "Jägerstraße",
)
_DE_CITIES = (
    ("Berlin", 10115, 14199),
    ("Hamburg", 20095, 22769),
    ("München", 80331, 81929),
    ("Köln", 50667, 51149),
    ("Frankfurt am Main", 60306, 60599),
    ("Stuttgart", 70173, 70629),
    ("Düsseldorf", 40210, 40629),
    ("Leipzig", 4103, 4357),
    ("Dresden", 1067, 1328),
    ("Nürnberg", 90402, 90491),
    ("Bremen", 28195, 28779),
    ("Hannover", 30159, 30669),
    ("Münster", 48143, 48167),
    ("Freiburg im Breisgau", 79098, 79117),
    ("Lübeck", 23552, 23570),
    ("Würzburg", 97070, 97084),
    ("Göttingen", 37073, 37085),
    ("Saarbrücken", 66111, 66133),
)


def _addr_de(rng: random.Random) -> list[str]:
    city, lo, hi = rng.choice(_DE_CITIES)
    return [f"{rng.choice(_DE_STREETS)} {_house(rng)}", f"{_pick_code(rng, lo, hi):05d} {city}"]


_AT_STREETS = (
    "Hauptstraße",
    "Mariahilfer Straße",
    "Landstraßer Hauptstraße",
    "Grazer Straße",
    "Linzer Straße",
    "Wiener Straße",
    "Schulgasse",
    "Kirchengasse",
    "Herrengasse",
    "Bahnhofstraße",
    "Salzburger Straße",
    "Feldgasse",
    "Mühlgasse",
    "Währinger Straße",
)
_AT_CITIES = (
    ("Wien", 1010, 1230, 10),
    ("Wien", 1010, 1230, 10),
    ("Wien", 1010, 1230, 10),
    ("Graz", 8010, 8055, 1),
    ("Linz", 4020, 4040, 1),
    ("Salzburg", 5020, 5026, 1),
    ("Innsbruck", 6020, 6080, 10),
    ("Klagenfurt am Wörthersee", 9020, 9073, 1),
    ("Villach", 9500, 9524, 1),
    ("St. Pölten", 3100, 3107, 1),
    ("Dornbirn", 6850, 6850, 1),
)


def _addr_at(rng: random.Random) -> list[str]:
    city, lo, hi, step = rng.choice(_AT_CITIES)
    number = str(rng.randint(1, 120))
    if rng.random() < 0.6:
        number += f"/{rng.randint(1, 4)}/{rng.randint(1, 24)}"
    return [f"{rng.choice(_AT_STREETS)} {number}", f"{_pick_code(rng, lo, hi, step)} {city}"]


_CH_STREETS = (
    "Bahnhofstrasse",
    "Hauptstrasse",
    "Dorfstrasse",
    "Kirchgasse",
    "Seestrasse",
    "Schulhausstrasse",
    "Bergstrasse",
    "Rosenweg",
    "Gartenstrasse",
    "Industriestrasse",
    "Zürcherstrasse",
    "Bernstrasse",
    "Sonnenbergstrasse",
    "Rütistrasse",
)
_CH_CITIES = (
    ("Zürich", 8001, 8057),
    ("Bern", 3001, 3030),
    ("Basel", 4001, 4059),
    ("Luzern", 6002, 6006),
    ("St. Gallen", 9000, 9016),
    ("Winterthur", 8400, 8411),
    ("Zug", 6300, 6300),
    ("Thun", 3600, 3608),
    ("Chur", 7000, 7000),
    ("Aarau", 5000, 5004),
)


def _addr_ch(rng: random.Random) -> list[str]:
    city, lo, hi = rng.choice(_CH_CITIES)
    return [f"{rng.choice(_CH_STREETS)} {_house(rng)}", f"{_pick_code(rng, lo, hi)} {city}"]


_FR_STREETS = (
    "rue de la République",
    "rue Victor Hugo",
    "avenue Jean Jaurès",
    "boulevard Voltaire",
    "rue des Écoles",
    "place de l'Église",
    "rue du Général de Gaulle",
    "allée des Tilleuls",
    "impasse des Lilas",
    "chemin du Moulin",
    "rue Pasteur",
    "avenue Foch",
    "quai Saint-Vincent",
    "rue Émile Zola",
    "rue de la Paix",
    "cours Lafayette",
)
_FR_CITIES = (
    ("PARIS", 75001, 75020, 1),
    ("PARIS", 75001, 75020, 1),
    ("LYON", 69001, 69009, 1),
    ("MARSEILLE", 13001, 13016, 1),
    ("TOULOUSE", 31000, 31500, 100),
    ("NICE", 6000, 6300, 100),
    ("NANTES", 44000, 44300, 100),
    ("STRASBOURG", 67000, 67200, 100),
    ("MONTPELLIER", 34000, 34090, 10),
    ("BORDEAUX", 33000, 33800, 100),
    ("LILLE", 59000, 59800, 100),
    ("RENNES", 35000, 35700, 100),
    ("SAINT-ÉTIENNE", 42000, 42100, 100),
)


def _addr_fr(rng: random.Random) -> list[str]:
    city, lo, hi, step = rng.choice(_FR_CITIES)
    lines = []
    if rng.random() < 0.15:
        lines.append(f"Bât. {rng.choice('ABCD')}, appt {rng.randint(1, 60)}")
    number = str(rng.randint(1, 140)) + (" bis" if rng.random() < 0.05 else "")
    lines.append(f"{number} {rng.choice(_FR_STREETS)}")
    lines.append(f"{_pick_code(rng, lo, hi, step):05d} {city}")
    return lines


_GB_STREETS = (
    "High Street",
    "Station Road",
    "Church Lane",
    "Victoria Road",
    "Green Lane",
    "Manor Road",
    "Park Avenue",
    "Queen's Road",
    "Kingsley Road",
    "Mill Lane",
    "The Crescent",
    "Albert Street",
    "Windsor Close",
    "Orchard Way",
)
_GB_TOWNS = (
    ("LONDON", ("N1", "E8", "SE15", "SW11", "NW3", "W4")),
    ("MANCHESTER", ("M1", "M14", "M20")),
    ("BIRMINGHAM", ("B1", "B15", "B29")),
    ("LEEDS", ("LS1", "LS6")),
    ("GLASGOW", ("G1", "G12")),
    ("EDINBURGH", ("EH1", "EH3", "EH10")),
    ("BRISTOL", ("BS1", "BS8")),
    ("CARDIFF", ("CF10", "CF24")),
    ("BELFAST", ("BT1", "BT7")),
    ("LIVERPOOL", ("L1", "L17")),
    ("NOTTINGHAM", ("NG1", "NG7")),
    ("OXFORD", ("OX1", "OX4")),
    ("CAMBRIDGE", ("CB1", "CB4")),
)
_GB_INWARD = "ABDEFGHJLNPQRSTUWXYZ"


def _addr_gb(rng: random.Random) -> list[str]:
    town, outward = rng.choice(_GB_TOWNS)
    lines = [f"Flat {rng.randint(1, 24)}"] if rng.random() < 0.25 else []
    lines.append(f"{rng.randint(1, 220)} {rng.choice(_GB_STREETS)}")
    inward = f"{rng.randint(1, 9)}{rng.choice(_GB_INWARD)}{rng.choice(_GB_INWARD)}"
    return [*lines, town, f"{rng.choice(outward)} {inward}"]


_US_STREETS = (
    "Main Street",
    "Oak Avenue",
    "Maple Drive",
    "Cedar Lane",
    "Elm Street",
    "Washington Boulevard",
    "Park Place",
    "Lakeview Drive",
    "Pine Street",
    "Madison Avenue",
    "Mission Street",
    "Peachtree Road NE",
    "SW Alder Street",
    "W 57th Street",
)
# city, state, zip range, combined sales tax (percent)
_US_CITIES = (
    ("New York", "NY", 10001, 10282, "8.875"),
    ("Los Angeles", "CA", 90001, 90089, "9.5"),
    ("Chicago", "IL", 60601, 60661, "10.25"),
    ("Houston", "TX", 77001, 77099, "8.25"),
    ("Phoenix", "AZ", 85001, 85054, "8.6"),
    ("Philadelphia", "PA", 19102, 19154, "8"),
    ("San Diego", "CA", 92101, 92199, "7.75"),
    ("Dallas", "TX", 75201, 75287, "8.25"),
    ("Seattle", "WA", 98101, 98199, "10.35"),
    ("Portland", "OR", 97201, 97299, "0"),
    ("Denver", "CO", 80201, 80299, "8.81"),
    ("Boston", "MA", 2108, 2137, "6.25"),
    ("Atlanta", "GA", 30301, 30399, "8.9"),
    ("Miami", "FL", 33101, 33199, "7"),
    ("Anchorage", "AK", 99501, 99524, "0"),
)
_US_TAX = {f"{city}, {state}": tax for city, state, _, _, tax in _US_CITIES}


def _addr_us(rng: random.Random) -> list[str]:
    city, state, lo, hi, _ = rng.choice(_US_CITIES)
    street = f"{rng.randint(10, 9800)} {rng.choice(_US_STREETS)}"
    if rng.random() < 0.3:
        street += f", Apt {rng.randint(1, 30)}{rng.choice('ABCDEF')}"
    return [street, f"{city}, {state} {_pick_code(rng, lo, hi):05d}"]


_PL_STREETS = (
    "ul. Marszałkowska",
    "ul. Długa",
    "ul. Polna",
    "ul. Leśna",
    "ul. Słoneczna",
    "ul. Krótka",
    "ul. Szkolna",
    "ul. Ogrodowa",
    "ul. Lipowa",
    "ul. Kościuszki",
    "ul. Mickiewicza",
    "ul. Żeromskiego",
    "al. Jerozolimskie",
    "ul. Piłsudskiego",
    "ul. Świętokrzyska",
)
_PL_CITIES = (
    ("Warszawa", 1, 4999),
    ("Warszawa", 1, 4999),
    ("Kraków", 30001, 31999),
    ("Łódź", 90001, 94999),
    ("Wrocław", 50001, 54999),
    ("Poznań", 60001, 61999),
    ("Gdańsk", 80001, 80999),
    ("Szczecin", 70001, 71999),
    ("Bydgoszcz", 85001, 85999),
    ("Lublin", 20001, 20999),
    ("Katowice", 40001, 40999),
    ("Białystok", 15001, 15999),
    ("Gdynia", 81001, 81999),
    ("Toruń", 87100, 87100),
    ("Rzeszów", 35001, 35999),
)


def _addr_pl(rng: random.Random) -> list[str]:
    city, lo, hi = rng.choice(_PL_CITIES)
    number = _house(rng)
    if rng.random() < 0.6:
        number += f"/{rng.randint(1, 120)}"
    code = _pick_code(rng, lo, hi)
    return [f"{rng.choice(_PL_STREETS)} {number}", f"{code // 1000:02d}-{code % 1000:03d} {city}"]


_RU_STREETS = (
    "ул. Ленина",
    "пр-т Мира",
    "ул. Гагарина",
    "ул. Советская",
    "ул. Садовая",
    "ул. Пушкина",
    "ул. Лесная",
    "наб. Фонтанки",
    "пер. Кривоколенный",
    "ул. Большая Садовая",
    "ш. Энтузиастов",
    "Цветной б-р",
    "ул. Малышева",
    "ул. Чкалова",
)
_RU_CITIES = (
    ("Москва", None, 101000, 129999),
    ("Москва", None, 101000, 129999),
    ("Санкт-Петербург", None, 190000, 199406),
    ("Новосибирск", "Новосибирская обл.", 630000, 630132),
    ("Екатеринбург", "Свердловская обл.", 620000, 620149),
    ("Казань", "Республика Татарстан", 420000, 420141),
    ("Нижний Новгород", "Нижегородская обл.", 603000, 603163),
    ("Самара", "Самарская обл.", 443000, 443125),
    ("Ростов-на-Дону", "Ростовская обл.", 344000, 344113),
    ("Краснодар", "Краснодарский край", 350000, 350089),
    ("Владивосток", "Приморский край", 690000, 690109),
    ("Калининград", "Калининградская обл.", 236000, 236044),
    ("Ярославль", "Ярославская обл.", 150000, 150066),
)


def _addr_ru(rng: random.Random) -> list[str]:
    city, region, lo, hi = rng.choice(_RU_CITIES)
    line = f"{rng.choice(_RU_STREETS)}, д. {rng.randint(1, 120)}"
    if rng.random() < 0.85:
        line += f", кв. {rng.randint(1, 300)}"
    lines = [line, f"г. {city}"]
    if region:
        lines.append(region)
    lines.append(str(_pick_code(rng, lo, hi)))
    return lines


_UA_STREETS = (
    "вул. Хрещатик",
    "вул. Шевченка",
    "вул. Франка",
    "просп. Перемоги",
    "вул. Грушевського",
    "вул. Садова",
    "вул. Лесі Українки",
    "вул. Соборна",
    "вул. Незалежності",
    "бульв. Шевченка",
    "вул. Городоцька",
    "вул. Дерибасівська",
)
_UA_CITIES = (
    ("Київ", None, 1001, 4216),
    ("Київ", None, 1001, 4216),
    ("Львів", "Львівська обл.", 79000, 79071),
    ("Одеса", "Одеська обл.", 65000, 65125),
    ("Харків", "Харківська обл.", 61000, 61204),
    ("Дніпро", "Дніпропетровська обл.", 49000, 49128),
    ("Вінниця", "Вінницька обл.", 21000, 21037),
    ("Івано-Франківськ", "Івано-Франківська обл.", 76000, 76026),
    ("Полтава", "Полтавська обл.", 36000, 36040),
    ("Чернівці", "Чернівецька обл.", 58000, 58032),
    ("Ужгород", "Закарпатська обл.", 88000, 88018),
)


def _addr_ua(rng: random.Random) -> list[str]:
    city, region, lo, hi = rng.choice(_UA_CITIES)
    line = f"{rng.choice(_UA_STREETS)}, {rng.randint(1, 120)}"
    if rng.random() < 0.8:
        line += f", кв. {rng.randint(1, 250)}"
    lines = [line, f"м. {city}"]
    if region:
        lines.append(region)
    lines.append(f"{_pick_code(rng, lo, hi):05d}")
    return lines


_GR_STREETS = (
    "Ερμού",
    "Σταδίου",
    "Πανεπιστημίου",
    "Αιόλου",
    "Τσιμισκή",
    "Εγνατία",
    "Λεωφόρος Κηφισίας",
    "Λεωφόρος Συγγρού",
    "Αγίου Δημητρίου",
    "Πατησίων",
    "Βασιλίσσης Σοφίας",
    "Αριστοτέλους",
    "Μητροπόλεως",
    "Κολοκοτρώνη",
    "25ης Μαρτίου",
    "Ελευθερίου Βενιζέλου",
)
_GR_CITIES = (
    ("Αθήνα", 10431, 11855),
    ("Αθήνα", 10431, 11855),
    ("Θεσσαλονίκη", 54621, 56430),
    ("Πάτρα", 26221, 26500),
    ("Ηράκλειο", 71201, 71500),
    ("Λάρισα", 41221, 41500),
    ("Βόλος", 38221, 38500),
    ("Ιωάννινα", 45221, 45500),
    ("Χανιά", 73100, 73136),
    ("Καλαμάτα", 24100, 24100),
    ("Ρόδος", 85100, 85100),
    ("Κέρκυρα", 49100, 49100),
)


def _addr_gr(rng: random.Random) -> list[str]:
    city, lo, hi = rng.choice(_GR_CITIES)
    code = _pick_code(rng, lo, hi)
    return [f"{rng.choice(_GR_STREETS)} {rng.randint(1, 180)}", f"{code // 100} {code % 100:02d} {city}"]


# 〒 postcode / prefecture + city + area + chōme-ban-gō / building -------------------

_JP_PLACES = (
    ("東京都渋谷区", ("神南", "道玄坂", "恵比寿", "代々木"), 1500000, 1510073),
    ("東京都新宿区", ("西新宿", "高田馬場", "神楽坂"), 1600000, 1690075),
    ("東京都世田谷区", ("三軒茶屋", "下北沢", "成城"), 1540000, 1580098),
    ("大阪府大阪市北区", ("梅田", "中之島", "天満"), 5300001, 5310076),
    ("神奈川県横浜市中区", ("山下町", "元町", "本町"), 2310000, 2310868),
    ("愛知県名古屋市中区", ("栄", "錦", "丸の内"), 4600001, 4600033),
    ("福岡県福岡市中央区", ("天神", "大名", "赤坂"), 8100001, 8100080),
    ("北海道札幌市中央区", ("大通西", "南三条西", "北一条西"), 600001, 640959),
    ("京都府京都市左京区", ("吉田", "下鴨", "岡崎"), 6060000, 6068439),
)
_JP_BUILDINGS = (
    "グランドメゾン",
    "サンハイツ",
    "コーポ青葉",
    "レジデンス桜",
    "メゾン・ド・ソレイユ",
    "ハイツ緑が丘",
)


def _addr_jp(rng: random.Random) -> list[str]:
    city, areas, lo, hi = rng.choice(_JP_PLACES)
    code = f"{_pick_code(rng, lo, hi):07d}"
    lines = [
        f"〒{code[:3]}-{code[3:]}",
        f"{city}{rng.choice(areas)}{rng.randint(1, 9)}丁目{rng.randint(1, 30)}-{rng.randint(1, 20)}",
    ]
    if rng.random() < 0.5:
        lines.append(f"{rng.choice(_JP_BUILDINGS)}{rng.randint(1, 12)}0{rng.randint(1, 9)}号室")
    return lines


_CN_PLACES = (
    ("上海市", ("浦东新区", "徐汇区", "静安区", "黄浦区"), 200000, 201999),
    ("北京市", ("朝阳区", "海淀区", "东城区", "西城区"), 100000, 102699),
    ("广东省广州市", ("天河区", "越秀区", "海珠区"), 510000, 510999),
    ("广东省深圳市", ("南山区", "福田区", "罗湖区"), 518000, 518999),
    ("浙江省杭州市", ("西湖区", "上城区", "滨江区"), 310000, 310999),
    ("四川省成都市", ("锦江区", "武侯区", "青羊区"), 610000, 610999),
    ("湖北省武汉市", ("武昌区", "江汉区", "洪山区"), 430000, 430999),
)
_CN_ROADS = (
    "世纪大道",
    "南京西路",
    "淮海中路",
    "长安街",
    "建国路",
    "中山路",
    "人民路",
    "解放路",
    "天河路",
    "深南大道",
    "文三路",
    "春熙路",
)


def _addr_cn(rng: random.Random) -> list[str]:
    city, districts, lo, hi = rng.choice(_CN_PLACES)
    lines = [f"{city}{rng.choice(districts)}{rng.choice(_CN_ROADS)}{rng.randint(1, 1200)}号"]
    if rng.random() < 0.6:
        lines.append(f"{rng.randint(1, 12)}号楼{rng.randint(1, 30)}0{rng.randint(1, 9)}室")
    lines.append(str(_pick_code(rng, lo, hi)))
    return lines


_KR_PLACES = (
    ("서울특별시", ("강남구", "종로구", "마포구", "송파구", "서초구"), 1000, 8899),
    ("부산광역시", ("해운대구", "부산진구", "수영구"), 46000, 49527),
    ("인천광역시", ("연수구", "남동구", "부평구"), 21000, 23136),
    ("대구광역시", ("수성구", "중구", "달서구"), 41000, 43023),
    ("대전광역시", ("유성구", "서구"), 34000, 35423),
    ("광주광역시", ("동구", "서구", "북구"), 61000, 62466),
    ("경기도 수원시", ("영통구", "팔달구"), 16200, 16706),
    ("경기도 성남시", ("분당구", "수정구"), 13100, 13640),
)
_KR_ROADS = (
    "테헤란로",
    "세종대로",
    "올림픽로",
    "강남대로",
    "해운대로",
    "중앙대로",
    "월드컵로",
    "판교역로",
    "한강대로",
    "동탄대로",
)


def _addr_kr(rng: random.Random) -> list[str]:
    city, districts, lo, hi = rng.choice(_KR_PLACES)
    lines = [f"{city} {rng.choice(districts)} {rng.choice(_KR_ROADS)} {rng.randint(1, 500)}"]
    if rng.random() < 0.6:
        lines.append(f"{rng.randint(101, 115)}동 {rng.randint(1, 25)}0{rng.randint(1, 6)}호")
    lines.append(f"{_pick_code(rng, lo, hi):05d}")
    return lines


# Names -----------------------------------------------------------------------------

_DE_MALE = (
    "Lukas Jonas Maximilian Felix Leon Paul Jürgen Jörg Uwe Stefan Thomas Andreas "
    "Michael Björn Sören Matthias Tobias Florian Günter Klaus"
)
_DE_FEMALE = (
    "Anna Lena Sophie Marie Hannah Jana Katrin Sabine Ursula Käthe Jasmin Sarah "
    "Laura Julia Birgit Gisela Anke Lea Mia Jördis"
)
_DE_SURNAMES = (
    "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann "
    "Schäfer Koch Bauer Richter Klein Wolf Schröder Neumann Schwarz Zimmermann Braun "
    "Krüger Hofmann Hartmann Lange Werner Krause Köhler Weiß Groß Jäger Böhm Günther "
    "Kühn Möller Yılmaz Kaya Nowak"
)

_COUNTRY_DATA = {
    # code: (locale, currency, tax, weight, male, female, surnames, translit, companies, home, eu)
    "DE": (
        "de_DE",
        "EUR",
        "19",
        12,
        _DE_MALE,
        _DE_FEMALE,
        _DE_SURNAMES,
        "de",
        ("{a} & {b} GmbH", "{a} GmbH & Co. KG", "Autohaus {a} e.K.", "{a} & Söhne GmbH"),
        "Germany",
        True,
    ),
    "AT": (
        "de_AT",
        "EUR",
        "20",
        4,
        _DE_MALE + " Wolfgang Alois Johann",
        _DE_FEMALE + " Theresa Magdalena",
        "Gruber Huber Bauer Wagner Müller Pichler Moser Mayer Hofer Leitner Berger Fuchs Eder "
        "Fischer Schmid Winkler Weber Maier Reiter Wimmer Egger Brunner Baumgartner Auer "
        "Binder Lechner Wallner Aigner Ebner Pöschl Hörmann Strauß",
        "de",
        ("{a} & {b} OG", "{a} GmbH", "Tischlerei {a} e.U."),
        "Austria",
        True,
    ),
    "CH": (
        "de_CH",
        "CHF",
        "8.1",
        3,
        "Reto Beat Urs Lukas Noah Luca Jürg Matthias Marco Thomas Daniel Andreas Stefan Peter",
        "Mia Lea Nina Seraina Corinne Regula Ursula Barbara Anna Laura Sandra Nicole Käthi",
        "Müller Meier Schmid Keller Weber Huber Schneider Meyer Steiner Fischer Gerber Brunner "
        "Baumann Frei Zimmermann Moser Widmer Wyss Graf Roth Brändli Zürcher Bühler Kälin "
        "Lüthi Schürch",
        "de",
        ("{a} AG", "{a} & {b} GmbH", "Schreinerei {a} AG"),
        "Switzerland",
        False,
    ),
    "FR": (
        "fr_FR",
        "EUR",
        "20",
        9,
        "Jean Pierre Louis Gabriel Raphaël Léo Hugo Théo Jérôme François Benoît Stéphane "
        "Rémi Noël Mathéo Étienne Loïc Gaël",
        "Élodie Chloé Léa Manon Camille Inès Zoé Hélène Françoise Cécile Mélanie Noémie "
        "Anaïs Océane Maëlle Margaux Gaëlle Thérèse",
        "Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Simon Laurent "
        "Lefèvre Michel Garcia David Bertrand Roux Vincent Fournier Morel Girard André "
        "Mercier Dupont Lambert Bonnet Guérin Chevalier Lemaître Ménard Prévost Rivière",
        "fr",
        ("{a} & Fils SARL", "Ateliers {a} SAS", "Cabinet {a} & {b}", "Boulangerie {a} SARL"),
        "France",
        True,
    ),
    "GB": (
        "en_GB",
        "GBP",
        "20",
        7,
        "Oliver George Harry Jack Charlie Thomas James William Daniel Liam Oisín Seán Rhys "
        "Dylan Callum Euan Alistair Hamish",
        "Olivia Amelia Isla Ava Emily Sophie Grace Siobhán Niamh Aoife Caitlín Eilidh "
        "Sinéad Charlotte Megan Bethan Rhiannon Zoë",
        "Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts "
        "Robinson Thompson Wright Walker White Edwards Hughes Green Hall Lewis Harris Clarke "
        "Patel Jackson O'Connor O'Brien O'Neill McDonald MacLeod McLaughlin Khan Ahmed Singh",
        "en",
        ("{a} & {b} Ltd", "{a} Consulting Ltd", "{a} Builders Ltd"),
        "United Kingdom",
        False,
    ),
    "US": (
        "en_US",
        "USD",
        "0",
        7,
        "James Robert John Michael David William Richard Joseph Thomas Christopher Daniel "
        "Matthew Anthony José Luis Carlos Andrés Kevin Brian Tyler",
        "Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Emily "
        "Ashley María Sofía Mónica Beatriz Renée Zoë",
        "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez "
        "Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Pérez Thompson "
        "White Harris Sánchez Clark Ramírez Lewis Robinson Walker Young Nguyen Kim Carter "
        "Núñez Peña",
        "en",
        ("{a} & {b} LLC", "{a} Logistics Inc.", "{a} Family Dental PLLC"),
        "United States",
        False,
    ),
    "PL": (
        "pl_PL",
        "PLN",
        "23",
        6,
        "Piotr Krzysztof Andrzej Tomasz Paweł Michał Marcin Łukasz Grzegorz Jakub Mateusz "
        "Wojciech Stanisław Zbigniew Jarosław Kacper Szymon Bartłomiej",
        "Anna Maria Katarzyna Małgorzata Agnieszka Barbara Ewa Krystyna Magdalena Joanna "
        "Aleksandra Zofia Natalia Wiktoria Jadwiga Bożena Grażyna Elżbieta",
        "Nowak Kowalski/Kowalska Wiśniewski/Wiśniewska Wójcik Kowalczyk Kamiński/Kamińska "
        "Lewandowski/Lewandowska Zieliński/Zielińska Szymański/Szymańska Woźniak "
        "Dąbrowski/Dąbrowska Kozłowski/Kozłowska Jankowski/Jankowska Mazur "
        "Kwiatkowski/Kwiatkowska Krawczyk Piotrowski/Piotrowska Grabowski/Grabowska "
        "Pawłowski/Pawłowska Michalski/Michalska Król Wieczorek Jabłoński/Jabłońska Wróbel "
        "Górski/Górska Dudek Żak",
        "pl",
        ("{a} Sp. z o.o.", "{a} i Wspólnicy Sp. k.", "Zakład Usługowy {a}"),
        "Poland",
        True,
    ),
    "RU": (
        "ru_RU",
        "RUB",
        "20",
        7,
        "Александр Алексей Дмитрий Сергей Андрей Максим Иван Михаил Николай Евгений Артём "
        "Владимир Павел Игорь Юрий Фёдор Илья Роман",
        "Анна Мария Елена Ольга Наталья Татьяна Ирина Екатерина Светлана Юлия Анастасия "
        "Дарья Ксения Алёна Людмила Галина Виктория Полина",
        "Иванов/Иванова Смирнов/Смирнова Кузнецов/Кузнецова Попов/Попова "
        "Васильев/Васильева Петров/Петрова Соколов/Соколова Михайлов/Михайлова "
        "Новиков/Новикова Фёдоров/Фёдорова Морозов/Морозова Волков/Волкова "
        "Алексеев/Алексеева Лебедев/Лебедева Семёнов/Семёнова Егоров/Егорова "
        "Павлов/Павлова Козлов/Козлова Степанов/Степанова Николаев/Николаева Орлов/Орлова "
        "Андреев/Андреева Макаров/Макарова Никитин/Никитина Захаров/Захарова "
        "Зайцев/Зайцева Соловьёв/Соловьёва Белов/Белова Виноградов/Виноградова "
        "Жуков/Жукова Черных",
        "ru",
        ("ООО «{a} и партнёры»", "ООО «Торговый дом {a}»", "АО «{a} Логистика»"),
        "Russia",
        False,
    ),
    "UA": (
        "uk_UA",
        "UAH",
        "20",
        4,
        "Олександр Андрій Дмитро Сергій Володимир Тарас Богдан Микола Василь Іван Юрій Олег "
        "Максим Ярослав Михайло Петро Степан Євген",
        "Олена Оксана Наталія Тетяна Ірина Юлія Марія Анна Світлана Галина Катерина Ольга "
        "Людмила Соломія Ярина Христина Дарина Вікторія",
        "Шевченко Коваленко Бондаренко Ткаченко Кравченко Олійник Шевчук Коваль Поліщук "
        "Бойко Ткачук Мельник Лисенко Руденко Марченко Савченко Мороз Кравчук Павленко "
        "Петренко Гнатюк Ковальський/Ковальська Яворський/Яворська Левицький/Левицька "
        "Білецький/Білецька Ґудзь Їжакевич Єременко",
        "uk",
        ("ТОВ «{a} і партнери»", "ТОВ «{a} Груп»", "ПП «{a}»"),
        "Ukraine",
        False,
    ),
    "GR": (
        "el_GR",
        "EUR",
        "24",
        4,
        "Γιώργος Δημήτρης Κωνσταντίνος Γιάννης Νίκος Παναγιώτης Βασίλης Χρήστος Αθανάσιος "
        "Μιχάλης Ευάγγελος Σπύρος Αντώνης Ηλίας Στέλιος Θανάσης Πέτρος Άγγελος",
        "Μαρία Ελένη Αικατερίνη Βασιλική Σοφία Αγγελική Γεωργία Δήμητρα Κωνσταντίνα Ευαγγελία "
        "Παναγιώτα Χριστίνα Ιωάννα Αναστασία Δέσποινα Ειρήνη Θεοδώρα Φωτεινή",
        "Παπαδόπουλος/Παπαδοπούλου Παπαδάκης/Παπαδάκη Παπαγεωργίου Οικονόμου Γεωργίου "
        "Νικολάου Βασιλείου Ιωάννου Κωνσταντινίδης/Κωνσταντινίδου Παπανικολάου Αθανασίου "
        "Δημητρίου Μακρής/Μακρή Αντωνίου Καραγιάννης/Καραγιάννη Πετρίδης/Πετρίδου Αλεξίου "
        "Χατζηδάκης/Χατζηδάκη Μιχαηλίδης/Μιχαηλίδου Σταματόπουλος/Σταματοπούλου "
        "Θεοδωρόπουλος/Θεοδωροπούλου Ευαγγέλου Ζαχαρίου",
        "el",
        ("{a} & ΣΙΑ Ο.Ε.", "{a} Α.Ε.", "Αφοί {a} Ο.Ε."),
        "Greece",
        True,
    ),
    "JP": (
        "ja_JP",
        "JPY",
        "10",
        4,
        "翔太:Shota 健太:Kenta 大輔:Daisuke 拓也:Takuya 蓮:Ren 陽翔:Haruto 悠真:Yuma 湊:Minato "
        "誠:Makoto 浩:Hiroshi 隆:Takashi 直樹:Naoki",
        "花子:Hanako 陽菜:Hina 結衣:Yui さくら:Sakura 美咲:Misaki 葵:Aoi 凛:Rin 愛子:Aiko "
        "恵子:Keiko 由美:Yumi ひかり:Hikari みゆき:Miyuki",
        "佐藤:Sato 鈴木:Suzuki 高橋:Takahashi 田中:Tanaka 伊藤:Ito 渡辺:Watanabe 山本:Yamamoto "
        "中村:Nakamura 小林:Kobayashi 加藤:Kato 吉田:Yoshida 山田:Yamada 佐々木:Sasaki "
        "山口:Yamaguchi 松本:Matsumoto 井上:Inoue 木村:Kimura 林:Hayashi 清水:Shimizu 斎藤:Saito",
        "",
        ("株式会社{a}商事", "{a}工業株式会社", "{a}建設株式会社"),
        "Japan",
        False,
    ),
    "CN": (
        "zh_CN",
        "CNY",
        "6",
        3,
        "伟:Wei 强:Qiang 磊:Lei 军:Jun 洋:Yang 勇:Yong 杰:Jie 涛:Tao 明:Ming 浩然:Haoran "
        "子轩:Zixuan 建国:Jianguo 志强:Zhiqiang",
        "芳:Fang 娜:Na 敏:Min 静:Jing 丽:Li 秀英:Xiuying 婷:Ting 雪:Xue 欣怡:Xinyi 梓涵:Zihan "
        "雨桐:Yutong 慧:Hui",
        "王:Wang 李:Li 张:Zhang 刘:Liu 陈:Chen 杨:Yang 黄:Huang 赵:Zhao 吴:Wu 周:Zhou 徐:Xu "
        "孙:Sun 马:Ma 朱:Zhu 胡:Hu 郭:Guo 何:He 林:Lin 罗:Luo 高:Gao 欧阳:Ouyang",
        "",
        ("上海华信贸易有限公司", "深圳市鼎新电子有限公司", "杭州恒达科技有限公司", "北京瑞丰物流有限公司"),
        "China",
        False,
    ),
    "KR": (
        "ko_KR",
        "KRW",
        "10",
        3,
        "민준:Minjun 서준:Seojun 도윤:Doyun 예준:Yejun 시우:Siwoo 하준:Hajun 지호:Jiho "
        "준서:Junseo 현우:Hyunwoo 성민:Sungmin 동현:Donghyun 영호:Youngho",
        "서연:Seoyeon 서윤:Seoyun 지우:Jiwoo 하윤:Hayun 민서:Minseo 지민:Jimin 수빈:Subin "
        "예은:Yeeun 지은:Jieun 혜진:Hyejin 미영:Miyoung 은지:Eunji",
        "김:Kim 이:Lee 박:Park 최:Choi 정:Jung 강:Kang 조:Cho 윤:Yoon 장:Jang 임:Lim 한:Han "
        "오:Oh 서:Seo 신:Shin 권:Kwon 황:Hwang",
        "",
        ("주식회사 한빛", "(주)새솔테크", "미래넷 주식회사", "대한물산(주)"),
        "South Korea",
        False,
    ),
}
_ADDRESS = {
    "DE": _addr_de,
    "AT": _addr_at,
    "CH": _addr_ch,
    "FR": _addr_fr,
    "GB": _addr_gb,
    "US": _addr_us,
    "PL": _addr_pl,
    "RU": _addr_ru,
    "UA": _addr_ua,
    "GR": _addr_gr,
    "JP": _addr_jp,
    "CN": _addr_cn,
    "KR": _addr_kr,
    **_MORE_ADDRESS,
}
_COUNTRY_DATA.update(_MORE_COUNTRIES)


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
        sm, sf = _surnames(surnames, table)
        cjk = code in ("JP", "CN", "KR")
        out.append(
            Country(
                code=code,
                locale=locale,
                currency=cur,
                tax_rate=tax,
                weight=weight,
                male=_names(male, table),
                female=_names(female, table),
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
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"count must be a non-negative int, got {count!r}")
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

    return {"plans": [dict(p) for p in PLANS], "subscribers": subscribers, "charges": charges}


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


if __name__ == "__main__":
    raise SystemExit(main())
