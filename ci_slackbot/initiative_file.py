"""The initiative file: its schema, and errors that name the field to fix."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ci_slackbot.domain import pasted_ids
from ci_slackbot.domain.measurement import Direction, Rollup
from ci_slackbot.domain.periods import Frequency, Period, PeriodError, parse_period_for
from ci_slackbot.domain.schedule import ScheduleError, parse_schedule
from ci_slackbot.domain.windows import MAX_LAG_DAYS

KEY_PATTERN = r"^[a-z0-9][a-z0-9_\-]*$"
# The longest text each field may have: what the database's column holds (store/models.py; a test
# holds the two together). Past it PostgreSQL refuses the row and `init` failed with a traceback;
# said here, the problem names the field.
MAX_KEY = 64
MAX_NAME = 200  # an initiative's or an organization's
MAX_TITLE = 300  # a goal's title, an indicator's name
MAX_SHORT_TEXT = 100  # a unit, a sector, an equity lens, a schedule
MAX_SLACK_ID = 32  # a user, user group, channel or team ID


class InitiativeFileError(ValueError):
    """The file cannot be used; `problems` lists `field.path: what is wrong`."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class InitiativeSection(_Strict):
    name: str = Field(min_length=1, max_length=MAX_NAME)
    timezone: str = "UTC"
    backbone: str
    vision: str = ""
    problem: str = ""
    team_id: str | None = Field(default=None, max_length=MAX_SLACK_ID)
    partner_workspaces: list[Annotated[str, Field(max_length=MAX_SLACK_ID)]] = Field(
        default=[],
        description=(
            "team IDs (T0123ABCD) of partner organizations' own Slack workspaces, met in Slack Connect "
            "channels: where the app is installed (OAuth), their people act as members of their "
            "organizations (membership stays by Slack user ID); a workspace named by no initiative sees "
            "nothing of it. A workspace belongs to one initiative only"
        ),
    )

    @field_validator("team_id")
    @classmethod
    def _team_id(cls, team: str | None) -> str | None:
        return check_team_id(team) if team is not None else None

    @field_validator("partner_workspaces")
    @classmethod
    def _team_ids(cls, teams: list[str]) -> list[str]:
        seen: set[str] = set()
        for team in teams:
            check_team_id(team)
            if team in seen:
                raise ValueError(f"`{team}` is named twice")
            seen.add(team)
        return teams

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"`{value}` is not a time zone: use an IANA name like America/Chicago") from None
        return value


class GoalSection(_Strict):
    key: str = Field(min_length=1, max_length=MAX_KEY)
    title: str = Field(min_length=1, max_length=MAX_TITLE)
    description: str = ""
    strategies: list[str] = []


class ActivitySection(_Strict):
    goal: str
    text: str = Field(min_length=1)
    strategy: int | None = Field(default=None, description="1-based position of the goal's strategy")


class OrganizationSection(_Strict):
    key: str = Field(pattern=KEY_PATTERN, max_length=MAX_KEY)
    name: str = Field(min_length=1, max_length=MAX_NAME)
    sector: str = Field(default="", max_length=MAX_SHORT_TEXT)
    members: list[Annotated[str, Field(max_length=MAX_SLACK_ID)]] = []
    backup: str | None = Field(
        default=None,
        max_length=MAX_SLACK_ID,
        description="Slack user ID asked to report when the members have not by the due date",
    )
    activities: list[ActivitySection] = []
    usergroup: str | None = Field(
        default=None,
        max_length=MAX_SLACK_ID,
        description=(
            "ID of a Slack user group (S0123ABCD; usergroups.list names it beside its @handle) whose "
            "members the organization's members follow: the app keeps them in step, hourly"
        ),
    )

    @field_validator("usergroup")
    @classmethod
    def _usergroup_id(cls, usergroup: str | None) -> str | None:
        if usergroup is not None and (not usergroup.startswith("S") or not usergroup.isalnum() or len(usergroup) < 3):
            raise ValueError(
                f"`{usergroup}` is not a Slack user group ID: they look like S0123ABCD "
                "(the group's @handle will not do: Slack's usergroups.list gives its ID)"
            )
        return usergroup

    @field_validator("members")
    @classmethod
    def _slack_ids(cls, members: list[str]) -> list[str]:
        for member in members:
            _check_slack_id(member)
        return members

    @field_validator("backup")
    @classmethod
    def _backup_id(cls, backup: str | None) -> str | None:
        return _check_slack_id(backup) if backup is not None else None


