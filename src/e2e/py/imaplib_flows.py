#!/usr/bin/env python3
"""Drive postern with Python's imaplib, as a user's script would.

Usage: imaplib_flows.py FLOW HOST PORT TLSPORT USER PASSWORD

Each flow prints one JSON object on stdout and exits 0, or prints a traceback and exits 1.
imaplib's own protocol trace goes to stderr when POSTERN_TRACE is set.
"""

import imaplib
import json
import os
import re
import ssl
import sys
import time


def context():
    # The test server has a fresh self-signed certificate.
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def check(typ, data, what):
    if typ != "OK":
        raise SystemExit(f"{what}: {typ} {data!r}")
    return data


def starttls(host, port, user, password):
    m = imaplib.IMAP4(host, port, timeout=10)
    if os.environ.get("POSTERN_TRACE"):
        m.debug = 4
    caps_before = list(m.capabilities)
    check(*m.starttls(ssl_context=context()), "STARTTLS")
    caps_after = list(m.capabilities)
    check(*m.login(user, password), "LOGIN")
    return m, caps_before, caps_after


def implicit(host, port, user, password):
    m = imaplib.IMAP4_SSL(host, port, ssl_context=context(), timeout=10)
    if os.environ.get("POSTERN_TRACE"):
        m.debug = 4
    check(*m.login(user, password), "LOGIN")
    return m


LIST_RE = re.compile(rb'^\((?P<attrs>[^)]*)\) (?:"(?P<delim>[^"]*)"|NIL) (?P<name>.+)$')


def parse_list(data):
    out = []
    for item in data:
        if item is None:
            continue
        if isinstance(item, tuple):  # name sent as a literal
            head, lit = item
            mm = LIST_RE.match(head.rsplit(b" ", 1)[0] + b' "x"')
            out.append({"attrs": mm.group("attrs").decode().split(), "name": lit.decode()})
            continue
        mm = LIST_RE.match(item)
        name = mm.group("name")
        if name.startswith(b'"'):
            name = name[1:-1].replace(b'\\"', b'"').replace(b"\\\\", b"\\")
        out.append({"attrs": mm.group("attrs").decode().split(), "name": name.decode()})
    return out


def flow_login_starttls(host, port, tlsport, user, password):
    m, before, after = starttls(host, port, user, password)
    check(*m.noop(), "NOOP")
    m.logout()
    return {"caps_before": before, "caps_after": after, "state": "done"}


def flow_login_implicit(host, port, tlsport, user, password):
    m = implicit(host, tlsport, user, password)
    check(*m.noop(), "NOOP")
    caps = list(m.capabilities)
    m.logout()
    return {"caps": caps, "state": "done"}


def flow_mailboxes(host, port, tlsport, user, password):
    m, _, _ = starttls(host, port, user, password)
    initial = parse_list(check(*m.list(), "LIST"))
    check(*m.create("py/child"), "CREATE")
    created = parse_list(check(*m.list('""', "py*"), "LIST py*"))
    check(*m.rename("py", "py-renamed"), "RENAME")
    renamed = parse_list(check(*m.list('""', "py*"), "LIST py*"))
    check(*m.delete("py-renamed/child"), "DELETE")
    deleted = parse_list(check(*m.list('""', "py*"), "LIST py*"))
    typ, data = m.create("INBOX")
    m.logout()
    return {
        "initial": initial,
        "created": sorted(x["name"] for x in created),
        "renamed": sorted(x["name"] for x in renamed),
        "deleted": sorted(x["name"] for x in deleted),
        "create_inbox": [typ, data[0].decode() if data and data[0] else None],
    }


def flow_append_status(host, port, tlsport, user, password):
    m = implicit(host, tlsport, user, password)
    check(*m.create("py-append"), "CREATE")
    msg = b"From: py@example.org\r\nSubject: from imaplib\r\n\r\nHello from Python.\r\n"
    typ, data = m.append("py-append", r"(\Seen)", imaplib.Time2Internaldate(time.time()), msg)
    check(typ, data, "APPEND 1")
    appenduid = data[0].decode()
    check(*m.append("py-append", None, None, msg), "APPEND 2")
    typ, data = m.status("py-append", "(MESSAGES UNSEEN UIDNEXT)")
    check(typ, data, "STATUS")
    m.logout()
    return {"appended": appenduid, "status": data[0].decode()}


def flow_idle(host, port, tlsport, user, password):
    watcher, _, _ = starttls(host, port, user, password)
    typ, data = watcher.select("INBOX")
    check(typ, data, "SELECT")
    before = int(data[0])
    # imaplib (3.11) has no IDLE: send it raw and read lines ourselves.
    tag = watcher._new_tag()
    watcher.send(tag + b" IDLE\r\n")
    cont = watcher.readline()
    if not cont.startswith(b"+"):
        raise SystemExit(f"IDLE: expected +, got {cont!r}")
    writer = implicit(host, tlsport, user, password)
    check(*writer.append("INBOX", None, None, b"Subject: wake\r\n\r\nup\r\n"), "APPEND")
    watcher.sock.settimeout(5)
    seen = []
    exists = None
    while exists is None:
        line = watcher.readline()
        if not line:
            raise SystemExit(f"IDLE: connection closed; got {seen!r}")
        seen.append(line.decode(errors="replace").rstrip())
        mm = re.match(rb"^\* (\d+) EXISTS", line)
        if mm:
            exists = int(mm.group(1))
    watcher.send(b"DONE\r\n")
    while True:
        line = watcher.readline()
        seen.append(line.decode(errors="replace").rstrip())
        if line.startswith(tag + b" "):
            done = line.decode().rstrip()
            break
    check(*watcher.noop(), "NOOP after IDLE")
    watcher.logout()
    writer.logout()
    return {"before": before, "exists": exists, "done": done, "seen": seen}


FLOWS = {
    "login-starttls": flow_login_starttls,
    "login-implicit": flow_login_implicit,
    "mailboxes": flow_mailboxes,
    "append-status": flow_append_status,
    "idle": flow_idle,
}

if __name__ == "__main__":
    flow, host, port, tlsport, user, password = sys.argv[1:7]
    result = FLOWS[flow](host, int(port), int(tlsport), user, password)
    print(json.dumps(result))
