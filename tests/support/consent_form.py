"""The consent page read the way a browser reads it: the form's action and its fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin

import requests


@dataclass
class Form:
    action: str
    method: str
    fields: list[tuple[str, str]] = field(default_factory=list)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            # No action means "this document's URL", query string included.
            self.forms.append(Form(values.get("action", ""), values.get("method", "get")))
        elif tag == "input" and self.forms and values.get("type") == "hidden":
            self.forms[-1].fields.append((values["name"], values.get("value", "")))


def consent_form(page: requests.Response) -> Form:
    parser = _FormParser()
    parser.feed(page.text)
    [form] = parser.forms
    form.action = urljoin(page.url, form.action) if form.action else page.url
    return form


def submit(session: requests.Session, page: requests.Response, **typed: str) -> requests.Response:
    """Post the page's form as a browser would: its action, its hidden fields, and what
    the user typed or clicked (``admin_password=…, decision=…``)."""
    form = consent_form(page)
    assert form.method.lower() == "post"
    return session.post(form.action, data=form.fields + list(typed.items()), timeout=10,
                        allow_redirects=False)
