"""Who may use the admin API, kept in the state database (never in the content or the index).

    state      the state database (SQLite or Postgres) and its migrations; writes serialized across servers
    users      users, roles and passwords (argon2id)
    tokens     access tokens: short-lived JWTs
    sessions   logins, refresh-token rotation, logouts, counted password guesses
    quotas     per-user daily allowances (AI drafts)
    setup      all of it opened from settings for the admin API (`Accounts`)
"""

from cms.accounts.quotas import DailyQuota
from cms.accounts.sessions import Session, Sessions
from cms.accounts.setup import Accounts
from cms.accounts.state import StateDB, state_location
from cms.accounts.tokens import Claims, TokenSigner
from cms.accounts.users import STAFF, NewUser, Role, User, UserChanges, UserStore, check_admin_settings

__all__ = ["STAFF", "Accounts", "Claims", "DailyQuota", "NewUser", "Role", "Session", "Sessions", "StateDB",
           "TokenSigner", "User", "UserChanges", "UserStore", "check_admin_settings", "state_location"]
