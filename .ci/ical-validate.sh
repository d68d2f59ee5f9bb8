#!/usr/bin/env bash
# Third-party checks of Circle's calendar feeds (issue 15), once per CI run against the
# demo clinic: the client's feed, a clinician's staff feed and a room's staff feed, each
# made through the pages as its owner would, parsed by PyPI icalendar and expanded by
# recurring-ical-events (both pinned by .ci/test-deps), with the privacy rules checked on
# what a calendar app would read: staff titles discreet by default, no join URL in a
# room's feed, every event in a known zone; and a revoked feed answers 404.
#
#   bash .ci/ical-validate.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
fail() { echo "ICAL VALIDATION FAILED: $*" >&2; exit 1; }

VENV="$ROOT/.ci/.venv-ical"    # ignored by .ci/.gitignore
"$VENV/bin/python" -c 'import icalendar, recurring_ical_events' 2>/dev/null \
  || fail "icalendar and recurring-ical-events are missing from $VENV: run bash .ci/test-deps"
PY="$VENV/bin/python"

WORK_PREFIX=ical
# shellcheck source=.ci/demo-server.sh
source "$ROOT/.ci/demo-server.sh"
sign_in_demo_roles client clinician intake

"$PY" - "$BASE" "$WORK" <<'PYEOF' || fail "a feed did not pass"
import datetime, json, re, sys, urllib.error, urllib.parse, urllib.request
import icalendar, recurring_ical_events

base, work = sys.argv[1], sys.argv[2]
token = {r: open(f"{work}/{r}.token").read().strip() for r in ("client", "clinician", "intake")}

class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None
opener = urllib.request.build_opener(NoRedirect)

def call(method, path, role=None, form=None, bearer=False):
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    if role and bearer:
        req.add_header("Authorization", "Bearer " + token[role])
    elif role:
        req.add_header("Cookie", "circle_session=" + token[role])
    try:
        with opener.open(req, timeout=60) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode(errors="replace")

def make_feed(role, page, action):
    s, _, html = call("GET", page, role)
    assert s == 200, f"{role} {page}: {s}"
    csrf = re.search(r'name="csrf" value="([^"]+)"', html).group(1)
    form = {"csrf": csrf}
    m = re.search(r'name="target" value="([^"]+)"', html)
    if m:
        form["target"] = m.group(1)
    s, _, html = call("POST", action, role, form)
    assert s == 200, f"{role} {action}: {s}"
    return re.search(r'(/(?:staff-)?feed/[A-Za-z0-9_-]{43}\.ics)', html).group(1), form

def check(name, path, staff, room):
    s, headers, text = call("GET", path)
    assert s == 200, f"{name}: {s}"
    ctype = {k.lower(): v for k, v in headers.items()}["content-type"]
    assert ctype.startswith("text/calendar"), f"{name}: {ctype}"
    cal = icalendar.Calendar.from_ical(text)
    errors = [(c.name, e) for c in cal.walk() for e in getattr(c, "errors", [])]
    assert not errors, f"{name}: parse errors {errors}"
    zones = {str(z["TZID"]) for z in cal.walk("VTIMEZONE")}
    events = cal.walk("VEVENT")
    assert events, f"{name}: no events"
    for e in events:
        start = e.decoded("DTSTART")
        assert isinstance(start, datetime.datetime) and start.tzinfo is not None, f"{name}: floating time"
        tzid = e["DTSTART"].params.get("TZID")
        assert tzid in zones, f"{name}: TZID {tzid} has no VTIMEZONE"
        assert e.decoded("DTEND") > start, f"{name}: ends before it starts"
        summary = str(e["SUMMARY"])
        if staff:
            assert summary.startswith("Group session — "), f"{name}: title not discreet: {summary!r}"
        if room:
            assert "URL" not in e, f"{name}: a join URL in a room's feed"
        if "URL" in e:
            assert str(e["URL"]).startswith("https://"), f"{name}: join URL not https"
    starts = sorted(e.decoded("DTSTART") for e in events)
    expanded = recurring_ical_events.of(cal).between(starts[0], starts[-1] + datetime.timedelta(days=1))
    assert len(expanded) == len(events), f"{name}: {len(expanded)} expanded vs {len(events)} events"
    uids = [str(e["UID"]) for e in events]
    assert len(set(uids)) == len(uids), f"{name}: duplicate UIDs"
    print(f"   {name}: {len(events)} events, {len(zones)} zone(s), clean")

s, _, rooms = call("GET", "/api/v1/rooms", "intake", bearer=True)
assert s == 200, f"rooms: {s}"
room_id = json.loads(rooms)["items"][0]["id"]

client_feed, _ = make_feed("client", "/me", "/me/feed")
check("client feed", client_feed, staff=False, room=False)
staff_feed, form = make_feed("clinician", "/calendar", "/calendar/feed")
check("clinician feed", staff_feed, staff=True, room=False)
room_feed, _ = make_feed("intake", f"/calendar?show=room:{room_id}", "/calendar/feed")
check("room feed", room_feed, staff=True, room=True)

# Revocation: the clinician switches the link off; it stops at once.
s, _, _ = call("POST", "/calendar/feed/revoke", "clinician", form)
assert s == 303, f"revoke: {s}"
s, _, _ = call("GET", staff_feed)
assert s == 404, f"a revoked feed answered {s}"
print("   revoked feed: 404")
PYEOF
echo "iCalendar feeds passed icalendar and recurring-ical-events"
