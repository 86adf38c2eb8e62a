"""Schedule specs of the catalog: the friendly language, its validation, its compiler, and preview.

This package is the one place a schedule's meaning is defined: the catalog validates with
`parse_schedules`, `apply` compiles with `ScheduleSpec.to_prefect`, and `preview` expands the
compiled schedules with the Prefect server's own expansion code, so it shows exactly the runs
the server creates.

Time rules:

- Wall-clock times (`daily`, `weekly`, `monthly`, `cron`, `once`, `start`, `end`) are in the
  schedule's zone. A time missing on a spring-forward day fires once, at the instant the offset
  before the change maps it to (02:30 in Europe/Berlin on the jump day fires at 03:30 CEST); a
  time that occurs twice fires once, at its first occurrence.
- A cron whose minute or hour field starts with `*` (`*/30 * * * *`, `0 */2 * * *`) counts
  elapsed time, as Vixie/Debian cron do: a time a spring-forward day skips does not run, and a
  time a fall-back repeats runs in both passes.
- `every` is elapsed time, anchored at `start`, or without one at the Unix epoch (so `every: 1h`
  fires on the UTC hour and re-applying never shifts it).
- `start` and `end` bound the runs' instants (both inclusive); `max_runs` keeps the first runs
  at or after `start`.

What lives where:

- `clock`: durations, times of day, weekdays, local date-times, timezones, and the time rule
  (a local wall time → its instant).
- `dst`: the zones' UTC-offset changes, as zoneinfo knows them and as dateutil reads them.
- `rrules`: a calendar spec as one bounded rrule set, its DST gaps corrected; the second passes
  of repeated hours of a cron counting elapsed time.
- `expansion`: expanding compiled schedules with the Prefect server's own code.
- `compile`: a spec → Prefect cron, rrule or interval schedules (`compile_spec`); it reads a spec
  through the `CompilableSpec` protocol, so it imports nothing of `spec`.
- `spec`: the spec models (`ScheduleSpec`, ...), parsing the friendly forms, validation messages.
- `preview`: the next runs of a spec, exactly as the server schedules them.

Imports: the modules above import each other in that order, without circles (a module imports
only those listed before it; import-linter checks it). The package may import
`tasklane.settings`, Prefect and `deployments.errors` (its "did you mean" hints), never
`tasklane.api`, `tasklane.cli`, other product packages, or the rest of `deployments`. Callers
import from `deployments.schedules`, which re-exports the names below.
"""

from deployments.schedules.clock import check_timezone, parse_duration, parse_local_datetime, parse_time
from deployments.schedules.compile import compile_spec
from deployments.schedules.expansion import server_dates
from deployments.schedules.preview import preview
from deployments.schedules.spec import (
    MonthlySpec,
    ScheduleSpec,
    WeeklySpec,
    parse_schedules,
    parse_spec_text,
)

# The name `deployments.api_ops` and `tasklane.tasks.lookup` import.
_server_dates = server_dates

__all__ = [
    "MonthlySpec",
    "ScheduleSpec",
    "WeeklySpec",
    "check_timezone",
    "compile_spec",
    "parse_duration",
    "parse_local_datetime",
    "parse_schedules",
    "parse_spec_text",
    "parse_time",
    "preview",
    "server_dates",
]
