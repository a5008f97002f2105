"""User management (ADMIN only)."""

from __future__ import annotations

from litestar import Controller, delete, get, post, put
from litestar.datastructures import CacheControlHeader
from litestar.di import NamedDependency
from litestar.params import JSONBody

from api.auth import AUTH_DEPENDENCIES, admin_api_enabled, requires
from api.auth_schemas import UserIn, UserOut, UserReplaceIn, user_out
from api.params import UserId
from api.spec import documented
from cms.accounts import Accounts, NewUser, Role, UserChanges


class UserController(Controller):
    path = "/users"
    tags = ["users"]
    guards = [admin_api_enabled, requires(Role.ADMIN)]
    dependencies = AUTH_DEPENDENCIES
    cache_control = CacheControlHeader(no_store=True)

    @get("/")
    async def list_users(self, auth: NamedDependency[Accounts]) -> list[UserOut]:
        """Every user, oldest first."""
        return [user_out(user) for user in auth.users.list()]

    @post("/", sync_to_thread=True, opt=documented(409))
    def create_user(self, auth: NamedDependency[Accounts], data: JSONBody[UserIn]) -> UserOut:
        """Create a user. Usernames are 3 to 50 of a-z, 0-9, `.`, `_`, `-`; passwords at least 8 characters;
        a taken username or email gets 409."""
        new = NewUser(username=data.username, email=data.email, password=data.password, role=data.role,
                      full_name=data.full_name)
        return user_out(auth.users.create(new))

    @get("/{user_id:int}", opt=documented(404))
    async def get_user(self, auth: NamedDependency[Accounts], user_id: UserId) -> UserOut:
        """One user."""
        return user_out(auth.users.get(user_id))

    @put("/{user_id:int}", sync_to_thread=True, opt=documented(404, 409))
    def replace_user(self, auth: NamedDependency[Accounts], user_id: UserId,
                     data: JSONBody[UserReplaceIn]) -> UserOut:
        """Replace a user. A new role or password, or deactivation, ends the user's sessions; the last
        active ADMIN cannot be demoted or deactivated (409)."""
        changes = UserChanges(username=data.username, email=data.email, full_name=data.full_name, role=data.role,
                              is_active=data.is_active, password=data.password)
        return user_out(auth.users.replace(user_id, changes))

    @delete("/{user_id:int}", sync_to_thread=False, opt=documented(404, 409))
    def delete_user(self, auth: NamedDependency[Accounts], user_id: UserId) -> None:
        """Delete a user and their refresh tokens; the last active ADMIN cannot be deleted (409)."""
        auth.users.delete(user_id)