def check_team_id(value: str) -> str:
    """A Slack team (workspace) ID, as Slack writes them: T, then capitals and digits."""
    if len(value) < 3 or not value.startswith("T") or not value.isalnum() or not value.isupper():
        raise ValueError(f"`{value}` is not a Slack team ID: they look like T0123ABCD")
    return value


def _check_slack_id(value: str) -> str:
    if not value or value[0] not in "UW" or not value.isalnum():
        raise ValueError(f"`{value}` is not a Slack user ID: they look like U0123ABCD")
    return value


class PointSection(_Strict):
    period: str
    value: float

    @field_validator("period", mode="before")
    @classmethod
    def _year_as_text(cls, value: Any) -> Any:
        # YAML reads a bare `2026` as a number; a yearly period is still a period.
        return str(value) if isinstance(value, int) else value


class IndicatorSection(_Strict):
    key: str = Field(pattern=KEY_PATTERN, max_length=MAX_KEY)
    name: str = Field(min_length=1, max_length=MAX_TITLE)
    goal: str
    unit: str = Field(default="", max_length=MAX_SHORT_TEXT)
    direction: str
    frequency: str
    min: float | None = None
    max: float | None = None
    baseline: PointSection | None = None
    target: PointSection | None = None
    reporters: list[str] = Field(min_length=1)
    breakdowns: list[str] = []
    source: str = ""
    small_number_threshold: float | None = Field(
        default=None, description="breakdown values below this are hidden from channel posts"
    )
    headline: bool = True
    rollup: str | None = Field(
        default=None,
        description=(
            "how partners' values combine: sum, rate (weighted by denominators), owner or none; "
            "left out: rate for %, per-N and rate units, sum for counts"
        ),
    )
    owner: str | None = Field(default=None, description="with `rollup: owner`, the organization whose value counts")
    due_after_days: int | None = Field(
        default=None,
        ge=0,
        le=MAX_LAG_DAYS,
        description="days after a period ends that its report is due; default: the initiative's for the frequency",
    )
    equity_lens: str | None = Field(
        default=None,
        max_length=MAX_SHORT_TEXT,
        description="the breakdown whose groups' gap is pointed out; default: the first breakdown",
    )
    group_targets: dict[str, float] = Field(
        default={}, description="targets per group of the equity lens, e.g. `{zip=75216: 10}`; others: `target`"
    )

    @field_validator("group_targets", mode="before")
    @classmethod
    def _group_keys_as_text(cls, value: Any) -> Any:
        # YAML reads `{zip=75216: 10}` as text keys, but a bare `{75216: 10}` as a number: say how to write it.
        if isinstance(value, dict):
            for key in value:
                if not isinstance(key, str):
                    raise ValueError(f"`{key}` needs its breakdown: write it as `<breakdown>={key}`, e.g. `zip={key}`")
        return value

    @field_validator("rollup")
    @classmethod
    def _rollup(cls, value: str | None) -> str | None:
        allowed = [r.value for r in Rollup]
        if value is not None and value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return value

    @field_validator("frequency")
    @classmethod
    def _frequency(cls, value: str) -> str:
        allowed = [f.value for f in Frequency]
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return value

    @field_validator("direction")
    @classmethod
    def _direction(cls, value: str) -> str:
        allowed = [d.value for d in Direction]
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> IndicatorSection:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must not be above max")
        return self


class ChannelsSection(_Strict):
    digest: str | None = Field(default=None, max_length=MAX_SLACK_ID)
    decisions: str | None = Field(default=None, max_length=MAX_SLACK_ID)


class ScheduleSection(_Strict):
    digest: str = Field(default="mon 09:00", max_length=MAX_SHORT_TEXT)
    reminders: str = Field(default="thu 10:00", max_length=MAX_SHORT_TEXT)

    @field_validator("digest", "reminders")
    @classmethod
    def _parses(cls, value: str) -> str:
        try:
            parse_schedule(value)
        except ScheduleError as exc:
            raise ValueError(str(exc)) from None
        return value


