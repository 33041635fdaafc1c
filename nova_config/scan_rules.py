"""The detectors of `nova-config scan`: two compiled passes over a text, and what is not a secret.

A text (a whole file, or the lines a commit added to one) goes through two regular expressions,
each one alternation compiled once: `TOKENS`, the secrets recognisable by their shape (Discord
webhooks, Alpaca and AWS key ids, Vault tokens, PostgreSQL URLs with a password, PEM private
keys), and `NAMES`, assignments to a secret's name (the model's own secret fields, and
`*_PASSWORD`, `*_SECRET`, `*_TOKEN`, `*_API_KEY`...). An assignment whose value is a token the
first pass found is reported once, under the token's rule.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import NamedTuple

from nova_config.validators import is_placeholder

# The rules, as reported and as baselines record them.
DISCORD = "discord-webhook"
ALPACA_ID = "alpaca-key-id"
ALPACA_SECRET = "alpaca-secret-key"  # noqa: S105 - a rule's name, not a password
VAULT = "vault-token"
AWS_ID = "aws-access-key-id"
AWS_SECRET = "aws-secret-access-key"  # noqa: S105 - a rule's name, not a password
POSTGRES = "postgres-url"
PEM = "private-key"
MODEL = "model-secret"
ASSIGNMENT = "secret-assignment"
RULES = (DISCORD, ALPACA_ID, ALPACA_SECRET, VAULT, AWS_ID, AWS_SECRET, POSTGRES, PEM, MODEL,
         ASSIGNMENT)  # fmt: skip

# Each branch starts with a literal, so that `re` skips ahead to the characters that can start
# one (ten times faster than with a leading `\b`); the empty group that ends a branch names it,
# and the character before a match is checked in `_token` instead.
_TOKENS = (
    r"https?://(?:(?:ptb|canary)\.)?discord(?:app)?\.com/api(?:/v\d+)?/webhooks/\d{5,20}/"
    r"(?P<discord_token>[A-Za-z0-9_-]{16,})(?P<discord>)"
    r"|PK(?=[A-Z]*\d)[A-Z0-9]{18}\b(?P<alpaca>)|AK(?!IA)(?=[A-Z]*\d)[A-Z0-9]{18}\b(?P<alpaca_live>)"
    r"|A(?:KIA|SIA)[A-Z0-9]{16}\b(?P<aws>)"
    r"|hv[sbr]\.[A-Za-z0-9_-]{24,}(?P<vault>)"
    r"|s\.(?=[a-z0-9]*[A-Z])(?=[A-Z0-9]*[a-z])(?=[A-Za-z]*\d)[A-Za-z0-9]{24}(?![\w.-])(?P<vault_legacy>)"
    # The password runs to the URL's last `@`, so special characters (an `@` too) are kept.
    r"|postgres(?:ql)?(?:\+\w+)?://(?P<pg_user>[^\s:/@'\"`]*):(?P<pg_password>[^\s'\"`]+)@"
    r"[^\s'\"`@/]+(?P<postgres>)"
    r"|-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?:\\[rn]|\s|[\"',+])*"
    r"(?P<pem_body>[A-Za-z0-9+/]{32,})(?P<pem>)"
)
TOKENS = re.compile(_TOKENS)

# Generic name endings; a name is also matched when it ends with one of the model's secrets.
_GENERIC = ("password", "passwd", "secret", "secret_?key", "token", "api_?key",
            "secret_?access_?key")  # fmt: skip
_SEPARATOR = r"(?P<close>[\"']?)[ \t]*(?P<op>:=|=>|=(?!=)|:(?=[ \t\"']|$))[ \t]*"


@functools.cache
def model_names() -> tuple[frozenset[str], frozenset[str]]:
    """The model's secret variable names (aliases too, upper case) and its example values."""
    from nova_config.settings import NovaSettings  # noqa: PLC0415 - only a scan needs the model

    names: set[str] = set()
    examples: set[str] = set()
    for plan in NovaSettings.__nova_plans__:
        if plan.secret:
            names.update(name.upper() for name in (plan.variable, *plan.aliases, *plan.file_keys))
            examples.add(plan.example)
    return frozenset(names), frozenset(examples)


