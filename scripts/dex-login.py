#!/usr/bin/env python3
"""Plays the person at the browser for the sandbox's Dex: opens URL, logs in with Dex's password
form as EMAIL/PASSWORD, confirms a device code if asked, and follows redirects to the end
(for the browser flow, kubectl jit's loopback callback). Used by `make demo`; the tests use the
Rust equivalent in crates/e2e/src/browser.rs.

    dex-login.py URL EMAIL PASSWORD CA_FILE
"""
import html
import re
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request

url, email, password, ca = sys.argv[1:5]
tls = ssl.create_default_context(cafile=ca)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=tls), NoRedirect)


def fetch(method, target, form=None):
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    req = urllib.request.Request(target, data=data, method=method, headers={"Accept": "text/html"})
    try:
        with opener.open(req, timeout=20) as resp:
            return resp.status, resp.headers, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode("utf-8", "replace")


def first_form(page):
    m = re.search(r"<form[^>]*>(.*?)</form>", page, re.S)
    if not m:
        return None, {}
    tag = re.search(r"<form([^>]*)>", page).group(1)
    action = html.unescape((re.search(r'action="([^"]*)"', tag) or [None, ""])[1])
    fields = {}
    for inp in re.finditer(r"<input([^>]*)>", m.group(1)):
        name = re.search(r'name="([^"]*)"', inp.group(1))
        value = re.search(r'value="([^"]*)"', inp.group(1))
        if name and (name.group(1) not in fields or not fields[name.group(1)]):
            fields[name.group(1)] = html.unescape(value.group(1)) if value else ""
    return action, fields


method, form = "GET", None
for _ in range(20):
    status, headers, page = fetch(method, url, form)
    method, form = "GET", None
    if 300 <= status < 400:
        url = urllib.parse.urljoin(url, headers["Location"])
        continue
    if status != 200:
        sys.exit(f"dex-login: {url} answered {status}: {page[:300]}")
    action, fields = first_form(page)
    if "password" in fields:
        fields.update(login=email, password=password)
    elif "user_code" not in fields:
        break  # the last page: "Login Successful" or the CLI's callback page
    method, form, url = "POST", fields, urllib.parse.urljoin(url, action)
else:
    sys.exit(f"dex-login: more than 20 steps, stuck at {url}")
