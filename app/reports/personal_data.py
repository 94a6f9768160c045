"""Text that looks like personal data in a report's description.

Descriptions are read by several organisations at the EST meeting, so a reporter should not
write who did what. We do not block such text (a guard may have a reason), we ask the reporter
to confirm. Three kinds are recognised, each with few false alarms on ordinary Swedish text:

* a personnummer or samordningsnummer: YYMMDD or YYYYMMDD, optional '-' or '+', four digits,
  with a valid date (samordningsnummer: day + 60) and a valid Luhn check digit;
* a Swedish phone number: 07x mobile or a 0-prefixed landline, or +46 / 0046, with the usual
  spaces and dashes, 8-10 digits after the leading zero; a mobile number also in dotted groups
  (070.123.45.67 — not landlines, which would take dates such as 05.11.2026);
* an e-mail address.

Dashes are read as '-' whichever a phone's keyboard or a word processor wrote (en and em dash,
the Unicode hyphens, minus), fullwidth digits as digits, and invisible characters (a zero-width
space between the digits) are ignored.

Pure functions, no logging of what was found (it is the personal data itself); the refusal
itself is built here so that every write path words it alike.
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata

import numpy as np

from app.errors import PersonalDataSuspected

_DASHES = str.maketrans(dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63\uff0d", "-"))
_PNR = re.compile(r"(?<![\d-])((?:19|20)?\d{6})[-+ ]?(\d{4})(?![\d-])")
# Phone numbers and personnummer need seven digits in a row, give or take separators (any
# dash), an e-mail address an '@': text without either is passed at once.
_CANDIDATE = re.compile(r"\d(?:[ ().+\-\u2010-\u2015\u2212\ufe63\uff0d\u200b-\u200d\u2060\ufeff]{0,2}\d){6}|[@＠]")
_PHONE = re.compile(r"(?<![\w+])(?:\+46|0046)[ -]?\(?0?\)?[ -]?[1-9](?:[ -]?\d){6,8}(?!\d)"
                    r"|(?<![\w+])0[1-9](?:[ -]?\d){6,8}(?!\d)"
                    r"|(?<![\w+.])07\d(?:[ .-]?\d){7}(?!\.?\d)")
# (parts bounded as RFC 5321 bounds them: unbounded, a long run without an '@' took quadratic time)
_EMAIL = re.compile(r"[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){0,8}\.[^\W\d_]{2,24}")


def _luhn_ok(nine_digits_and_check: str) -> bool:
    total = 0
    for i, ch in enumerate(nine_digits_and_check):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _valid_date(yymmdd: str) -> bool:
    month, day = int(yymmdd[2:4]), int(yymmdd[4:6])
    if day > 60:  # samordningsnummer
        day -= 60
    try:
        dt.date(2000, month, day)  # a leap year, so 29 February is accepted
    except ValueError:
        return False
    return True


def _normal(text: str) -> str:
    """The text as the patterns read it: fullwidth digits and letters as ASCII (NFKC), invisible
    format characters (zero-width space, joiners, BOM) dropped, any dash as '-'. ASCII text as is."""
    if text.isascii():
        return text
    text = unicodedata.normalize("NFKC", text)
    return "".join(c for c in text if unicodedata.category(c) != "Cf").translate(_DASHES)


def _personnummer_in(normal: str) -> bool:
    for match in _PNR.finditer(normal):
        date, tail = match.group(1)[-6:], match.group(2)
        if _valid_date(date) and _luhn_ok(date + tail):
            return True
    return False


def _phone_in(normal: str) -> bool:
    return _PHONE.search(normal) is not None


def _email_in(normal: str) -> bool:
    return "@" in normal and _EMAIL.search(normal) is not None


# Each kind's test on text already read as the patterns read it (:func:`_normal`).
_KINDS = (("personnummer", _personnummer_in), ("phone", _phone_in), ("email", _email_in))


def may_contain(texts: list[str]) -> set[int]:
    """Which of many texts may contain personal data at all (the quick test of
    :func:`personal_data_kinds`, run once over them all): only these need the full test."""
    joined = "\n".join(texts)  # the candidate pattern never spans a line break
    if not _CANDIDATE.search(joined):
        return set()
    starts = np.cumsum([0] + [len(t) + 1 for t in texts[:-1]])
    return {int(i) for i in np.searchsorted(starts, [m.start() for m in _CANDIDATE.finditer(joined)], side="right") - 1}


def personal_data_kinds(text: str) -> list[str]:
    """Which kinds of personal data the text seems to contain: 'personnummer', 'phone', 'email'."""
    if not _CANDIDATE.search(text):
        return []
    normal = _normal(text)  # once, for all three
    return [kind for kind, found_in_text in _KINDS if found_in_text(normal)]


def describe(kinds: list[str]) -> str:
    """'a personal identity number (personnummer) and a phone number', for messages."""
    return " and ".join({"personnummer": "a personal identity number (personnummer)",
                         "phone": "a phone number", "email": "an e-mail address"}[k] for k in kinds)


def found_in(texts: dict[str, str | None]) -> dict[str, list[str]]:
    """Field -> the kinds of personal data its text seems to contain, for the fields that do."""
    return {field: kinds for field, text in texts.items() if text and (kinds := personal_data_kinds(text))}


def suspected(found: dict[str, list[str]], *, read_by: str, resend: str) -> PersonalDataSuspected:
    """The refusal (422 personal-data) for what :func:`found_in` found, naming the fields and the
    kinds (each as an error with its ``code``, which the pages word in Swedish)."""
    what = describe(sorted({k for kinds in found.values() for k in kinds}))
    fields = " and the ".join(found)
    return PersonalDataSuspected(
        f"The {fields} seem{'s' if len(found) == 1 else ''} to contain {what}. {read_by}: remove it, or {resend} "
        "if it must stay",
        errors=[{"field": field, "message": "looks like personal data", "code": k}
                for field, kinds in found.items() for k in kinds])