@functools.cache
def names_pattern(ignore_case: bool) -> re.Pattern[str]:
    """A secret's name, then `=`, `:` or `:=`, where the value starts.

    Args:
        ignore_case: False for a lower-cased ASCII text, which `re` scans ten times faster
            (its first-character table works only for a case-sensitive pattern).
    """
    keywords = sorted({*_GENERIC, *(re.escape(n.lower()) for n in model_names()[0])}, key=len)
    flags = re.MULTILINE | (re.IGNORECASE if ignore_case else 0)
    return re.compile(rf"(?P<kw>{'|'.join(reversed(keywords))}){_SEPARATOR}", flags)


# Whole values that stand for a secret without being one (besides `is_placeholder`'s).
_DUMMY = re.compile(
    r"(?:password|passwd|pass|secret|token|key|test(?:ing)?|examples?|dummy|sample|fake|"
    r"redacted|hidden|masked|none|null|nil|true|false|undefined|string|str|bytes|required|"
    r"optional|default|value|foo|bar|baz|\*+|-+|\.+|x+)\d*",
    re.IGNORECASE,
)
# Parts that make any value a placeholder, a reference or a template rather than a secret.
_NOT_SECRET = re.compile(
    r"<[^<>]*>|\$\{|\$\(|^\$\w|\{\{|\{%|%\(|%s$|#\{|<%|\*\*\*|xxxx|changeme|change_me|"
    r"^your[-_]|[-_]here$|example|environ|getenv|process\.env|ENV\[|\bvault:|^!",
    re.IGNORECASE,
)
_REFERENCE = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+|\{\w*\}|\d+|v?\d+(?:\.\d+)+")
_PATH_START = ("/", "./", "../", "~/", "file:", "^", "~", ">=", "<=", "==")
_CODE = frozenset(
    [
        ".py",
        ".pyi",
        ".pyw",
        ".ipynb",
        ".js",
        ".mjs",
        ".cjs",
        ".ts",
        ".tsx",
        ".jsx",
        ".go",
        ".java",
        ".kt",
        ".rb",
        ".rs",
        ".cs",
        ".php",
        ".c",
        ".h",
        ".cc",
        ".cpp",
        ".hpp",
        ".swift",
        ".scala",
        ".lua",
        ".pl",
        ".r",
    ]
)
_WORD = re.compile(r"[\w.-]*\Z")
_BASE64_40 = re.compile(r"[A-Za-z0-9/+]{40}")
_QUOTES = "\"'`"
_QUOTED = re.compile(r"[rbufRBUF]{0,2}([\"'`])")
# Python's annotated assignment, `password: str = "..."`: the value is after the `=`.
_ANNOTATION = re.compile(r"[A-Za-z_][\w\[\], .|]*?[ \t]*=(?!=)[ \t]*")


class Match(NamedTuple):
    """One secret in a text: its rule, the secret itself, and where it starts."""

    rule: str
    secret: str
    start: int


def is_example_file(path: str) -> bool:
    """Whether a file holds example values only (`.env.example`, `settings.yaml.sample`...)."""
    name = path.rsplit("/", 1)[-1].lower()
    return name.endswith((".example", ".sample", ".template", ".dist", ".tmpl")) or name in {
        ".env.example", "example.env", "sample.env", ".env.sample", ".env.template"
    }  # fmt: skip


def is_dummy(value: str) -> bool:
    """Whether a value is a placeholder, a reference, a template or a documented fake."""
    value = value.strip()
    return (
        not value
        or is_placeholder(value, model_names()[1])
        or _DUMMY.fullmatch(value) is not None
        or _NOT_SECRET.search(value) is not None
    )


_RULE_OF = {"discord": DISCORD, "alpaca": ALPACA_ID, "alpaca_live": ALPACA_ID, "aws": AWS_ID,
            "vault": VAULT, "vault_legacy": VAULT, "postgres": POSTGRES, "pem": PEM}  # fmt: skip
_BOUNDED = frozenset({"alpaca", "alpaca_live", "aws", "vault", "vault_legacy"})


