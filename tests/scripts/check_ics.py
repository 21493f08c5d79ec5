#!/usr/bin/env python3
"""Check Casebook calendar exports with a real iCalendar parser (the `icalendar` package).

Usage: check_ics.py FIRST.ics [LATER.ics ...]

Each file must parse and follow RFC 5545 as Casebook writes it: CRLF line endings, physical lines of at most
75 octets, one VCALENDAR (VERSION 2.0, PRODID) whose VEVENTs each have UID, DTSTAMP, DTSTART, SUMMARY,
SEQUENCE and STATUS (CONFIRMED or CANCELLED), UIDs unique within the file.

Each later file is an export of the same case after edits, as a calendar app would re-import it: no UID of
an earlier file may disappear (an entry that no longer applies stays, CANCELLED), a SEQUENCE never goes down,
and an event that changed (start, end, title, place, description, status) has a higher SEQUENCE.

Prints, as JSON, for each file in order, {uid: {summary, sequence, status, start, end, location,
description}} with dates as ISO 8601 text (a UTC time ends in +00:00, an all-day date has no time).
Exits with status 1 and a message on standard error at the first problem; status 2 when icalendar is missing.
"""

import json
import sys

try:
    import icalendar
except ImportError:
    sys.stderr.write("the Python package icalendar is missing: python3 -m pip install --quiet icalendar\n")
    sys.exit(2)


def fail(message):
    sys.stderr.write(f"check_ics: {message}\n")
    sys.exit(1)


def when(event, name):
    if name not in event:
        return None
    return event.decoded(name).isoformat()


def text(event, name):
    return str(event[name]) if name in event else None


def read(path):
    raw = open(path, "rb").read()
    if not raw.endswith(b"\r\n"):
        fail(f"{path}: does not end with CRLF")
    lines = raw[:-2].split(b"\r\n")
    for n, line in enumerate(lines, 1):
        if b"\n" in line or b"\r" in line:
            fail(f"{path}:{n}: a line ending that is not CRLF")
        if len(line) > 75:
            fail(f"{path}:{n}: {len(line)} octets (at most 75)")
        line.decode("utf-8")  # raises on a character split by the folding
    try:
        cal = icalendar.Calendar.from_ical(raw)
    except Exception as e:  # noqa: BLE001 - any parse error is a failure of the export
        fail(f"{path}: icalendar cannot parse it: {e}")
    if str(cal.get("VERSION")) != "2.0" or not cal.get("PRODID"):
        fail(f"{path}: VERSION 2.0 and PRODID are required")
    events = {}
    for ev in cal.walk("VEVENT"):
        for prop in ("UID", "DTSTAMP", "DTSTART", "SUMMARY", "SEQUENCE", "STATUS"):
            if prop not in ev:
                fail(f"{path}: an event without {prop}: {ev.to_ical()!r}")
        uid = str(ev["UID"])
        if uid in events:
            fail(f"{path}: UID {uid} twice")
        status = str(ev["STATUS"])
        if status not in ("CONFIRMED", "CANCELLED"):
            fail(f"{path}: {uid}: STATUS {status}")
        events[uid] = {
            "summary": text(ev, "SUMMARY"),
            "sequence": int(ev.decoded("SEQUENCE")),
            "status": status,
            "start": when(ev, "DTSTART"),
            "end": when(ev, "DTEND"),
            "location": text(ev, "LOCATION"),
            "description": text(ev, "DESCRIPTION"),
        }
    return events


def main(paths):
    if not paths:
        fail("usage: check_ics.py FIRST.ics [LATER.ics ...]")
    files = [read(p) for p in paths]
    for (before_path, before), (after_path, after) in zip(zip(paths, files), zip(paths[1:], files[1:])):
        for uid, old in before.items():
            new = after.get(uid)
            if new is None:
                fail(f"{after_path}: {uid} of {before_path} is gone (it should stay, CANCELLED)")
            if new["sequence"] < old["sequence"]:
                fail(f"{after_path}: {uid}: SEQUENCE went down ({old['sequence']} -> {new['sequence']})")
            changed = [k for k in old if k != "sequence" and old[k] != new[k]]
            if changed and new["sequence"] <= old["sequence"]:
                fail(f"{after_path}: {uid}: {', '.join(changed)} changed but SEQUENCE stayed {new['sequence']}")
    json.dump(files, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
