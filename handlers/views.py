"""Modal submissions: the edited output, the rejection reason and note, or why a
spot-checked auto-approval was wrong.

The decision is made before acknowledging: a refusal is shown inside the modal, which
Slack only allows in the acknowledgement itself."""

import logging
import re
from typing import Any

from slack_bolt import Ack, App
from sqlalchemy.exc import SQLAlchemyError

from handlers import blocks, decisions, structured_modal
from handlers.deps import HandlerDeps
from handlers.payloads import Submission, submission_in
from storage import reviews
from storage.models import ReviewItem
from storage.reviews import Outcome
from structured import field_changes

log = logging.getLogger(__name__)

DID_NOT_TAKE = (
    "This did not take: hitl could not reach its database. Nothing was changed; "
    "please submit again in a moment."
)


def register(app: App, deps: HandlerDeps) -> None:
    @app.view(blocks.EDIT_CALLBACK)
    def submit_edit(ack: Ack, context: dict[str, Any]) -> None:
        submission = submission_in(context)
        text, first_block = submission.edited_output()
        try:  # a structured item's modal is read back by its fields (issue 11)
            item = reviews.get_item(deps.db, submission.item_id)
        except SQLAlchemyError as error:
            _ack_result(ack, _did_not_take(submission, error), first_block)
            return
        if item is not None and isinstance(item.output, dict):
            _submit_structured_edit(ack, deps, submission, item)
            return
        if not text.strip():
            ack(response_action="errors", errors={first_block: "The output cannot be empty."})
            return
        try:
            problem = _approve_edit(deps, submission, text)
        except SQLAlchemyError as error:
            problem = _did_not_take(submission, error)
        _ack_result(ack, problem, first_block)

    @app.view(blocks.REJECT_CALLBACK)
    def submit_reject(ack: Ack, context: dict[str, Any]) -> None:
        submission = submission_in(context)
        try:
            problem = _reject(deps, submission)
        except SQLAlchemyError as error:
            problem = _did_not_take(submission, error)
        _ack_result(ack, problem, blocks.REASON_BLOCK)

    @app.view(blocks.SPOT_WRONG_CALLBACK)
    def submit_spot_wrong(ack: Ack, context: dict[str, Any]) -> None:
        submission = submission_in(context)
        if submission.reject_reason() is None:  # the modal's reason is required
            _ack_result(ack, decisions.UNKNOWN_REASON, blocks.REASON_BLOCK)
            return
        try:
            problem = decisions.spot_check(
                deps,
                submission.item_id,
                submission.user_id,
                "wrong",
                submission.reject_reason(),
                submission.reject_note(),
            )
        except SQLAlchemyError as error:
            problem = _did_not_take(submission, error)
        _ack_result(ack, problem, blocks.REASON_BLOCK)


def _submit_structured_edit(
    ack: Ack, deps: HandlerDeps, submission: Submission, item: ReviewItem
) -> None:
    """Each field's problem is shown on its input and nothing is decided; an edit that
    changes nothing is an approval (of the output, or of the proposal waiting)."""
    if any(key.startswith(blocks.OUTPUT_BLOCK_PREFIX) for key in submission.values):
        text, first_block = submission.edited_output()  # the JSON modal of a large item
        edited, problem = structured_modal.edited_json(item, text)
        errors = {first_block: problem} if problem else {}
    else:
        edited, errors = structured_modal.edited_fields(item, submission.values)
        first_block = next(iter(errors), f"{structured_modal.FIELD_BLOCK_PREFIX}0")
    if edited is None:
        ack(response_action="errors", errors={k: _plain(v)[:2000] for k, v in errors.items()})
        return
    unchanged = not field_changes(structured_modal.current_values(item), edited)
    try:
        problem = _approve_edit(deps, submission, None if unchanged else edited)
    except SQLAlchemyError as error:
        problem = _did_not_take(submission, error)
    _ack_result(ack, problem, first_block)


def _approve_edit(
    deps: HandlerDeps, submission: Submission, text: str | dict[str, Any] | None
) -> str | None:
    result = decisions.approve(deps, submission.item_id, submission.user_id, edited_output=text)
    if result.outcome == Outcome.APPROVAL_RECORDED:
        return None  # the edit stands as a proposal; the message shows it
    return decisions.outcome_message(result, submission.user_id)


def _reject(deps: HandlerDeps, submission: Submission) -> str | None:
    result = decisions.reject(
        deps,
        submission.item_id,
        submission.user_id,
        submission.reject_reason(),
        submission.reject_note(),
    )
    if isinstance(result, str):
        return result
    return decisions.outcome_message(result, submission.user_id)


def _did_not_take(submission: Submission, error: SQLAlchemyError) -> str:
    log.warning(
        "modal %s by %s did not take: database error %s",
        submission.callback_id,
        submission.user_id,
        type(error).__name__,
        extra={"item_id": submission.item_id},
    )
    return DID_NOT_TAKE


def _ack_result(ack: Ack, problem: str | None, block_id: str) -> None:
    if problem is None:
        ack()
    else:
        ack(response_action="errors", errors={block_id: _plain(problem)})


def _plain(text: str) -> str:
    """Modal errors are plain text: strip the mrkdwn mention and date markup."""
    text = re.sub(r"<!date\^\d+\^[^|]*\|([^>]*)>", r"\1", text)
    return re.sub(r"<@(\w+)>", r"@\1", text).replace("*", "")