class DueAfterSection(_Strict):
    """Days after a period ends that its report is due, per frequency (domain.windows.DEFAULT_LAG_DAYS)."""

    weekly: int | None = Field(default=None, ge=0, le=MAX_LAG_DAYS)
    monthly: int | None = Field(default=None, ge=0, le=MAX_LAG_DAYS)
    quarterly: int | None = Field(default=None, ge=0, le=MAX_LAG_DAYS)
    yearly: int | None = Field(default=None, ge=0, le=MAX_LAG_DAYS)

    def given(self) -> dict[str, int]:
        """Only the frequencies the file sets; the others keep the defaults."""
        return {name: value for name, value in self.model_dump().items() if value is not None}


class NudgesSection(_Strict):
    """Which reminders each reporting window brings; `null` (or `false` for `opening`) turns one off."""

    opening: bool = True
    days_before_due: int | None = Field(default=3, ge=0, le=MAX_LAG_DAYS)
    days_after_due: int | None = Field(default=1, ge=1, le=MAX_LAG_DAYS)


class ReportingSection(_Strict):
    due_after_days: DueAfterSection = DueAfterSection()
    nudges: NudgesSection = NudgesSection()


class NotionSection(_Strict):
    """Each a page's or database's id, or the link to it as Notion's "Copy link" gives it: kept as the id."""

    agenda_page: str | None = None
    decisions_database: str | None = None
    actions_database: str | None = None
    systems_changes_database: str | None = None
    # Stories from the community shared with consent; leave out to keep them out of Notion.
    community_voice_database: str | None = None

    @field_validator("*")
    @classmethod
    def _id_of_link(cls, value: str | None) -> str | None:
        try:
            return pasted_ids.notion_id(value)
        except pasted_ids.PastedIdError as exc:
            raise ValueError(str(exc)) from None


class SheetsSection(_Strict):
    spreadsheet_id: str = Field(description="the spreadsheet's id, or its link: kept as the id")

    @field_validator("spreadsheet_id")
    @classmethod
    def _id_of_link(cls, value: str) -> str:
        try:
            found = pasted_ids.spreadsheet_id(value)
        except pasted_ids.PastedIdError as exc:
            raise ValueError(str(exc)) from None
        if found is None:
            raise ValueError(pasted_ids.SPREADSHEET_HINT)
        return found


class InitiativeFile(_Strict):
    initiative: InitiativeSection
    goals: list[GoalSection] = []
    organizations: list[OrganizationSection] = Field(min_length=1)
    indicators: list[IndicatorSection] = []
    channels: ChannelsSection = ChannelsSection()
    schedule: ScheduleSection = ScheduleSection()
    reporting: ReportingSection = ReportingSection()
    holidays: list[date] = Field(default=[], description="days no reminder goes out; it moves to the next working day")
    notion: NotionSection | None = None
    sheets: SheetsSection | None = None


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _cross_check(data: InitiativeFile) -> list[str]:
    """What pydantic cannot see field by field: references between sections."""
    problems: list[str] = []

    def unique(items: list[str], where: str) -> None:
        seen: set[str] = set()
        for i, key in enumerate(items):
            if key in seen:
                problems.append(f"{where}[{i}].key: `{key}` is used twice; keys must be unique")
            seen.add(key)

    unique([g.key for g in data.goals], "goals")
    unique([o.key for o in data.organizations], "organizations")
    unique([i.key for i in data.indicators], "indicators")
    orgs = {o.key for o in data.organizations}
    goals = {g.key: g for g in data.goals}
    if data.initiative.backbone not in orgs:
        problems.append(
            f"initiative.backbone: `{data.initiative.backbone}` is not an organization key "
            f"(known: {', '.join(sorted(orgs))})"
        )
    for i, team in enumerate(data.initiative.partner_workspaces):
        if team == data.initiative.team_id:
            problems.append(
                f"initiative.partner_workspaces[{i}]: `{team}` is the initiative's own workspace (`team_id`); "
                "name only partners' workspaces here"
            )
    for i, org in enumerate(data.organizations):
        for j, activity in enumerate(org.activities):
            goal = goals.get(activity.goal)
            if goal is None:
                problems.append(f"organizations[{i}].activities[{j}].goal: `{activity.goal}` is not a goal key")
            elif activity.strategy is not None and not 1 <= activity.strategy <= len(goal.strategies):
                problems.append(
                    f"organizations[{i}].activities[{j}].strategy: goal {goal.key} has "
                    f"{len(goal.strategies)} strategies; give a number from 1 to {len(goal.strategies)}"
                )
    for i, ind in enumerate(data.indicators):
        if ind.goal not in goals:
            problems.append(f"indicators[{i}].goal: `{ind.goal}` is not a goal key (known: {', '.join(goals)})")
        for j, reporter in enumerate(ind.reporters):
            if reporter not in orgs:
                problems.append(f"indicators[{i}].reporters[{j}]: `{reporter}` is not an organization key")
        problems.extend(_rollup_problems(i, ind))
        problems.extend(_equity_problems(i, ind))
        frequency = Frequency(ind.frequency)
        points: dict[str, Period] = {}
        for name in ("baseline", "target"):
            point = getattr(ind, name)
            if point is None:
                continue
            try:
                points[name] = parse_period_for(frequency, point.period, ind.key)
            except PeriodError as exc:
                problems.append(f"indicators[{i}].{name}.period: {exc}")
        if "baseline" in points and "target" in points and points["target"] <= points["baseline"]:
            problems.append(f"indicators[{i}].target.period: the target must come after the baseline")
    return problems


