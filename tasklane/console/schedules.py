"""The console's schedule builder: pick a schedule by clicking (every / daily / weekly / monthly /
cron / once, a timezone, start, end, max runs; several per task) and see its next runs as you go.

The builder is a partial (`_schedule_builder.html`) the task editor includes inside its form, and
a page of its own at /console/schedules. Its fields become specs in the catalog's shape
(`deployments.schedules.ScheduleSpec`); the catalog's validation judges them (its messages shown
next to the field they name); `deployments.schedules.preview`, what `tasklane preview` prints,
gives the runs. Nothing here computes a schedule: only the DST marks read the zone's offset
changes (`deployments.schedules.dst`) to say which runs fall on them. A preview changes nothing,
so any signed-in user may use it; its POST still carries the CSRF token, as every console POST.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import yaml
from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import ValidationError

from deployments.errors import problems_from_validation
from deployments.schedules import ScheduleSpec, parse_duration, preview
from deployments.schedules.clock import WEEKDAYS
from deployments.schedules.dst import year_gaps, year_repeats
from tasklane.console.pages import PREFIX, Page, SignedIn, check_csrf, read_form

router = APIRouter(include_in_schema=False)

KINDS = ("every", "daily", "weekly", "monthly", "cron", "once")
# Where a field's message shows: one slot per input group of a schedule (`kind`: the schedule as a whole).
SLOTS = ("kind", "every", "days", "monthdays", "at", "cron", "once", "timezone", "start", "end", "max_runs")
MONTHDAYS = (*(str(day) for day in range(1, 32)), "last")
UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
PREVIEW_COUNT = 10
FIELD = re.compile(r"^s(\d{1,3})\.(\w+)$")
# The browser's zone, where the console sets this cookie; the builder's own field comes first.
TZ_COOKIE = "tasklane_tz"


@functools.cache
def zone_names() -> tuple[str, ...]:
    return tuple(sorted(available_timezones() - {"localtime"}))


@dataclass
class Draft:
    """One schedule as the builder's fields hold it (text, as typed), `key` its field prefix `s<key>.`."""

    key: str
    kind: str = "daily"
    every_amount: str = "1"
    every_unit: str = "h"
    days: list[str] = field(default_factory=list)
    monthdays: list[str] = field(default_factory=list)
    at: list[str] = field(default_factory=list)
    cron: str = ""
    once: str = ""
    timezone: str = ""
    start: str = ""
    end: str = ""
    max_runs: str = ""

    def spec(self) -> dict[str, Any]:
        """The spec these fields make, in the catalog's shape (not yet validated)."""
        at = [time for time in self.at if time.strip()]
        kind = self.kind if self.kind in KINDS else "daily"
        body: dict[str, Any]
        if kind == "every":
            body = {"every": f"{self.every_amount.strip()}{self.every_unit}"}
        elif kind == "daily":
            body = {"daily": at}
        elif kind == "weekly":
            body = {"weekly": {"days": list(self.days), "at": at}}
        elif kind == "monthly":
            days = [int(day) if day.isdigit() else day for day in self.monthdays]
            body = {"monthly": {"days": days, "at": at}}
        elif kind == "cron":
            body = {"cron": " ".join(self.cron.split())}
        else:
            body = {"once": _local(self.once)}
        if self.timezone.strip():
            body["timezone"] = self.timezone.strip()
        if kind != "once":
            for name in ("start", "end"):
                if getattr(self, name).strip():
                    body[name] = _local(getattr(self, name))
            if self.max_runs.strip():
                text = self.max_runs.strip()
                body["max_runs"] = int(text) if text.isdigit() else text
        return body


def _local(text: str) -> str:
    """A datetime-local input's value ('2027-01-04T09:00') as the catalog writes it ('2027-01-04 09:00')."""
    return text.strip().replace("T", " ")


