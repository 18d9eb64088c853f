"""已清理 on the monthly prompt to clear illegal adverts (牛皮癣): the head says it is done."""

from __future__ import annotations

from handlers.events import Reply, toast
from handlers.flow import Flow
from handlers.turn import Turn
from models.advert_cleanup import record_cleanup
from models.button import Pressed
from models.problem import Problem


async def cleaned(turn: Turn, pressed: Pressed) -> list[Reply]:
    """Record the clean-up for the head's group; it counts in the secretary's weekly summary."""
    try:
        await record_cleanup(
            turn.session,
            int(pressed.data.get("group", 0)),
            turn.event.user_id,
            str(pressed.data.get("prompted", "")),
            turn.ctx.today(),
        )
    except Problem as problem:
        return [turn.toast(problem.key, **problem.params)]
    return [toast(turn.event, ""), turn.answer("advert.recorded")]


FLOW = Flow(name="adverts", buttons={"advert.cleaned": cleaned})