def _token(text: str, match: re.Match[str]) -> Match | None:
    kind = str(match.lastgroup)
    start = match.start()
    if kind in _BOUNDED and start and (text[start - 1].isalnum() or text[start - 1] in "_."):
        return None  # inside a longer word: not a token that starts here
    if kind == "discord":
        secret = match["discord_token"]
    elif kind == "postgres":
        secret = match["pg_password"]
        if secret == match["pg_user"] or _REFERENCE.fullmatch(secret):
            return None
    elif kind == "pem":
        secret = match["pem_body"][:64]
    else:
        secret = match[0]
    return None if is_dummy(secret) else Match(_RULE_OF[kind], secret, start)


def _value(text: str, start: int, unquoted_ok: bool) -> tuple[str, int] | None:
    """The value that starts at `start`: quoted (any file) or bare to the end of the line."""
    end_of_line = text.find("\n", start)
    line = text[start : len(text) if end_of_line < 0 else end_of_line].rstrip("\r")
    quoted = _QUOTED.match(line)
    if quoted:
        close = line.find(quoted[1], quoted.end())
        if "f" in quoted[0].lower() or close < 0:
            return None  # an f-string is built from references; no closing quote: not a value
        return line[quoted.end() : close], start + quoted.end()
    if not unquoted_ok:
        return None
    bare = re.split(r"\s+#|\s+//|\s*;\s*$", line, maxsplit=1)[0].rstrip(" \t,;")
    if not bare or any(c.isspace() for c in bare) or "(" in bare or _REFERENCE.fullmatch(bare):
        return None
    return bare, start


def _name_rule(name: str, value: str) -> str:
    upper = name.upper().replace("-", "_").replace(".", "_")
    if _BASE64_40.fullmatch(value):
        if "ALPACA" in upper or "APCA" in upper:
            return ALPACA_SECRET
        if "AWS" in upper or "SECRETACCESSKEY" in upper.replace("_", ""):
            return AWS_SECRET
    models = model_names()[0]
    if any(upper == m or upper.endswith("_" + m) for m in models):
        return MODEL
    return ASSIGNMENT


def _assignment(text: str, match: re.Match[str], unquoted_ok: bool) -> Match | None:
    start = match.start()
    before = text[start - 1] if start else ""
    kw = text[start : match.end("kw")]  # the match may be on the lower-cased text
    # A name's last part: `DB_PASSWORD`, `dbPassword`; never `jsonwebtoken` or `passwords`.
    if before.isalnum() and not (before.islower() and kw[0].isupper()):
        return None
    word = _WORD.search(text, max(0, start - 80), start)
    prefix = word[0] if word else ""
    opening = start - len(prefix) - 1
    if match["close"] and (opening < 0 or text[opening] not in _QUOTES):
        return None
    value_start = match.end()
    if match["op"] == ":" and (annotated := _ANNOTATION.match(text, value_start)):
        value_start = annotated.end()
    found = _value(text, value_start, unquoted_ok)
    if found is None or len(found[0]) < 6 or is_dummy(found[0]):
        return None
    return Match(_name_rule(prefix + kw, found[0]), found[0], found[1])


def detect(text: str, path: str) -> Iterator[Match]:
    """Every secret in a text, in order of position; nothing for an example file.

    Args:
        text: a file's text, or the added lines of one file joined with newlines.
        path: the file's path, for its kind (code needs quotes around a value).
    """
    if is_example_file(path):
        return
    tokens: list[Match] = []
    spans: list[tuple[int, int]] = []
    for match in TOKENS.finditer(text):
        token = _token(text, match)
        if token is not None:
            tokens.append(token)
            spans.append(match.span())
    dot = path.rfind(".")
    unquoted_ok = (path[dot:].lower() if dot > path.rfind("/") else "") not in _CODE
    found = list(tokens)
    ascii_text = text.isascii()  # then lower() keeps every offset
    names = names_pattern(not ascii_text).finditer(text.lower() if ascii_text else text)
    for match in names:
        assigned = _assignment(text, match, unquoted_ok)
        if assigned is not None and not any(a <= assigned.start < b for a, b in spans):
            found.append(assigned)
    found.sort(key=lambda m: m.start)
    yield from found


__all__ = ["RULES", "TOKENS", "Match", "detect", "is_dummy", "is_example_file", "model_names"]