def _input_datetime(value: Any) -> str:
    """A spec's date-time as a datetime-local input's value."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M")
    return str(value).strip().replace(" ", "T") if value is not None else ""


def draft_from_spec(key: str, raw: Any, default_timezone: str) -> Draft:
    """The builder's fields for one spec of the catalog (any form it accepts); what cannot be
    read is left as written, for the preview to explain."""
    try:
        data: Any = ScheduleSpec.model_validate(raw).model_dump(mode="json", exclude_none=True)
    except ValidationError:
        data = raw  # e.g. a `once` now in the past: show it, the preview says what is wrong
    if not isinstance(data, dict):
        return Draft(key, kind="cron", cron=str(raw), timezone=default_timezone)
    draft = Draft(key, timezone=str(data.get("timezone") or ""))
    for name in ("start", "end"):
        setattr(draft, name, _input_datetime(data.get(name)))
    if data.get("max_runs") is not None:
        draft.max_runs = str(data["max_runs"])
    kind = next((kind for kind in KINDS if kind in data), "daily")
    draft.kind = kind
    value = data.get(kind)
    if kind == "every":
        draft.every_amount, draft.every_unit = _amount_and_unit(str(value))
    elif kind == "daily":
        draft.at = [str(time) for time in (value if isinstance(value, list) else [value])]
    elif kind in ("weekly", "monthly") and isinstance(value, dict):
        days = value.get("days") or []
        days = [str(day) for day in (days if isinstance(days, list) else [days])]
        if kind == "weekly":
            draft.days = days
        else:
            draft.monthdays = days
        times = value.get("at") or []
        draft.at = [str(time) for time in (times if isinstance(times, list) else [times])]
    elif kind == "cron":
        draft.cron = str(value)
    elif kind == "once":
        draft.once = _input_datetime(value)
    return draft


def _amount_and_unit(every: str) -> tuple[str, str]:
    """'1h30m' -> ('90', 'm'): the builder's number and the largest unit that divides the duration."""
    try:
        seconds = int(parse_duration(every).total_seconds())
    except ValueError:
        return every, "s"
    for unit, size in UNITS.items():
        if seconds and seconds % size == 0:
            return str(seconds // size), unit
    return str(seconds), "s"


def drafts_from_yaml(text: str, default_timezone: str) -> tuple[list[Draft], str | None]:
    """The drafts of the `schedule_spec` YAML text (a list of specs, or one); and a message if it is
    not YAML."""
    try:
        raw = yaml.safe_load(text) if text.strip() else []
    except yaml.YAMLError as exc:
        return [], f"schedule_spec is not YAML: {exc}"
    items = raw if isinstance(raw, list) else [raw] if raw is not None else []
    return [draft_from_spec(str(index), item, default_timezone) for index, item in enumerate(items)], None


def drafts_from_form(fields: dict[str, list[str]]) -> list[Draft]:
    """The drafts of the builder's posted fields (`s<key>.<name>`), in the order of their keys."""
    by_key: dict[int, dict[str, list[str]]] = {}
    for name, values in fields.items():
        match = FIELD.match(name)
        if match:
            by_key.setdefault(int(match[1]), {})[match[2]] = values
    drafts = []
    for key in sorted(by_key):
        values = by_key[key]

        def one(name: str, default: str = "", values: dict[str, list[str]] = values) -> str:
            return (values.get(name) or [default])[0]

        drafts.append(
            Draft(
                str(key),
                kind=one("kind", "daily"),
                every_amount=one("every_amount"),
                every_unit=one("every_unit", "h") if one("every_unit", "h") in UNITS else "h",
                days=[day for day in values.get("days", []) if day],
                monthdays=[day for day in values.get("monthdays", []) if day],
                at=list(values.get("at", [])),
                cron=one("cron"),
                once=one("once"),
                timezone=one("timezone"),
                start=one("start"),
                end=one("end"),
                max_runs=one("max_runs"),
            )
        )
    return drafts


@dataclass
class Mark:
    """A note on a run: `kind` names its text (`schedules.mark.<kind>`), `values` fill it in."""

    kind: str
    values: dict[str, str]


@dataclass
class PreviewRun:
    schedule: int  # its schedule's number, from 1
    utc_iso: str
    utc: str
    local: str  # in the schedule's zone
    viewer: str  # in the viewer's zone
    marks: list[Mark]


@dataclass
class Builder:
    """What the builder's templates show (as `schedule_builder`)."""

    drafts: list[Draft]
    blank: Draft
    default_timezone: str
    viewer_timezone: str
    after_text: str
    errors: dict[tuple[str, str], str] = field(default_factory=dict)
    runs: list[PreviewRun] = field(default_factory=list)
    yaml: str = ""
    crons: list[tuple[int, str, str]] = field(default_factory=list)
    oob: bool = False
    notice: str = ""  # the given schedule_spec was not YAML
    kinds: tuple[str, ...] = KINDS
    weekdays: tuple[str, ...] = WEEKDAYS
    monthdays: tuple[str, ...] = MONTHDAYS

    @property
    def zones(self) -> tuple[str, ...]:
        return zone_names()

    @property
    def invalid(self) -> bool:
        return bool(self.errors)

    @property
    def slots(self) -> list[tuple[str, str]]:
        return [(draft.key, slot) for draft in self.drafts for slot in SLOTS]


def slot_of(field_path: str | None) -> str:
    """The builder's slot for a field the catalog's validation names ('weekly.days' -> 'days')."""
    parts = (field_path or "").split(".")
    head = parts[0]
    tail = parts[1] if len(parts) > 1 else ""
    if head in ("weekly", "monthly"):
        if tail == "at":
            return "at"
        return "days" if head == "weekly" else "monthdays"
    if head == "daily":
        return "at"
    return head if head in SLOTS else "kind"


def _offset(value: timedelta | None) -> str:
    seconds = int((value or timedelta(0)).total_seconds())
    sign = "+" if seconds >= 0 else "-"
    hours, rest = divmod(abs(seconds), 3600)
    return f"{sign}{hours:02d}:{rest // 60:02d}"


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def dst_marks(spec: ScheduleSpec, runs: list[datetime], zone: str) -> list[list[Mark]]:
    """For each run (in the schedule's zone, in order), what DST does to it: the UTC offset
    changed since the run before; a wall time the spring-forward skips, run at another (the time
    rule); a wall time the fall-back repeats, run at its first or second occurrence; the times a
    cron counting elapsed time loses in a gap."""
    wall_times: set[int] = set()
    if spec.every is None and spec.once is None:
        wall_times = {time for clause in spec.clauses() for time in clause.times}
    marks: list[list[Mark]] = []
    previous: datetime | None = None
    for run in runs:
        found: list[Mark] = []
        offset = run.utcoffset()
        if previous is not None and previous.utcoffset() != offset:
            found.append(Mark("shift", {"before": _offset(previous.utcoffset()), "after": _offset(offset)}))
        seconds = run.hour * 3600 + run.minute * 60 + run.second
        for gap in year_gaps(zone, run.year):
            if gap.day != run.date():
                continue
            nominal = seconds - gap.shift
            moved = gap.end <= seconds < gap.end + gap.shift and gap.begin <= nominal < gap.end
            if moved and nominal in wall_times and not spec.counts_elapsed_time:
                found.append(Mark("skipped", {"time": _clock(nominal), "at": _clock(seconds)}))
            elif (
                spec.counts_elapsed_time
                and seconds >= gap.end
                and (previous is None or previous.date() != run.date() or _seconds(previous) < gap.begin)
            ):
                found.append(Mark("gap", {"begin": _clock(gap.begin), "end": _clock(gap.end)}))
        for repeat in year_repeats(zone, run.year):
            if repeat.day == run.date() and repeat.begin <= seconds < repeat.end and spec.every is None:
                second = offset is not None and int(offset.total_seconds()) == repeat.offset
                kind = "repeated_second" if second else "repeated_first"
                found.append(Mark(kind, {"time": _clock(seconds)}))
        marks.append(found)
        previous = run
    return marks


def _seconds(moment: datetime) -> int:
    return moment.hour * 3600 + moment.minute * 60 + moment.second


def _when(moment: datetime, page: Page) -> str:
    day = page.t(f"schedules.day.{WEEKDAYS[moment.weekday()]}")
    return f"{moment.strftime('%Y-%m-%d')} {day} {moment.strftime('%H:%M')} {moment.strftime('%Z')}".strip()


def _spec_yaml(specs: list[Any]) -> str:
    if not specs:
        return ""
    return yaml.safe_dump(specs, sort_keys=False, allow_unicode=True, default_flow_style=None)


def build(
    page: Page, drafts: list[Draft], *, viewer_timezone: str, after_text: str = "", oob: bool = False
) -> Builder:
    """Validate the drafts with the catalog's rules and, if all pass, preview their next runs
    (merged and sorted as `tasklane preview` does)."""
    default_timezone = page.target.timezone or "UTC"
    builder = Builder(
        drafts=drafts,
        blank=Draft("__I__", kind="daily", at=["09:00"], timezone=default_timezone),
        default_timezone=default_timezone,
        viewer_timezone=viewer_timezone,
        after_text=after_text,
        oob=oob,
    )
    now = datetime.now(UTC)
    try:
        after = datetime.fromisoformat(after_text.strip()) if after_text.strip() else now
    except ValueError:
        after = now
    specs: list[tuple[int, ScheduleSpec]] = []
    written: list[Any] = []
    for number, draft in enumerate(drafts, 1):
        raw = draft.spec()
        try:
            context = {"now": now, "default_timezone": default_timezone}
            spec = ScheduleSpec.model_validate(raw, context=context)
        except ValidationError as exc:
            for problem in problems_from_validation(exc, "schedule", None, found="never"):
                slot = (draft.key, slot_of(problem.field))
                builder.errors[slot] = " ".join(filter(None, [builder.errors.get(slot), problem.message]))
            written.append(raw)
            continue
        specs.append((number, spec))
        written.append(spec.model_dump(mode="json", exclude_none=True))
    builder.yaml = _spec_yaml(written)
    if builder.errors:
        return builder
    viewer = ZoneInfo(viewer_timezone)
    found: dict[datetime, tuple[int, datetime, list[Mark]]] = {}
    for number, spec in specs:
        zone = spec.zone(default_timezone)
        runs = preview(spec, PREVIEW_COUNT, after=after, default_timezone=default_timezone)
        for run, marks in zip(runs, dst_marks(spec, runs, zone), strict=True):
            found.setdefault(run.astimezone(UTC), (number, run, marks))
        moment = (after if after.tzinfo else after.replace(tzinfo=ZoneInfo(zone))).astimezone(UTC)
        for compiled in spec.to_prefect(default_timezone, active=True, now=moment):
            cron = getattr(compiled.schedule, "cron", None)
            if cron:
                builder.crons.append((number, cron, compiled.schedule.timezone or zone))
    for utc in sorted(found)[:PREVIEW_COUNT]:
        number, local, marks = found[utc]
        builder.runs.append(
            PreviewRun(
                schedule=number,
                utc_iso=utc.isoformat(),
                utc=utc.strftime("%Y-%m-%d %H:%M"),
                local=_when(local, page),
                viewer=_when(utc.astimezone(viewer), page),
                marks=marks,
            )
        )
    return builder


def viewer_zone(page: Page, sent: str) -> str:
    """The viewer's zone: the one the builder's script sent, else the `tasklane_tz` cookie, else
    the project's."""
    for name in (sent, page.request.cookies.get(TZ_COOKIE, "")):
        if name and name in zone_names():
            try:
                ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
            return name
    return page.zone().key


async def previewing(current: SignedIn) -> tuple[Page, dict[str, list[str]]]:
    """A builder POST: signed in (any role: it changes nothing), with the page's CSRF token; its fields."""
    check_csrf(current, await read_form(current.request))
    body = (await current.request.body()).decode("utf-8", "replace")
    return current, parse_qs(body, keep_blank_values=True)


Previewing = Annotated[tuple[Page, dict[str, list[str]]], Depends(previewing)]


def _first(fields: dict[str, list[str]], name: str) -> str:
    return (fields.get(name) or [""])[0]


@router.get(PREFIX + "/schedules")
async def schedules_page(current: SignedIn, schedule_spec: str = "") -> Response:
    default_timezone = current.target.timezone or "UTC"
    drafts, problem = drafts_from_yaml(schedule_spec, default_timezone)
    if not drafts and problem is None:
        drafts = [Draft("0", kind="daily", at=["09:00"], timezone=default_timezone)]
    builder = build(current, drafts, viewer_timezone=viewer_zone(current, ""))
    builder.notice = problem or ""
    return current.render("schedule_builder.html", schedule_builder=builder, schedule_spec=builder.yaml)


@router.post(PREFIX + "/schedules/fields")
async def schedule_fields(posted: Previewing) -> Response:
    """The builder's fields for `schedule_spec` (the editor's partial loads them so)."""
    current, fields = posted
    drafts, problem = drafts_from_yaml(_first(fields, "schedule_spec"), current.target.timezone or "UTC")
    builder = build(current, drafts, viewer_timezone=viewer_zone(current, _first(fields, "sb.viewer_tz")))
    builder.notice = problem or ""
    return current.render("_schedule_builder_fields.html", schedule_builder=builder)


@router.post(PREFIX + "/schedules/preview")
async def schedule_preview(posted: Previewing) -> Response:
    """The preview of the builder's fields; with it, out of band, the hidden `schedule_spec` and
    each field's message."""
    current, fields = posted
    builder = build(
        current,
        drafts_from_form(fields),
        viewer_timezone=viewer_zone(current, _first(fields, "sb.viewer_tz")),
        after_text=_first(fields, "sb.from"),
        oob=True,
    )
    return current.render("_schedule_builder_preview.html", schedule_builder=builder)
