"""The AI step: Gemini drafts a lesson, and the draft waits on its own branch for a person."""

from cms.ai.drafts import (
    MIN_WORDS,
    Draft,
    DraftRequest,
    Gemini,
    Generate,
    RetryPolicy,
    answer_text,
    build_prompt,
    clean_answer,
    draft,
    gemini,
    lesson_text,
    slug_from_title,
    usable_body,
)

__all__ = ["MIN_WORDS", "Draft", "DraftRequest", "Gemini", "Generate", "RetryPolicy", "answer_text", "build_prompt",
           "clean_answer", "draft", "gemini", "lesson_text", "slug_from_title", "usable_body"]
