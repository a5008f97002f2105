"""The AI step: Gemini drafts a lesson, and the draft waits on its own branch for a person.

    target   what is asked for, and where the lesson goes (decided from HEAD)
    prompt   the prompt, scoped by what the index knows about the course
    client   the Gemini seam (`Generate`, `Gemini`, `gemini()`), with one retry policy
    answer   the answer → the lesson file: unwrapped, long enough, with provenance
    drafts   the flow end to end: one commit on `drafts/<course>/<lesson>` (`draft`)
    handoff  where a person reviews it: its preview link, and with a forge its pull request (`hand_off`)
"""

from cms.ai.answer import MIN_WORDS, clean_answer, lesson_text, usable_body
from cms.ai.client import Gemini, Generate, RetryPolicy, answer_text, gemini
from cms.ai.drafts import Draft, draft, draft_as_git_user
from cms.ai.handoff import check_forge, hand_off
from cms.ai.prompt import build_prompt
from cms.ai.target import DraftRequest, slug_from_title

__all__ = ["MIN_WORDS", "Draft", "DraftRequest", "Gemini", "Generate", "RetryPolicy", "answer_text", "build_prompt",
           "check_forge", "clean_answer", "draft", "draft_as_git_user", "gemini", "hand_off", "lesson_text",
           "slug_from_title", "usable_body"]
