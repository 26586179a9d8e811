"""REST: application commands. Bulk overwrites (global and per guild) are validated like
Discord validates them (names, descriptions, option counts and order, choices) and stored
with ids that survive a re-sync of the same command."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from .payloads import snowflake
from .recorder import RecordedRequest
from .state import ApiError, FakeState, form_error


class CommandRoutes(FakeState):
    """The handlers of ``GET``/``PUT /applications/{app}[/guilds/{guild}]/commands``."""

    async def _get_commands(self, _r: web.Request, _rec: RecordedRequest, p: dict[str, str]) -> Any:
        if p["app_id"] != self.app_id:
            raise ApiError(403, "Missing Access", 50001)
        if "guild_id" in p:
            return 200, self.guild_commands.get(p["guild_id"], [])
        return 200, self.global_commands

    async def _put_commands(self, _r: web.Request, rec: RecordedRequest, p: dict[str, str]) -> Any:
        if p["app_id"] != self.app_id:
            raise ApiError(403, "Missing Access", 50001)
        body = rec.body
        if not isinstance(body, list):
            raise ApiError(400, "400: Bad Request", 50109)
        guild_id = p.get("guild_id")
        if guild_id is not None and guild_id not in self.guilds:
            raise ApiError(404, "Unknown Guild", 10004)
        errors = validate_commands(body)
        if errors:
            raise form_error(errors)
        old = self.guild_commands.get(guild_id, []) if guild_id else self.global_commands
        old_ids = {(c["name"], c.get("type", 1)): c["id"] for c in old}
        out = []
        for cmd in body:
            ctype = cmd.get("type", 1)
            full = {
                "id": old_ids.get((cmd["name"], ctype)) or snowflake(),
                "application_id": self.app_id,
                "version": snowflake(),
                "type": ctype,
                "name": cmd["name"],
                "description": cmd.get("description", ""),
                "options": cmd.get("options", []),
                "default_member_permissions": cmd.get("default_member_permissions"),
                "dm_permission": cmd.get("dm_permission", True),
                "nsfw": cmd.get("nsfw", False),
                "integration_types": cmd.get("integration_types", [0]),
                "contexts": cmd.get("contexts"),
                "name_localizations": cmd.get("name_localizations"),
                "description_localizations": cmd.get("description_localizations"),
            }
            if guild_id is not None:
                full["guild_id"] = guild_id
            out.append(full)
        if guild_id is not None:
            self.guild_commands[guild_id] = out
        else:
            self.global_commands = out
        return 200, out


_NAME_RE = re.compile(r"^[-_\w]{1,32}$")


def validate_commands(cmds: list[dict[str, Any]]) -> list[tuple[list[str], dict[str, str]]]:
    """The checks Discord applies to a bulk overwrite (subset): names, descriptions, option
    counts and order, choices."""
    errors: list[tuple[list[str], dict[str, str]]] = []

    def err(path: list[str], code: str, message: str) -> None:
        errors.append((path, {"code": code, "message": message}))

    if len(cmds) > 100:
        err([], "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.")
    seen: set[tuple[str, int]] = set()
    for i, cmd in enumerate(cmds):
        base = [str(i)]
        name = cmd.get("name", "")
        ctype = cmd.get("type", 1)
        if (name, ctype) in seen:
            err([*base, "name"], "APPLICATION_COMMANDS_DUPLICATE_NAME", "duplicate name")
        seen.add((name, ctype))
        if ctype == 1:
            if not _NAME_RE.match(name) or name != name.lower():
                err([*base, "name"], "APPLICATION_COMMAND_INVALID_NAME", f"bad name {name!r}")
            desc = cmd.get("description", "")
            if not 1 <= len(desc) <= 100:
                err([*base, "description"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100.")
        errors += _validate_options(cmd.get("options") or [], [*base, "options"])
    return errors


def _validate_options(
    options: list[dict[str, Any]], path: list[str]
) -> list[tuple[list[str], dict[str, str]]]:
    errors: list[tuple[list[str], dict[str, str]]] = []
    if len(options) > 25:
        errors.append((path, {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 25 or fewer."}))
    optional_seen = False
    for j, opt in enumerate(options):
        p = [*path, str(j)]
        name = opt.get("name", "")
        if not _NAME_RE.match(name) or name != name.lower():
            errors.append(
                ([*p, "name"], {"code": "APPLICATION_COMMAND_INVALID_NAME", "message": name})
            )
        desc = opt.get("description", "")
        if not 1 <= len(desc) <= 100:
            errors.append(
                ([*p, "description"], {"code": "BASE_TYPE_BAD_LENGTH", "message": "1-100"})
            )
        if opt.get("type") in (1, 2):
            errors += _validate_options(opt.get("options") or [], [*p, "options"])
            continue
        if opt.get("required"):
            if optional_seen:
                errors.append(
                    (
                        [*p, "required"],
                        {
                            "code": "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                            "message": "Required options must be placed before non-required "
                            "options",
                        },
                    )
                )
        else:
            optional_seen = True
        choices = opt.get("choices") or []
        if len(choices) > 25:
            errors.append(([*p, "choices"], {"code": "BASE_TYPE_MAX_LENGTH", "message": "max 25"}))
        if choices and opt.get("autocomplete"):
            errors.append(
                (
                    [*p, "autocomplete"],
                    {"code": "AUTOCOMPLETE_AND_CHOICES", "message": "not both"},
                )
            )
    return errors
