"""E-mail alerts: an SMTP notification block over prefect-email's `EmailServerCredentials`."""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage

from prefect.blocks.abstract import NotificationBlock, NotificationError
from prefect_email import EmailServerCredentials
from pydantic import Field

from blocks.http_auth import DOCS_URL


class EmailNotification(NotificationBlock):
    """Tasklane alerts sent as e-mail over SMTP: prefect-email's credentials, a sender, recipients.

    prefect-email gives credentials and a task, not a notification block, and Prefect's own
    notification blocks send e-mail only through SendGrid; an automation's `SendNotification`
    needs a block with `notify`. The Prefect server runs that action, so it must be able to
    import this class: it finds it through the `prefect.collections` entry point (`blocks`),
    and `prefect block register -m blocks` registers the block type.

    Attributes:
        credentials: SMTP server, port, security (SSL, STARTTLS, INSECURE) and login.
        email_from: the sender address.
        email_to: the recipients.
        subject_prefix: put before every subject.
        timeout: seconds for the whole SMTP conversation.

    Examples:
        Save the block once as the `email` destination of `notify:` (settings `alerts.blocks`):
        ```python
        from prefect_email import EmailServerCredentials
        from blocks import EmailNotification
        EmailNotification(
            credentials=EmailServerCredentials(
                smtp_server="smtp.example.com", smtp_type="STARTTLS",
                username="scheduler@example.com", password="...",
            ),
            email_from="scheduler@example.com",
            email_to=["ops@example.com"],
        ).save("tasklane-alerts")
        ```
        Load it in code:
        ```python
        from blocks import EmailNotification
        email_notification = EmailNotification.load("BLOCK_NAME")
        email_notification.notify("disk full", subject="[tasklane] backup: failed")
        ```
        ```yaml
        - name: backup
          type: shell
          command: /usr/bin/backup.sh
          notify: {on: [failed], to: [email]}
        ```
    """

    _block_type_name = "Tasklane Email"
    _block_type_slug = "tasklane-email"
    _description = "Send Tasklane alerts as e-mail over SMTP."
    _documentation_url = DOCS_URL

    credentials: EmailServerCredentials = Field(..., description="SMTP server and login (prefect-email).")
    email_from: str = Field(..., description="The sender address.")
    email_to: list[str] = Field(..., min_length=1, description="Recipients.")
    subject_prefix: str = Field("", description="Put before every subject.")
    timeout: float = Field(30.0, gt=0, description="Seconds for the SMTP conversation.")

    def _message(self, body: str, subject: str | None) -> EmailMessage:
        message = EmailMessage()
        message["Subject"] = f"{self.subject_prefix}{subject or 'Tasklane notification'}"
        message["From"] = self.email_from
        message["To"] = ", ".join(self.email_to)
        message.set_content(body)
        return message

    def send(self, body: str, subject: str | None = None) -> None:
        """Send one message (blocking).

        Raises:
            NotificationError: the SMTP server could not be reached or refused the message,
                inside `raise_on_failure()`; otherwise the failure is logged.
        """
        try:
            server = self.credentials.get_server()
            try:
                server.timeout = self.timeout
                server.send_message(self._message(body, subject))
            finally:
                try:
                    server.quit()
                except smtplib.SMTPException:
                    pass
        except (OSError, smtplib.SMTPException) as exc:
            if self._raise_on_failure:
                raise NotificationError(log=f"SMTP to {self.credentials.smtp_server}: {exc}") from exc
            self.logger.error("e-mail alert not sent: %s", exc)

    async def notify(self, body: str, subject: str | None = None) -> None:  # type: ignore[override]
        """Send one message without blocking the event loop (what an automation's action calls)."""
        await asyncio.to_thread(self.send, body, subject)
