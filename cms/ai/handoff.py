"""After the draft: where a person reviews it. Its preview link, and with a forge its pull request.

    Draft (committed, maybe pushed) → hand_off(settings, draft, brief, public_url)
        → preview link of the lesson's page on the draft's branch (when the server's address is known)
        → pull request (merge request) from the branch into the branch it was drafted from, titled after
          the lesson, describing the provenance, the preview and the brief (CMS_FORGE_URL, CMS_FORGE_TOKEN,
          and only once the branch is pushed)

A forge that refuses or fails raises `ForgeError` (502, the forge's own words, never the token): the branch
stays where it was pushed, so the pull request can be opened by hand or by drafting nothing new.
"""

from __future__ import annotations

import msgspec

from cms.ai import pull_request
from cms.ai.drafts import Draft
from cms.repo import GitRepo
from cms.repo.forge import from_settings, open_pull_request
from cms.review import links, pages
from cms.settings import Settings

LINK_SECONDS = links.MAX_SECONDS
"""A draft's preview link lasts as long as any may (7 days): reviews take a while."""


def check_forge(settings: Settings) -> None:
    """A ConfigError naming the setting when CMS_FORGE_* is half set or invalid: checked at start-up and
    before a draft is asked for, never after its branch is pushed."""
    from_settings(settings)


def hand_off(settings: Settings, done: Draft, brief: str | None, public_url: str | None) -> Draft:
    """`done` with its preview link (None without CMS_SECRET_KEY or a public address) and its pull request's
    address (None without a forge, or when the branch was not pushed)."""
    done = msgspec.structs.replace(done, preview_url=preview_url(settings, done, public_url))
    forge = from_settings(settings)
    if forge is None or not done.pushed:
        return done
    review = pull_request.DraftReview(course=done.course, lesson=done.lesson, title=done.title, path=done.path,
                                      branch=done.branch, model=done.model, prompt_sha256=done.prompt_sha256,
                                      brief=brief, preview_url=done.preview_url)
    opened = open_pull_request(forge, head=done.branch, base=_base_branch(settings),
                               title=pull_request.title(review), body=pull_request.body(review))
    return msgspec.structs.replace(done, pull_request_url=opened.url)


def preview_url(settings: Settings, done: Draft, public_url: str | None) -> str | None:
    """The signed address of the drafted lesson's preview page on its branch, for LINK_SECONDS."""
    if settings.secret_key is None or public_url is None:
        return None
    path = f"/courses/{done.course}/lessons/{done.lesson}"
    return pages.make_link(settings.secret_key, public_url, done.branch, done.commit, path, LINK_SECONDS).url


def _base_branch(settings: Settings) -> str:
    """Where the pull request goes: the branch the checkout tracks on the remote, else the checked-out one."""
    repo = GitRepo.open(settings.content_dir)
    tracking = repo.tracking()
    return tracking[1] if tracking is not None else repo.branch() or "main"