def _rollup_problems(i: int, ind: IndicatorSection) -> list[str]:
    if ind.owner is not None and ind.rollup != Rollup.OWNER:
        return [f"indicators[{i}].owner: only `rollup: owner` takes an owner; add it, or remove `owner`"]
    if ind.owner is not None and ind.owner not in ind.reporters:
        return [f"indicators[{i}].owner: `{ind.owner}` is not one of its reporters ({', '.join(ind.reporters)})"]
    if ind.rollup == Rollup.OWNER and ind.owner is None and len(ind.reporters) > 1:
        return [f"indicators[{i}].owner: `rollup: owner` with several reporters needs `owner: <organization key>`"]
    return []


def _equity_problems(i: int, ind: IndicatorSection) -> list[str]:
    """The equity lens must be one of the indicator's breakdowns, and each group target a group of it."""
    if ind.equity_lens is not None and ind.equity_lens not in ind.breakdowns:
        split = f"its breakdowns are {', '.join(ind.breakdowns)}" if ind.breakdowns else "it has no `breakdowns`"
        return [f"indicators[{i}].equity_lens: `{ind.equity_lens}` is not one of its breakdowns ({split})"]
    lens = ind.equity_lens or (ind.breakdowns[0] if ind.breakdowns else None)
    problems = []
    for key, value in ind.group_targets.items():
        where = f"indicators[{i}].group_targets.{key}"
        dimension, _, group = key.partition("=")
        if lens is None:
            problems.append(f"{where}: group targets need `breakdowns` (and an `equity_lens`) on the indicator")
        elif dimension.strip() != lens or not group.strip():
            problems.append(f"{where}: name a group of the equity lens `{lens}`, e.g. `{lens}=75216: 10`")
        elif (ind.min is not None and value < ind.min) or (ind.max is not None and value > ind.max):
            bounds = [f"{name} {bound:g}" for name, bound in (("min", ind.min), ("max", ind.max)) if bound is not None]
            problems.append(f"{where}: {value:g} is outside the indicator's range ({', '.join(bounds)})")
    return problems


def parse_initiative(raw: Any) -> InitiativeFile:
    if not isinstance(raw, dict):
        raise InitiativeFileError(["the file must be a YAML mapping with `initiative`, `organizations`, …"])
    try:
        data = InitiativeFile.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            message = str(error["msg"]).removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "is not a known field (check its spelling)"
            elif error["type"] == "missing":
                message = "is required"
            problems.append(f"{_path(tuple(error['loc']))}: {message}")
        raise InitiativeFileError(problems) from None
    problems = _cross_check(data)
    if problems:
        raise InitiativeFileError(problems)
    return data


def load_initiative_file(path: str | Path) -> InitiativeFile:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InitiativeFileError([f"{path}: cannot be read ({exc.strerror})"]) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InitiativeFileError([f"{path}: is not valid YAML ({exc})"]) from None
    return parse_initiative(raw)
