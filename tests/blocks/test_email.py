"""The e-mail notification block: Prefect's standard block checks, registration, no password shown.

Sending over SMTP (a local aiosmtpd server), directly and from an applied `notify:`, is tested in
tests/deployments/test_alerts.py.
"""

from __future__ import annotations

import pytest
from prefect.blocks.notifications import NotificationBlock
from prefect_email import EmailServerCredentials

from blocks import EmailNotification
from tests.blocks.conftest import standard_checks

SECRET = "smtp-pw-0123456789"


TestStandardChecks = standard_checks(EmailNotification)


def test_registered_from_blocks_as_a_notification_block() -> None:
    import blocks
    from deployments.automations.alerts import EmailNotification as from_alerts

    assert "EmailNotification" in blocks.__all__ and from_alerts is EmailNotification
    assert issubclass(EmailNotification, NotificationBlock)
    assert EmailNotification.get_block_type_slug() == "tasklane-email"


def test_password_never_shown_and_unreachable_server_is_reported() -> None:
    from prefect.blocks.abstract import NotificationError

    from tasklane.stack.peers._server import free_port

    block = EmailNotification(
        credentials=EmailServerCredentials(
            smtp_server="127.0.0.1", smtp_type="INSECURE", smtp_port=free_port(), password=SECRET
        ),
        email_from="scheduler@example.com",
        email_to=["ops@example.com"],
        timeout=2,
    )
    assert SECRET not in repr(block) and SECRET not in block.model_dump_json()
    block.send("nobody listens")  # logged, not raised: an automation's other actions still run
    with block.raise_on_failure(), pytest.raises(NotificationError) as caught:
        block.send("nobody listens")
    assert caught.value.log.startswith("SMTP to 127.0.0.1: ")
