"""Who may end a channel's webhook or snooze: the person who made it, or an admin or
owner of the workspace, as Slack's ``users.info`` says with the workspace's bot token.

Anyone in a channel can type a command, guests included, and a disconnected webhook
silently drops ThousandEyes' alerts; so ending what someone else set up needs a rank
Slack vouches for. When Slack cannot say (no ``users:read`` scope, Slack unreachable,
the workspace not installed), the answer is no.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass

from bot.slack.command_input import CommandInput
from bot.slack.errors import SlackDeliveryError
from bot.slack.workspaces import GatewayProvider

log = logging.getLogger(__name__)


class Permission(str, enum.Enum):
    CREATOR = "creator"
    ADMIN = "admin"
    REFUSED = "refused"
    UNVERIFIED = "unverified"  # Slack could not say whether the caller is an admin


@dataclass(frozen=True)
class Decision:
    permission: Permission
    # Slack's error code when it could not say (``missing_scope``: the install predates
    # the users:read scope).
    slack_error: str = ""

    @property
    def allowed(self) -> bool:
        return self.permission in (Permission.CREATOR, Permission.ADMIN)


class ManagePermissions:
    """Decides whether the caller of a command may end what ``created_by`` made."""

    def __init__(self, gateways: GatewayProvider) -> None:
        self._gateways = gateways

    def may_end(self, created_by: str, given: CommandInput) -> Decision:
        # An empty creator (none recorded) matches nobody: admins and owners only.
        if created_by and given.user_id == created_by:
            return Decision(Permission.CREATOR)
        if not given.user_id:
            return Decision(Permission.REFUSED)
        try:
            user = self._gateways.for_team(given.team_id).user_info(given.user_id)
        except SlackDeliveryError as error:
            log.warning("cannot tell whether %s administers workspace %s (%s): refused",
                        given.user_id, given.team_id, error.code)
            return Decision(Permission.UNVERIFIED, error.code)
        # A member of another organisation in a shared channel is not this workspace's admin.
        foreign = user.team_id is not None and given.team_id is not None \
            and user.team_id != given.team_id
        if user.administers and not foreign:
            return Decision(Permission.ADMIN)
        return Decision(Permission.REFUSED)
