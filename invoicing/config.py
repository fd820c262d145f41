"""Settings from INVOICING_* environment variables (and a .env file in the working directory).

One place that knows every knob; everything else asks `get_settings()`.
"""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import unquote, unquote_plus, urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from invoicing.errors import UsageError


class ConfigError(UsageError):
    """A setting that cannot work; the message is one line a user can act on."""


RUN_SCHEDULE = "0 2 * * *"  # the nightly run's default: 02:00 every day


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="INVOICING_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = "sqlite:///./invoicing.db"
    # Unset: chords run on an in-process worker (memory transport, in-memory results).
    broker_url: str | None = None
    # Unset: the broker URL when it is Redis, otherwise none (and chords are refused).
    result_backend: str | None = None
    # A local folder, or s3://bucket/prefix (credentials and endpoint: the AWS_* environment).
    output_dir: str = "output"

    # Seller printed on every invoice. With none of the INVOICING_SELLER_* settings given,
    # the sample seller (SAMPLE_SELLER) is printed and every page says SAMPLE; once any is
    # given, every seller field comes from the settings and the required ones must be set
    # (`seller_missing`).
    seller_name: str = ""
    seller_address: Annotated[list[str], NoDecode] = Field(default_factory=list)
    seller_tax_id: str = ""
    seller_email: str = ""
    seller_bank: str = ""
    seller_iban: str = ""  # checked and kept compact with python-stdnum; printed in groups of four
    seller_bic: str = ""  # checked with python-stdnum
    seller_logo: Path | None = None
    # What EN 16931 e-invoices need of the seller on top (see README, E-invoices).
    seller_vat_id: str = ""  # BT-31, country prefix first; checked with python-stdnum
    seller_country: str = Field(default="", pattern=r"^([A-Z]{2})?$")  # BT-40, ISO 3166 alpha-2
    seller_registration: str = ""  # BT-30, e.g. "HRB 12345, Amtsgericht Charlottenburg"
    seller_electronic_address: str = ""  # BT-34; unset: the e-mail address
    seller_electronic_address_scheme: str = Field(default="EM", pattern=r"^[A-Z0-9]{2,4}$")  # EAS code
    seller_contact_name: str = ""  # BT-41; XRechnung needs it
    seller_phone: str = ""  # BT-42; XRechnung needs it
    # E-invoices for every subscriber with a vat_id who does not name a format himself.
    einvoice: Literal["factur-x", "xrechnung"] | None = None
    # The run validates each e-invoice with the EN 16931 XSD and Schematron (a few ms each).
    einvoice_validate: bool = False
    payment_terms_days: int = Field(default=14, ge=0, le=365)
    invoice_prefix: str = Field(default="INV", pattern=r"^[A-Z0-9]{1,10}$")
    # Credit notes have a gapless series of their own: CN-2026-10-000001.
    credit_note_prefix: str = Field(default="CN", pattern=r"^[A-Z0-9]{1,10}$")

    # The most lines one invoice may have (the plan fee's included): import refuses more
    # charges for one account and period, and a run skips such a subscriber.
    max_lines: int = Field(default=1000, ge=2, le=100_000)
    # The largest import file read, in MiB: a file is read whole and parsed in memory.
    import_max_mb: int = Field(default=256, ge=1, le=4096)

    # Print-ready merged output (run/printing.py): pad each invoice to an even number of
    # pages; cut the output into volumes of at most this many pages (0: one file).
    print_duplex: bool = False
    volume_max_pages: int = Field(default=0, ge=0)

    # Invoices per header task; 0 sizes batches from the run size and worker count.
    batch_size: int = Field(default=0, ge=0, le=10_000)
    # Embedded worker threads (no broker configured).
    embedded_concurrency: int = Field(default=1, ge=1, le=64)
    # Nightly run (Celery beat), cron fields "minute hour day month weekday".
    run_schedule: str = RUN_SCHEDULE
    timezone: str = "UTC"
    # A run with no progress for this long is reported stalled and may be resumed.
    stall_after_s: int = Field(default=600, ge=10)
    # Seconds an unacknowledged Redis message stays invisible before redelivery;
    # must exceed the longest task (a batch of invoices takes seconds).
    visibility_timeout_s: int = Field(default=3600, ge=1)
    # How often beat's reconciler looks for stalled runs to resume.
    reconcile_every_s: float = Field(default=300.0, ge=1)
    connect_timeout_s: float = Field(default=3.0, gt=0, le=60)
    # Prefix for every Redis key (broker and results), to share a Redis server safely.
    redis_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9:._-]*$")
    # Queue the billing tasks go to; workers started with `celery -A invoicing worker` use it.
    queue: str = Field(default="invoicing", pattern=r"^[A-Za-z0-9._-]+$")

    # Signed webhooks (delivery/webhooks.py): events POSTed to every URL, comma-separated;
    # none: no event is recorded. The secret signs them (`whsec_` + base64; several,
    # space-separated, during a rotation: every one signs); never printed.
    webhook_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    webhook_secret: SecretStr | None = None
    # One POST's timeout; a non-2xx answer or a timeout is tried again after this many
    # seconds, doubled each time (at most an hour apart), for up to `webhook_retry_for_s`.
    webhook_timeout_s: float = Field(default=15.0, gt=0, le=120)  # the spec suggests 15 to 30 s
    webhook_retry_s: float = Field(default=5.0, gt=0, le=3600)
    webhook_retry_for_s: int = Field(default=86_400, ge=1)

    # `invoicing serve`: the largest upload POST /imports takes, in MiB (413 above it,
    # refused before it is read whole).
    api_max_upload_mb: int = Field(default=50, ge=1, le=4096)
    # Signs the dashboard's session cookie; unset: a random key per server process (a
    # restart logs everybody out, and several servers behind one address need this set).
    api_session_secret: str | None = Field(default=None, repr=False)

    # Delivery (invoicing/delivery): who gets an invoice how. A subscriber's `channel`
    # in the import, else this: print (the merged file), email, or both.
    default_channel: Literal["print", "email", "both"] = "print"
    # smtp://user:pass@host:587 (STARTTLS when offered; ?starttls=required insists),
    # smtps://user:pass@host:465 (implicit TLS). Unset: nothing is e-mailed.
    smtp_url: str | None = None
    mail_from: str = ""  # unset: the seller's e-mail address
    mail_reply_to: str = ""
    # Messages per second across all workers (a token bucket in Redis); 0: unlimited.
    mail_rate: float = Field(default=0.0, ge=0)
    # Start a run's delivery as soon as its merge has finished.
    deliver_after_run: bool = False
    # A deferred message (4xx, lost connection) is tried again after this many seconds,
    # doubled each time, up to mail_retries times; then it is failed.
    mail_retry_s: float = Field(default=60.0, gt=0, le=86_400)
    mail_retries: int = Field(default=6, ge=0, le=50)

    @field_validator(
        "broker_url", "result_backend", "einvoice", "api_session_secret", "smtp_url", mode="before"
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("webhook_urls", mode="before")
    @classmethod
    def _webhook_urls(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        for url in value if isinstance(value, list) else []:
            try:
                parsed = urlsplit(str(url))
                parsed.port  # noqa: B018 - reading it is the check
            except ValueError:
                raise ValueError(f"{redact(str(url))} cannot be read as a URL") from None
            if parsed.scheme not in ("http", "https") or not parsed.hostname:
                raise ValueError(f"{redact(str(url))} is not an http:// or https:// URL")
        return value

    @field_validator("webhook_secret", mode="before")
    @classmethod
    def _webhook_secret(cls, value: object) -> object:
        from invoicing.delivery.signing import parse_secrets

        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, str):
            if not value.strip():
                return None
            parse_secrets(value)  # ValueError naming the secret by position, never quoting it
        return value

    @model_validator(mode="after")
    def _webhooks_signed(self) -> Settings:
        if self.webhook_urls and self.webhook_secret is None:
            raise ValueError(
                "INVOICING_WEBHOOK_URLS needs INVOICING_WEBHOOK_SECRET (whsec_ + base64) to sign"
            )
        return self

    def webhook_keys(self) -> list[bytes]:
        """The keys every event is signed with (INVOICING_WEBHOOK_SECRET)."""
        from invoicing.delivery.signing import parse_secrets

        return parse_secrets(self.webhook_secret.get_secret_value()) if self.webhook_secret else []

    @field_validator("output_dir", mode="before")
    @classmethod
    def _output_location(cls, value: object) -> object:
        from invoicing.storage.location import is_s3, parse_s3

        text = str(value).strip()
        if is_s3(text):
            return parse_s3(text).url  # ValueError: names no bucket, bad bucket name
        return str(Path(text or "output"))

    @field_validator("seller_address", mode="before")
    @classmethod
    def _address_lines(cls, value: object) -> object:
        # Accept "line 1|line 2" in an environment variable as well as a JSON list.
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                return json.loads(value)
            return [part.strip() for part in value.split("|") if part.strip()]
        return value

    @field_validator("seller_vat_id")
    @classmethod
    def _vat_id(cls, value: str) -> str:
        if not value.strip():
            return ""
        from invoicing.identifiers import compact_vat, vat_id_problem

        problem = vat_id_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return compact_vat(value)

    @field_validator("seller_iban")
    @classmethod
    def _iban(cls, value: str) -> str:
        if not value.strip():
            return ""
        from stdnum import iban
        from stdnum.exceptions import ValidationError as NumberError

        try:
            return str(iban.validate(value))
        except NumberError as exc:
            raise ValueError(f"is not a valid IBAN: {_number_problem(exc)}") from None

    @field_validator("seller_bic")
    @classmethod
    def _bic(cls, value: str) -> str:
        if not value.strip():
            return ""
        from stdnum import bic
        from stdnum.exceptions import ValidationError as NumberError

        try:
            return str(bic.validate(value))
        except NumberError as exc:
            raise ValueError(f"is not a valid BIC: {_number_problem(exc)}") from None

    @field_validator("seller_country", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("run_schedule")
    @classmethod
    def _cron_fields(cls, value: str) -> str:
        # Checked here, so a bad schedule is a setting error (exit 2) before any command
        # runs, not a failure when Celery's app is configured. The default is a valid line:
        # every command validates it, and Celery is a tenth of a second of start-up.
        if value == RUN_SCHEDULE:
            return value
        from celery.schedules import crontab

        fields = value.split()
        if len(fields) != 5:
            raise ValueError(f"needs 5 cron fields (minute hour day month weekday), got {len(fields)}")
        minute, hour, day_of_month, month_of_year, day_of_week = fields
        crontab(minute, hour, day_of_week, day_of_month, month_of_year)  # ValueError if a field is bad
        return value

    @field_validator("volume_max_pages")
    @classmethod
    def _volume_holds_an_invoice(cls, value: int, info: ValidationInfo) -> int:
        if value == 1 and info.data.get("print_duplex"):
            # Every invoice takes at least two pages under duplex: none would fit.
            raise ValueError(
                "is below one invoice's pages: with INVOICING_PRINT_DUPLEX every invoice takes 2 or more"
            )
        return value

    @model_validator(mode="after")
    def _sample_seller(self) -> Settings:
        # Written past pydantic's __setattr__, so that `model_fields_set` still tells
        # what was given (`seller_is_sample`).
        if self.seller_is_sample:
            self.__dict__.update(SAMPLE_SELLER)
        return self

    @model_validator(mode="after")
    def _series_apart(self) -> Settings:
        if self.credit_note_prefix == self.invoice_prefix:
            raise ValueError("INVOICING_CREDIT_NOTE_PREFIX must differ from INVOICING_INVOICE_PREFIX")
        return self

    @property
    def seller_is_sample(self) -> bool:
        """No INVOICING_SELLER_* setting was given (not even an empty one): the sample
        seller is printed, marked SAMPLE on every page."""
        return not any(name.startswith("seller_") for name in self.model_fields_set)

    def seller_missing(self) -> list[str]:
        """The required seller settings that are empty: what an invoice must print (the
        seller's name and address, a tax number or VAT id) and where to pay (the IBAN).
        Empty for the sample seller."""
        if self.seller_is_sample:
            return []
        missing = [
            f"INVOICING_SELLER_{name.upper()}"
            for name in ("name", "address", "iban")
            if not any(str(part).strip() for part in _as_list(getattr(self, f"seller_{name}")))
        ]
        if not self.seller_tax_id.strip() and not self.seller_vat_id:
            missing.append("INVOICING_SELLER_TAX_ID (or INVOICING_SELLER_VAT_ID)")
        return missing

    def check_seller(self) -> None:
        """Refuse seller settings that are given but lack a required one: a sample value
        never fills the gap, and an issued invoice can never be changed."""
        missing = self.seller_missing()
        if missing:
            raise ConfigError(
                f"the seller settings lack {', '.join(missing)}: once any INVOICING_SELLER_* "
                "setting is given, every field an invoice prints comes from them (`invoicing config` "
                "shows them)"
            )

    @property
    def embedded(self) -> bool:
        return self.broker_url is None

    @property
    def effective_result_backend(self) -> str | None:
        if self.result_backend:
            return self.result_backend
        if self.broker_url is None:
            return "cache+memory://"
        if urlsplit(self.broker_url).scheme in ("redis", "rediss"):
            return self.broker_url
        return None

    def check_chords(self) -> None:
        """Chords need a result backend to count finished header tasks."""
        if self.effective_result_backend is None:
            raise ConfigError(
                f"chords need a result backend, and broker {redact(self.broker_url)} has none: "
                "set INVOICING_RESULT_BACKEND (e.g. redis://127.0.0.1:6379/1)"
            )


# The seller printed when no INVOICING_SELLER_* setting is given (the quick start, the
# demo); each page it is on is marked SAMPLE (pdf/layout.py).
SAMPLE_SELLER: dict[str, object] = {
    "seller_name": "Northwind Telecom GmbH",
    "seller_address": ["Friedrichstraße 123", "10117 Berlin", "Germany"],
    "seller_tax_id": "DE 123 456 789",
    "seller_email": "billing@northwind.example",
    "seller_bank": "Musterbank Berlin",
    "seller_iban": "DE89370400440532013000",
    "seller_bic": "COBADEFFXXX",
}


def _as_list(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else [value]


def _number_problem(exc: Exception) -> str:
    """python-stdnum's reason ("The number's checksum or check digit is invalid."), as
    the rest of a one-line message."""
    return str(exc).rstrip(".").replace("The number", "the number", 1)


# Masking credentials in URLs, for every message and log line that shows one.
#
# Hand-written on purpose: no library reads credentials the way all of ours do, and the
# mask has to cover the most any of them could take for a password. SQLAlchemy's
# `make_url` takes the password up to the FIRST "@" and lets it hold "/", "?" and "#";
# urllib (redis-py's `parse_url`, kombu's `url_to_parts`, botocore) ends the authority at
# the first "/", "?" or "#" and then takes the LAST "@" in it; kombu and Celery accept
# several URLs joined by ";"; redis-py and psycopg read a password from the query too.
# So the credentials are everything between "//" and the LAST "@" (unless the
# authority is empty, as in sqlite:///file or redis+socket:///tmp/r.sock), and any
# query value whose key looks like a secret is masked up to the next "&key=".

MASK = "***"
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
_NEXT_URL = re.compile(r";(?=[A-Za-z][A-Za-z0-9+.\-]*://)")
# key=value in a query (or a fragment); a value runs to the next "&key=" or ";key=", so a
# password holding "&", "#" or "?" is masked whole.
_PARAM = re.compile(r"(?P<lead>[?&;#])(?P<key>[^=&;#?]*)=(?P<value>.*?)(?=[&;][^&;#=]*=|$)", re.S)
_SECRET_KEY = re.compile(r"pass|pwd|secret|token|sig|credential|key|auth|private|session", re.I)
_NO_USER = frozenset("/?#@")


def _split(url: str) -> tuple[str, str | None, str]:
    """(scheme://, user info or None, the rest from its "@" on) of one URL."""
    match = _SCHEME.match(url)
    lead = match.group(0) if match else ""
    rest = url[len(lead) :]
    at = rest.rfind("@")
    if at < 0 or rest.startswith("/"):  # no credentials, or an empty authority
        return lead, None, rest
    return lead, rest[:at], rest[at:]


def _is_secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.search(unquote_plus(key)))


def _redact_one(url: str) -> str:
    lead, userinfo, rest = _split(url)
    if userinfo is not None:
        user, colon, _password = userinfo.partition(":")
        # A user name is shown only where every library reads the same one; without a
        # ":" the lone name may be a password (redis://secret@host), so it is masked.
        shown = f"{user}:{MASK}" if colon and not _NO_USER & set(user) else MASK
        rest = f"{shown}{rest}"

    def mask(match: re.Match[str]) -> str:
        if not _is_secret_key(match["key"]):
            return match.group(0)
        return f"{match['lead']}{match['key']}={MASK}"

    return lead + _PARAM.sub(mask, rest)


def redact(url: str | None) -> str:
    """The URL with every credential replaced by ***, for messages and logs.

    Covers every form SQLAlchemy, redis-py, kombu and botocore accept: passwords with
    "/ # ? @ %", passwords in the query (password=, sslpassword=, X-Amz-Signature=...),
    several hosts, several URLs joined by ";". When in doubt it masks more.
    """
    if not url:
        return "(unset)"
    return ";".join(_redact_one(part) for part in _NEXT_URL.split(url))


def url_secrets(url: str | None) -> set[str]:
    """Every string a library could take for a password of `url`, as written and decoded
    (as read by the last-"@" rule and by urllib, and secret query values)."""
    found: set[str] = set()
    for part in _NEXT_URL.split(url or ""):
        _lead, userinfo, rest = _split(part)
        candidates = []
        if userinfo is not None and ":" in userinfo:
            # (A lone user name is masked in the URL, but not hunted for in free text:
            # "postgres" would be cut out of every "postgresql".)
            candidates.append(userinfo.partition(":")[2])
        try:
            parsed = urlsplit(part)
            candidates += [parsed.password or ""]
        except ValueError:
            pass
        candidates += [m["value"] for m in _PARAM.finditer(rest) if _is_secret_key(m["key"])]
        for candidate in candidates:
            found.update({candidate, unquote(candidate), unquote_plus(candidate)})
    return {secret for secret in found if secret}


# Shorter candidates are left in free text: replacing every "pw" would garble any
# message and guard nothing a guess would not find.
SCRUBBED_MIN = 4


def scrub(text: str, *urls: str | None) -> str:
    """`text` (a library's error message, say) with these URLs masked wherever they
    appear whole, and every secret of theirs (see `url_secrets`) replaced by ***."""
    for url in sorted({u for u in urls if u}, key=len, reverse=True):
        text = text.replace(url, redact(url))
    secrets = set().union(*(url_secrets(url) for url in urls))
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= SCRUBBED_MIN:
            text = text.replace(secret, MASK)
    return text


def check_readable(url: str | None, setting: str) -> None:
    """Refuse a URL urllib cannot split (redis-py, kombu and Celery all use it): its
    ValueError quotes the piece it choked on, often part of a password holding "/",
    "?" or "#", and a worker would die on it with that in its log."""
    for part in _NEXT_URL.split(url or ""):
        try:
            urlsplit(part).port  # noqa: B018 - reading it is the check
        except ValueError:
            raise ConfigError(
                f"{setting} {redact(url)} cannot be read (one host[:port]; a password "
                "percent-encodes / ? # @ as %2F %3F %23 %40)"
            ) from None


def configured_urls() -> list[str]:
    """The URLs this process was given (settings and the S3 endpoint), for `scrub`; never
    raises, so an error message about bad settings can still be scrubbed."""
    names = ("DATABASE_URL", "BROKER_URL", "RESULT_BACKEND", "SMTP_URL")
    urls = [os.environ.get(f"INVOICING_{name}") for name in names]
    urls += [os.environ.get(name) for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")]
    urls += [part.strip() for part in os.environ.get("INVOICING_WEBHOOK_URLS", "").split(",")]
    try:
        settings = get_settings()
        urls += [settings.database_url, settings.broker_url, settings.result_backend, settings.smtp_url]
        urls += settings.webhook_urls
    except ConfigError:
        pass
    return [url for url in urls if url]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings every command and worker uses: refused (ConfigError, one line) if a
    value is bad or the seller settings lack a required one."""
    settings = read_settings()
    settings.check_seller()
    return settings


def read_settings() -> Settings:
    """The settings as given, each value checked, the seller's completeness not
    (`invoicing config` shows them to help complete them)."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            name = "INVOICING_" + "_".join(str(part) for part in error["loc"]).upper()
            value = error.get("input")
            message = str(error["msg"]).removeprefix("Value error, ")
            # A secret is never echoed, nor a webhook URL (it may carry a password).
            quiet = error["loc"][:1] in (("webhook_secret",), ("webhook_urls",))
            shown = "" if quiet or isinstance(value, dict) or repr(value) in message else f" (got {value!r})"
            # A rule over several settings (a model validator) names them itself.
            problems.append(f"{name}: {message}{shown}" if error["loc"] else message)
        raise ConfigError("; ".join(problems)) from None
