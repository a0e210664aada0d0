"""E-mail addresses: one rule, applied where an address enters (the directory, ``config/alerts.yaml``,
``config/documents.yaml``'s contact, console logins) and available to the outbox before it sends.

An address is accepted only if any relay can deliver it without SMTPUTF8: one address (no list, no
display name, no line break or control character), an ASCII local part (dot-atom), and a domain of
ASCII labels.  An internationalised domain (例子.中国) is accepted and stored in its punycode form
(xn--fsqu00a.xn--fiqs8s, IDNA 2008 with the UTS 46 mapping) — what the relay and the DNS need; one
that cannot be encoded is refused.  A non-ASCII local part (张三@…) is refused: it needs SMTPUTF8 at
every hop, which a government relay rarely offers.
"""
from __future__ import annotations

import re
import unicodedata

import idna

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


class AddressError(ValueError):
    """Why a text is not one deliverable address."""


def validate_address(value) -> str:
    """The address as it is stored and sent to (the domain in lower case and punycode), or
    ``AddressError`` saying what is wrong with it."""
    if not isinstance(value, str):
        raise AddressError(f"{value!r} is not an e-mail address (not text)")
    if "\r" in value or "\n" in value:
        raise AddressError(f"{value!r} contains a line break")
    bad = next((c for c in value if unicodedata.category(c) in ("Cc", "Cf")), None)
    if bad is not None:
        raise AddressError(f"{value!r} contains the control character U+{ord(bad):04X}")
    address = value.strip()
    if not address:
        raise AddressError("the address is empty")
    if any(c in address for c in ",;"):
        raise AddressError(f"{address!r} is a list of addresses, not one: give each its own entry")
    if any(c in address for c in "<>\"()"):
        raise AddressError(f"{address!r} has a display name, brackets or quotes: give the bare address "
                           "(name@example.gov.cn)")
    if any(c.isspace() for c in address):
        raise AddressError(f"{address!r} contains a space")
    if address.count("@") != 1:
        raise AddressError(f"{address!r} is not one e-mail address ({'no' if '@' not in address else 'more than one'} @)")
    local, domain = address.split("@")
    if not local.isascii():
        raise AddressError(f"{address!r}: the part before @ ({local!r}) is not ASCII; relays without SMTPUTF8 "
                           "cannot deliver it — ask for an ASCII address")
    if not _LOCAL.fullmatch(local) or len(local) > 64:
        raise AddressError(f"{address!r}: the part before @ ({local!r}) is not a valid mailbox name")
    return f"{local}@{_domain(address, domain)}"


def _domain(address: str, domain: str) -> str:
    """The domain in ASCII (punycode for an internationalised one), lower case."""
    if not domain.isascii():
        try:
            domain = idna.encode(domain, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            raise AddressError(f"{address!r}: the domain {domain!r} cannot be encoded for DNS ({exc})") from None
    domain = domain.lower()
    labels = domain.split(".")
    if len(labels) < 2 or len(domain) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise AddressError(f"{address!r}: {domain!r} is not a valid domain name")
    if domain.startswith("xn--") or ".xn--" in domain:
        try:
            idna.decode(domain)
        except idna.IDNAError as exc:
            raise AddressError(f"{address!r}: the punycode domain {domain!r} is not valid ({exc})") from None
    return domain
