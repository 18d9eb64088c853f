"""/schedule: the secretary reads and changes the estate's week (rules, quiet hours, visits)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import time

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.events import Reply
from handlers.flow import Command, Flow, Where
from handlers.turn import Turn
from models.problem import Problem
from models.role import Role, live_assignments
from models.schedule_rule import (
    Cadence,
    Rule,
    RuleKind,
    Week,
    parse_clock,
    set_rule,
    set_week,
    week_of,
)

Say = Callable[..., str]
SWITCHES = {"开": True, "关": False, "on": True, "off": False}
# What secretaries type for each rule; the code names are accepted too (the command line).
RULE_WORDS: dict[str, RuleKind] = {
    "走访名单": RuleKind.VISIT_LIST,
    "走访提醒": RuleKind.VISIT_NUDGE,
    "卫生日前晚": RuleKind.CLEANING_EVE,
    "卫生日当天": RuleKind.CLEANING_DAY,
    "牛皮癣": RuleKind.ADVERT_CLEANUP,
    "缴费提醒": RuleKind.FEE_REMINDER,
    "矛调日": RuleKind.MEDIATION_DAY,
    "每周汇总": RuleKind.WEEKLY_SUMMARY,
    **{kind.value: kind for kind in RuleKind if kind is not RuleKind.DEADLINE_SCAN},
}


def describe_rule(rule: Rule, say: Say) -> str:
    """One rule as people read it: 每周一 08:00, 每月5日 10:00 (关闭)."""
    at = rule.at.strftime("%H:%M")
    if rule.cadence is Cadence.WEEKLY:
        when = say("week.when_weekly", weekday=say(f"week.weekday_{rule.weekday}"), time=at)
    elif rule.cadence is Cadence.MONTHLY:
        when = say("week.when_monthly", day=rule.day, time=at)
    elif rule.cadence is Cadence.FIRST_WEEKDAY:
        when = say("week.when_first", weekday=say(f"week.weekday_{rule.weekday}"), time=at)
    else:
        when = say("week.when_every_minute")
    state = "" if rule.enabled else say("week.rule_off")
    return say("week.rule_line", rule=say(f"week.rule_{rule.kind.value}"), when=when, off=state)


def describe_week(week: Week, say: Say) -> str:
    lines = [describe_rule(rule, say) for rule in week.rules.values()]
    return say(
        "week.schedule",
        rules="\n".join(lines),
        quiet_from=week.quiet_from.strftime("%H:%M"),
        quiet_until=week.quiet_until.strftime("%H:%M"),
        visits=week.visits_per_week,
    )


async def apply_words(session: AsyncSession, estate_id: int, words: list[str], actor: str) -> None:
    """Apply `<rule> <weekday 1-7 or day> <HH:MM> [开|关]`, `quiet HH:MM HH:MM` or `visits N`."""
    if not words:
        raise Problem("week.schedule_usage")
    head, rest = words[0].lower(), words[1:]
    if head in ("quiet", "免打扰") and len(rest) == 2:
        await set_week(
            session,
            estate_id,
            actor,
            quiet_from=parse_clock(rest[0]),
            quiet_until=parse_clock(rest[1]),
        )
        return
    if head in ("visits", "走访") and len(rest) == 1 and rest[0].isdigit():
        await set_week(session, estate_id, actor, visits_per_week=int(rest[0]))
        return
    kind = RULE_WORDS.get(head)
    if kind is None:
        raise Problem("week.schedule_usage")
    enabled: bool | None = None
    at: time | None = None
    number: int | None = None
    for word in rest:
        if word.lower() in SWITCHES:
            enabled = SWITCHES[word.lower()]
        elif ":" in word:
            at = parse_clock(word)
        elif word.isdigit():
            number = int(word)
        else:
            raise Problem("week.schedule_usage")
    rule = (await week_of(session, estate_id)).rules[kind]
    weekday = day = None
    if number is not None:
        if rule.cadence is Cadence.MONTHLY:
            day = number
        else:
            weekday = number - 1  # people count Monday as 1
    await set_rule(
        session, estate_id, kind, actor, at=at, weekday=weekday, day=day, enabled=enabled
    )


async def schedule(turn: Turn) -> list[Reply]:
    """Show the estate's week, or change one rule: /schedule visit_list 1 08:30."""
    held = await live_assignments(
        turn.session, user_id=turn.event.user_id, role=Role.SECRETARY, on=turn.ctx.today()
    )
    estates = [a.scope_id for a in held if a.role == Role.SECRETARY.value]
    if not estates:
        return [turn.answer("week.not_secretary")]
    estate_id = estates[0]
    words = turn.event.args.split()
    if words:
        try:
            await apply_words(turn.session, estate_id, words, f"user:{turn.event.user_id}")
            # The batch does not flush on its own: the week read below must see the change.
            await turn.session.flush()
        except Problem as problem:
            return [turn.answer(problem.key, **problem.params)]
    week = await week_of(turn.session, estate_id)
    return [turn.answer_text(describe_week(week, turn.say))]


FLOW = Flow(
    name="schedule",
    commands=(
        Command(
            "schedule", schedule, roles=frozenset({Role.SECRETARY}), where=Where.PRIVATE, rank=65
        ),
    ),
)
